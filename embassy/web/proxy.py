"""Who is asking, and over what: the client address and scheme, trusting X-Forwarded-* only from proxies we know."""

import ipaddress
from collections.abc import Sequence

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientResolver:
    def __init__(self, trusted: Sequence[Network]) -> None:
        self.trusted = tuple(trusted)
        self._trusted_cache: dict[str, bool] = {}

    def is_trusted(self, address: str) -> bool:
        known = self._trusted_cache.get(address)
        if known is None:
            try:
                ip = ipaddress.ip_address(address)
                known = any(ip in net for net in self.trusted)
            except ValueError:
                known = False
            if len(self._trusted_cache) > 1024:
                self._trusted_cache.clear()
            self._trusted_cache[address] = known
        return known

    def peer(self, request: web.BaseRequest) -> str:
        transport = request.transport
        peername = transport.get_extra_info("peername") if transport is not None else None
        if isinstance(peername, tuple) and peername:
            return str(peername[0])
        return ""  # a unix socket or a closed transport: nobody we could name

    def client(self, request: web.BaseRequest) -> str:
        """The real client address: the peer, or when the peer is a trusted proxy, the nearest
        untrusted address in X-Forwarded-For (read from the right, as each proxy appends)."""
        peer = self.peer(request)
        if not self.trusted or not self.is_trusted(peer):
            return peer
        forwarded = request.headers.getall("X-Forwarded-For", ())
        chain = [a.strip() for header in forwarded for a in header.split(",") if a.strip()]
        for address in reversed(chain[-20:]):
            try:
                ipaddress.ip_address(address)
            except ValueError:
                return peer  # a garbled chain: trust nothing in it
            if not self.is_trusted(address):
                return address
        return chain[0] if chain else peer

    def scheme(self, request: web.BaseRequest) -> str:
        transport = request.transport
        if transport is not None and transport.get_extra_info("sslcontext") is not None:
            return "https"
        if self.trusted and self.is_trusted(self.peer(request)):
            proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                return proto
        return "http"
