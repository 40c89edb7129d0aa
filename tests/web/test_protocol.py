"""The connection layer over raw sockets: requests the HTTP parser rejects, and the header,
body and keep-alive timeouts. Every wait is a read until the server closes, bounded by a timeout."""

import logging
import socket
import time
from collections.abc import Iterator

import pytest

from embassy.web.app import create_app
from web.conftest import ServerThread, SiteEnv, make_site_env, parse_raw, raw_exchange, read_until_eof
from web.test_site_http import CSP

HEADER_TIMEOUT = 0.6
KEEPALIVE_TIMEOUT = 1.8
BODY_TIMEOUT = 0.8

# Requests aiohttp's parser refuses, each with a byte string that must not come back or be logged.
MALFORMED = {
    "bad request line": (b"GARBAGE-LINE-X1\r\n\r\n", b"GARBAGE-LINE-X1"),
    "bad method token": (b"G(E)T /en/ HTTP/1.1\r\nHost: x\r\n\r\n", b"G(E)T"),
    "bad version": (b"GET /en/ HTTP/7.Q\r\nHost: x\r\n\r\n", b"HTTP/7.Q"),
    "oversized header": (b"GET /en/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"Z" * 9000 + b"\r\n\r\n", b"ZZZZZZZZ"),
    "oversized request line": (b"GET /en/?q=" + b"Q" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"QQQQQQQQ"),
    "too many headers": (
        b"GET /en/ HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n",
        b"X-H199",
    ),
    "control character in a header name": (b"GET /en/ HTTP/1.1\r\nHo\x01st-Ctl: x\r\n\r\n", b"Ho\x01st-Ctl"),
    "space before the colon": (b"GET /en/ HTTP/1.1\r\nHost : x\r\n\r\n", b"Host :"),
    "bad chunk size": (
        b"POST /en/case HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZQ9\r\ncode=1\r\n0\r\n\r\n",
        b"ZZQ9",
    ),
    "chunked and a length at once": (
        b"POST /en/case HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"Transfer-Encoding",
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_requests_the_parser_rejects_get_a_neutral_answer_and_leave_no_address(
    server: ServerThread, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    request, echo = MALFORMED[name]
    with caplog.at_level(logging.DEBUG):
        r = raw_exchange(server.port, request)
    assert r.status == 400
    assert r.body == b"400 Bad Request: the request could not be read.\n"
    assert r.header("Server") == "embassy"
    assert r.header("Content-Security-Policy") == CSP
    assert r.header("X-Content-Type-Options") == "nosniff"
    assert r.header("Referrer-Policy") == "no-referrer"
    assert r.closed
    shown = repr(r.headers).encode() + r.body
    for word in (b"aiohttp", b"Python", b"python", echo):
        assert word not in shown
    logged = "\n".join(f"{rec.name} {rec.getMessage()} {rec.exc_text or ''}" for rec in caplog.records)
    assert "refused a request the HTTP parser could not read" in logged
    assert "127.0.0.1" not in logged
    assert echo.decode("latin-1")[:8] not in logged
    assert not any(rec.exc_info for rec in caplog.records)  # no traceback, which would quote the bytes


def test_no_response_names_the_framework(server: ServerThread) -> None:
    """Every kind of answer: a page, a redirect, a 404, a 405, a 413, a protocol error."""
    requests = [
        b"GET /en/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /nowhere/at/all HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"DELETE /en/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"POST /en/case HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.0\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello on the plain port
    ]
    for request in requests:
        r = raw_exchange(server.port, request)
        assert r.header("Server") == "embassy", request
        assert b"aiohttp" not in repr(r.headers).encode() + r.body


@pytest.fixture(scope="module")
def quick_env(tmp_path_factory: pytest.TempPathFactory) -> SiteEnv:
    return make_site_env(
        tmp_path_factory.mktemp("quick"),
        languages=("en",),
        server=f"header_timeout = {HEADER_TIMEOUT}\nkeepalive_timeout = {KEEPALIVE_TIMEOUT}\nbody_timeout = {BODY_TIMEOUT}\n",
    )


@pytest.fixture(scope="module")
def quick(quick_env: SiteEnv) -> Iterator[ServerThread]:
    with ServerThread(create_app(quick_env.config, quick_env.ring.serving_keys())) as s:
        yield s


def _connect(server: ServerThread) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _assert_closed_after(sock: socket.socket, timeout: float) -> None:
    """The server closes the connection, silently, after about ``timeout`` seconds."""
    started = time.monotonic()
    data, closed = read_until_eof(sock, timeout + 5)
    elapsed = time.monotonic() - started
    assert closed and data == b""
    assert timeout * 0.8 <= elapsed < timeout + 2


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(quick: ServerThread) -> None:
    with _connect(quick) as sock:
        _assert_closed_after(sock, HEADER_TIMEOUT)


def test_a_client_trickling_its_headers_is_cut_off(quick: ServerThread) -> None:
    """Slowloris: one header byte every 50 ms, which would otherwise go on for ever."""
    request = b"GET /en/ HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"s" * 10_000
    sent = 0
    with _connect(quick) as sock:
        started = time.monotonic()
        closed = False
        while not closed and sent < len(request) and time.monotonic() - started < HEADER_TIMEOUT + 5:
            try:
                sock.sendall(request[sent : sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            sent += 1
            _, closed = read_until_eof(sock, 0.05)  # paces the trickle; returns early on close
        elapsed = time.monotonic() - started
    assert closed, f"still open after {elapsed:.1f} s and {sent} bytes"
    assert HEADER_TIMEOUT * 0.8 <= elapsed < HEADER_TIMEOUT + 2
    assert sent < 200


def _get(sock: socket.socket, path: str = "/healthz") -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\nok\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed a kept-alive connection while a request was due"
        data += chunk
    return data


def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout(quick: ServerThread) -> None:
    with _connect(quick) as sock:
        assert _get(sock).startswith(b"HTTP/1.1 200 ")
        # The keep-alive timeout, not the (shorter) header timeout, applies between requests.
        _assert_closed_after(sock, KEEPALIVE_TIMEOUT)


def test_a_busy_kept_alive_connection_outlives_the_header_timeout(quick: ServerThread) -> None:
    """Requests every 0.25 s for three header timeouts on one connection: none is cut off."""
    with _connect(quick) as sock:
        started = time.monotonic()
        answered = 0
        while time.monotonic() - started < 3 * HEADER_TIMEOUT:
            assert _get(sock).startswith(b"HTTP/1.1 200 ")
            answered += 1
            _, closed = read_until_eof(sock, 0.25)
            assert not closed
    assert answered >= 5


def test_a_request_sent_whole_after_a_pause_is_answered(quick: ServerThread) -> None:
    """The header deadline starts at a request's first byte, not at the end of the previous one."""
    with _connect(quick) as sock:
        assert _get(sock).startswith(b"HTTP/1.1 200 ")
        _, closed = read_until_eof(sock, HEADER_TIMEOUT * 1.5)  # idle longer than the header timeout
        assert not closed
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, closed = read_until_eof(sock, 5)
    r = parse_raw(data, closed)
    assert (r.status, r.body, r.closed) == (200, b"ok\n", True)


def _trickle(sock: socket.socket, data: bytes, limit: float) -> tuple[bool, float, bytes]:
    """Send ``data`` a byte every 50 ms until the server answers or closes; (closed, seconds, answer)."""
    started = time.monotonic()
    answer = b""
    for i in range(len(data)):
        if time.monotonic() - started > limit:
            break
        try:
            sock.sendall(data[i : i + 1])
        except (BrokenPipeError, ConnectionResetError):
            return True, time.monotonic() - started, answer
        chunk, closed = read_until_eof(sock, 0.05)  # paces the trickle; returns early on an answer or close
        answer += chunk
        if closed or answer:
            return closed, time.monotonic() - started, answer
    return False, time.monotonic() - started, answer


def test_a_form_body_that_trickles_in_is_refused_with_a_400(quick: ServerThread) -> None:
    head = b"POST /en/case HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    with _connect(quick) as sock:
        sock.sendall(head + b"Content-Length: 5000\r\n\r\n")
        closed, elapsed, answer = _trickle(sock, b"code=" + b"A" * 4995, BODY_TIMEOUT + 5)
    r = parse_raw(answer, closed)
    assert r.status == 400 and b'<html lang="en"' in r.body
    assert BODY_TIMEOUT * 0.8 <= elapsed < BODY_TIMEOUT + 2


def test_any_handler_is_cut_off_from_a_body_that_trickles_in(
    quick: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    """A staff form's body that trickles in: the form reader's own deadline answers 400 (it reads
    with ``body_timeout`` from when the handler starts), else the connection layer's cuts it off."""
    head = b"POST /staff/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    with caplog.at_level(logging.INFO), _connect(quick) as sock:
        sock.sendall(head + b"Content-Length: 5000\r\n\r\n")
        closed, elapsed, answer = _trickle(sock, b"name=" + b"A" * 4995, HEADER_TIMEOUT + BODY_TIMEOUT + 5)
    logged = [rec.getMessage() for rec in caplog.records]
    if answer:
        assert answer.startswith(b"HTTP/1.1 400 ") and BODY_TIMEOUT * 0.8 <= elapsed < BODY_TIMEOUT + 2, elapsed
    else:
        assert closed and HEADER_TIMEOUT + BODY_TIMEOUT * 0.8 <= elapsed < HEADER_TIMEOUT + BODY_TIMEOUT + 2
        assert f"closed a connection whose request body did not arrive within {BODY_TIMEOUT:g} s" in logged
    assert not any("unexpected error" in m for m in logged)
