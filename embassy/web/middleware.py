"""Middleware factories: the one layer every response passes through.

Kept to a single middleware on purpose: each layer costs a coroutine per request on the hot path
(see `make bench-site`). It maps HTTP errors (and any unexpected exception) to pages in the
visitor's language or JSON for the API (a malformed query or form, :class:`InputError`, is a 400
or 415, never a 500), adds the security headers, and counts the response.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestPayloadError
from multidict import CIMultiDict

from embassy.web.cache import SECURITY_HEADERS, CachedWebResponse
from embassy.web.params import InputError
from embassy.web.site import SITE, Site
from embassy.web.views.public import error_page

log = logging.getLogger("embassy.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HSTS = "max-age=63072000; includeSubDomains"
INPUT_ERRORS: dict[int, type[web.HTTPException]] = {400: web.HTTPBadRequest, 415: web.HTTPUnsupportedMediaType}


def frame_middleware() -> Middleware:
    headers_items = tuple(SECURITY_HEADERS.items())

    @web.middleware
    async def frame(request: web.Request, handler: Handler) -> web.StreamResponse:
        site = request.app[SITE]
        try:
            response = await handler(request)
        except web.HTTPException as e:
            response = _error_response(site, request, e)
        except InputError as e:  # a malformed query or form: the client's mistake, never a 500
            response = _error_response(site, request, INPUT_ERRORS[e.status]())
        except RequestPayloadError:  # a body aiohttp could not de-chunk or decompress
            response = _error_response(site, request, web.HTTPBadRequest())
        except asyncio.CancelledError:
            raise
        except Exception:
            if request.transport is None:  # the client is gone (or was cut off): nobody to answer
                raise
            log.exception("unexpected error answering %s %s", request.method, request.path)
            response = _error_response(site, request, web.HTTPInternalServerError())
        if response.__class__ is not CachedWebResponse:  # cached ones carry them already
            h = response.headers
            for name, value in headers_items:
                if name not in h:  # a sub-application may set its own (the staff area's CSP)
                    h[name] = value
        if site.resolver.scheme(request) == "https":
            response.headers["Strict-Transport-Security"] = HSTS
        route = request.match_info.route.name or "unmatched"
        site.metrics.requests[(route, response.status)] += 1
        return response

    return frame


def _error_response(site: Site, request: web.Request, e: web.HTTPException) -> web.Response:
    headers = CIMultiDict(e.headers)
    for drop in ("Content-Type", "Content-Length"):
        headers.popall(drop, None)
    if e.status < 400:
        return web.Response(status=e.status, headers=headers)
    headers["Cache-Control"] = "no-store"
    if request.path.startswith("/api/"):
        return web.json_response({"error": e.reason}, status=e.status, headers=headers)
    first = request.path.split("/", 2)[1] if request.path.count("/") >= 1 else ""
    lang = first if first in site.languages else site.fallback
    body = site.error_pages.get((e.status, lang))
    if body is None:
        body = site.error_pages[(e.status, lang)] = error_page(site, lang, e.status)
    headers["Content-Type"] = "text/html; charset=utf-8"
    return web.Response(status=e.status, body=body, headers=headers)
