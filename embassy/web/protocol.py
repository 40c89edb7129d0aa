"""The connection layer under the site: timeouts, and the answer to requests that cannot be parsed.

aiohttp's own HTTP handling is kept; this module changes five things about it, on every
connection of the server that :func:`site_runner` builds:

- **Header timeout.** A request's headers must be complete within ``header_timeout`` seconds of
  the connection opening, or of the first byte of that request on a kept-alive connection; a client
  that trickles its headers (slowloris) or opens a connection and sends nothing is closed then.
  aiohttp has no such limit of its own.
- **Body timeout.** A request still being handled while its body has not all arrived by
  ``body_timeout`` seconds after its header deadline is cut off, whatever the handler (form
  readers answer 400 sooner, see :func:`embassy.web.params.read_form`).
- **Keep-alive timeout.** A connection idle between requests is closed after ``keepalive_timeout``
  seconds (aiohttp's default is an hour). Keep it above the front proxy's upstream keep-alive
  (nginx: 60 s), so that nginx, not the site, closes idle upstream connections.
- **Requests the parser rejects** (a bad request line, oversized or invalid headers, bad chunked
  encoding) get a neutral plain-text 400 with the site's security headers and ``Server: embassy``,
  instead of aiohttp's body that echoes the offending bytes and names the framework and Python.
  They are logged as one line with the kind of error only: never the client's address, never the
  request line or the bytes that broke it.
- **Every response carries the site's security headers** and ``Server: embassy``, also those that
  never pass through the site's middleware (aiohttp's own answer to an unknown ``Expect``, the
  parser errors above): the one place every response passes is checked, at the cost of one
  header look-up. An ``Expect`` other than ``100-continue`` gets a neutral 417 (aiohttp's own
  echoes the header, or fails with a 500 on bytes that are not ASCII).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import hdrs, web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from embassy.config import ServerConfig
from embassy.web.cache import SECURITY_HEADERS

log = logging.getLogger("embassy.web")

NEUTRAL = {400: "400 Bad Request: the request could not be read.\n"}
GENERIC = "The server could not answer this request.\n"
EXPECTATION_FAILED = "417 Expectation Failed: only Expect: 100-continue is understood.\n"


class SiteRequestHandler(RequestHandler):
    """One connection. ``_header_deadline`` is set by the first bytes after the connection opens
    or a response is finished, and cleared when the next response is finished. When it passes
    while aiohttp still waits for a complete request (its ``_waiter``), the headers are late and
    the connection is closed; a request being handled is the handler's business. One timer per
    connection checks it, re-armed lazily, so a request costs a clock read, not a timer."""

    __slots__ = ("_body_timeout", "_header_deadline", "_header_timeout", "_header_timer", "_slow_body")

    def __init__(self, manager: web.Server, *, header_timeout: float, body_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._body_timeout = body_timeout
        self._header_deadline: float | None = None
        self._header_timer: asyncio.TimerHandle | None = None
        self._slow_body: BaseRequest | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._expect_headers()

    def data_received(self, data: bytes) -> None:
        if self._header_deadline is None:  # the first bytes since the last response: a request begins
            self._expect_headers()
        super().data_received(data)

    def finish_response(  # type: ignore[override]  # returns aiohttp's coroutine: no extra frame per request
        self, request: BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> Awaitable[tuple[web.StreamResponse, bool]]:
        # Bytes that arrived while the request was handled (its body) started no request.
        self._header_deadline = None
        self._slow_body = None
        headers = resp.headers
        if hdrs.SERVER not in headers and not resp.prepared:  # it bypassed the site's middleware
            for name, value in SECURITY_HEADERS.items():
                headers.setdefault(name, value)
        return super().finish_response(request, resp, start_time)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def _expect_headers(self) -> None:
        self._header_deadline = self._loop.time() + self._header_timeout
        if self._header_timer is None:
            self._header_timer = self._loop.call_at(self._header_deadline, self._check_headers)

    def _check_headers(self) -> None:
        self._header_timer = None
        deadline = self._header_deadline
        if deadline is None or self.transport is None:
            return
        if self._loop.time() < deadline:  # re-armed since: look again then
            self._header_timer = self._loop.call_at(deadline, self._check_headers)
            return
        if self._waiter is not None and not self._waiter.done():  # idle, waiting for a whole request
            log.info("closed a connection whose request headers did not arrive within %g s", self._header_timeout)
            self.force_close()
            return
        request = self._current_request
        if request is None or request.content.is_eof():  # being handled, its body all in: not ours to judge
            self._header_deadline = None
        elif self._slow_body is request:  # its body is still trickling in, body_timeout later
            log.info("closed a connection whose request body did not arrive within %g s", self._body_timeout)
            self.force_close()
        else:  # the body may take body_timeout more
            self._slow_body = request
            self._header_deadline = deadline + self._body_timeout
            self._header_timer = self._loop.call_at(self._header_deadline, self._check_headers)

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        """The answer to a request aiohttp could not parse (or whose handler failed outside the
        site's middleware): neutral text, the site's headers, the connection closed."""
        if isinstance(exc, ConnectionError):  # the client went away, or was cut off above
            log.info("a connection closed while its request was handled")
        elif status >= 500:
            log.error("a request failed outside the site's middleware: %s", type(exc).__name__ if exc else status)
        else:
            log.info("refused a request the HTTP parser could not read: %s", type(exc).__name__ if exc else status)
        if request.writer.output_size > 0:
            raise ConnectionError("the response was already started; cannot send another")
        resp = web.Response(
            status=status,
            text=NEUTRAL.get(status, GENERIC),
            content_type="text/plain",
            headers={"Cache-Control": "no-store"},  # and the security headers, in finish_response
        )
        resp.force_close()
        return resp

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """aiohttp's own error lines, without their arguments or traceback: those may carry the
        client's address or bytes of its request."""
        exc = kw.get("exc_info")
        kind = type(exc).__name__ if isinstance(exc, BaseException) else "error"
        text = args[0] if args and isinstance(args[0], str) else "connection error"
        log.warning("%s (%s)", text.replace(" from %s", ""), kind)


def _understood_expectations(handle: Callable[[BaseRequest], Awaitable[web.StreamResponse]]) -> Any:
    """aiohttp answers an unknown ``Expect`` before any middleware runs, with a body that quotes
    the header (and a 500 when it is not ASCII); answer it here instead. A plain function that
    returns the app's coroutine, so the hot path gains one header look-up, not a coroutine."""

    def handler(request: BaseRequest) -> Awaitable[web.StreamResponse]:
        expect = request.headers.get(hdrs.EXPECT)
        if expect is not None and expect.strip().lower() != "100-continue":
            return _expectation_failed()
        return handle(request)

    return handler


async def _expectation_failed() -> web.StreamResponse:
    return web.Response(status=417, text=EXPECTATION_FAILED, headers={"Cache-Control": "no-store"})


class SiteServer(web.Server):
    """aiohttp's low-level server making :class:`SiteRequestHandler` connections."""

    def __init__(self, base: web.Server, server: ServerConfig) -> None:
        super().__init__(
            _understood_expectations(base.request_handler),
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            **base._kwargs,
        )
        self.limits = server

    def __call__(self) -> RequestHandler:
        limits = self.limits
        return SiteRequestHandler(
            self,
            loop=self._loop,
            header_timeout=limits.header_timeout,
            body_timeout=limits.body_timeout,
            **self._kwargs,
        )


class SiteRunner(web.AppRunner):
    """An AppRunner whose server is a :class:`SiteServer`."""

    def __init__(self, app: web.Application, server: ServerConfig, **kwargs: Any) -> None:
        super().__init__(app, keepalive_timeout=server.keepalive_timeout, **kwargs)
        self.limits = server

    async def _make_server(self) -> web.Server:
        return SiteServer(await super()._make_server(), self.limits)


def site_runner(app: web.Application, server: ServerConfig) -> web.AppRunner:
    """The runner every server of the site uses: no access log (no addresses kept), the limits of ``[server]``."""
    return SiteRunner(app, server, access_log=None, handle_signals=False)
