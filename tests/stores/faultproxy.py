"""A fault-injecting HTTP/1.1 proxy on loopback, in front of a real S3 server.

It reads each request's head and body off the client connection (so it can count requests even on
kept-alive connections) and, for the first ``faults`` requests (or all, with ``faults=None``):
- ``reset``: closes the connection with a TCP RST before answering;
- ``503``: answers ``503 Service Unavailable`` (S3's SlowDown) and closes;
- ``hang``: never answers;
- ``slow``: forwards the request after ``delay`` seconds (latency);
- ``drop``: for a random ``rate`` of requests (drawn from ``seed``: the same run each time), drops
  the connection carrying it with a TCP RST, unanswered; ``faults`` is not used. Decided per request,
  not per accepted connection: a client keeps a few connections alive for a whole backup, so 10 %
  of those would be no connection at all.
Other requests go to the upstream server, and its responses come back byte for byte. ``only``
(method, path -> bool), when given, picks the requests that may fault; the rest always pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections.abc import Callable
from types import TracebackType

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class FaultProxy:
    def __init__(
        self,
        upstream_port: int,
        mode: str = "pass",
        faults: int | None = 0,
        only: Callable[[str, str], bool] | None = None,
        delay: float = 2.0,
        rate: float = 0.1,
        seed: int = 0,
    ) -> None:
        if mode not in ("pass", "reset", "503", "hang", "slow", "drop"):
            raise ValueError(mode)
        self.upstream_port = upstream_port
        self.mode = mode
        self.faults = faults
        self.only = only
        self.delay = delay
        self.rate = rate
        self._random = random.Random(seed)
        self.connections = 0
        self.faulted = 0
        self.requests: list[str] = []  # "METHOD path" of every request seen, in order
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    def _faulty(self, number: int) -> bool:
        return self.mode not in ("pass", "drop") and (self.faults is None or number <= self.faults)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        up_writer: asyncio.StreamWriter | None = None
        pipe: asyncio.Task[None] | None = None
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
                method, path, _ = request_line.split(" ", 2)
                self.requests.append(f"{method} {path}")
                if self.mode == "drop" and self._random.random() < self.rate:
                    self.faulted += 1
                    self._reset(writer)
                    return
                # Counted over every request, or with ``only`` over the requests it picks.
                number = len(self.requests) if self.only is None else self.faulted + 1
                if (self.only is None or self.only(method, path)) and self._faulty(number):
                    self.faulted += 1
                    if self.mode == "slow":
                        await asyncio.sleep(self.delay)
                    else:
                        await self._fault(reader, writer, headers)
                        return
                if up_writer is None:
                    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
                    pipe = asyncio.create_task(self._pipe(up_reader, writer))
                up_writer.write(head)
                await self._forward_body(reader, up_writer, headers)
        finally:
            if pipe is not None:
                pipe.cancel()
            if up_writer is not None:
                up_writer.close()
            writer.close()
            self._tasks.discard(task)

    async def _fault(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str]) -> None:
        if self.mode == "reset":
            self._reset(writer)
        elif self.mode == "503":
            if headers.get("expect", "").lower() != "100-continue":
                await self._forward_body(reader, None, headers)
            writer.write(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
                + f"Content-Length: {len(SLOW_DOWN)}\r\nConnection: close\r\n\r\n".encode()
                + SLOW_DOWN
            )
            await writer.drain()
        else:  # hang: hold the connection open, answer nothing, until the proxy stops
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)

    @staticmethod
    def _reset(writer: asyncio.StreamWriter) -> None:
        """Close the client's connection with a TCP RST: no answer, not even an orderly close."""
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    @staticmethod
    async def _forward_body(
        reader: asyncio.StreamReader, up: asyncio.StreamWriter | None, headers: dict[str, str]
    ) -> None:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2) if size else b""
                trailer = b""
                if not size:
                    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                        trailer += line
                    trailer += b"\r\n"
                if up is not None:
                    up.write(size_line + chunk + trailer)
                if not size:
                    break
        else:
            remaining = int(headers.get("content-length", "0") or 0)
            while remaining:
                data = await reader.read(min(remaining, 1 << 20))
                if not data:
                    raise ConnectionError("client closed mid-body")
                remaining -= len(data)
                if up is not None:
                    up.write(data)
                    await up.drain()
        if up is not None:
            await up.drain()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()
