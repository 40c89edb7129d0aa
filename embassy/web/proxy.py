"""Who is asking, and over what: the client address and scheme, trusting X-Forwarded-* only from proxies we know.

The rules, in order:

1. A peer that is not a trusted proxy is the client; its X-Forwarded-* headers are ignored.
2. A trusted peer that sends no X-Forwarded-For is the client itself (a local script, a health check).
3. Otherwise X-Forwarded-For is read from the right (each proxy appends the address it saw): the
   first address that is not a trusted proxy is the client. Every entry read on the way must be a
   bare IP address. Anything else (``ip:port``, ``[v6]``, ``unknown``, an empty entry, several
   addresses separated by spaces, garbage) fails closed: the client is :data:`UNKNOWN`, which is
   never the loopback (``/metrics`` refuses it) and shares one rate-limit key with every other
   unreadable client. Entries to the left of the client are the client's own claims and are not read.
4. A chain of trusted proxies only (at most 20 read) names its leftmost entry; a longer one is UNKNOWN.
"""

import ipaddress
from collections.abc import Sequence

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

UNKNOWN = "unknown"  # a forwarded address that did not parse; never an IP address
MAX_CHAIN = 20


def parse_address(text: str) -> Address | None:
    """A bare IPv4 or IPv6 address (no port, no brackets, no spaces), or None."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class ClientResolver:
    def __init__(self, trusted: Sequence[Network]) -> None:
        self.trusted = tuple(trusted)
        self._trusted_cache: dict[str, bool] = {}

    def is_trusted(self, address: str) -> bool:
        known = self._trusted_cache.get(address)
        if known is None:
            ip = parse_address(address)
            known = ip is not None and any(ip in net for net in self.trusted)
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
        """The real client address (rules 1-4 above): an IP address in its canonical text form,
        the peer's, or :data:`UNKNOWN`."""
        peer = self.peer(request)
        if not self.trusted or not self.is_trusted(peer):
            return peer
        forwarded = request.headers.getall("X-Forwarded-For", ())
        if not forwarded:
            return peer
        chain = [entry.strip() for header in forwarded for entry in header.split(",")]
        for entry in reversed(chain[-MAX_CHAIN:]):
            ip = parse_address(entry)
            if ip is None:
                return UNKNOWN
            if not self.is_trusted(entry):
                return str(ip)
        if len(chain) > MAX_CHAIN:
            return UNKNOWN
        return str(ipaddress.ip_address(chain[0]))

    def is_loopback(self, request: web.BaseRequest) -> bool:
        """Whether the real client is this machine; an unreadable forwarded address never is."""
        ip = parse_address(self.client(request))
        return ip is not None and ip.is_loopback

    def scheme(self, request: web.BaseRequest) -> str:
        transport = request.transport
        if transport is not None and transport.get_extra_info("sslcontext") is not None:
            return "https"
        if self.trusted and self.is_trusted(self.peer(request)):
            proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                return proto
        return "http"
