"""Helpers for the staff area's tests: a client that keeps cookies as a browser does, and accounts."""

from __future__ import annotations

import http.client
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pyotp

from embassy.mission_db import MISSION_DB, connect, connect_sessions
from embassy.staff import accounts
from embassy.staff.passwords import hash_password
from embassy.staff.service import Conns
from embassy.staff.sessions import SessionStore
from embassy.staff.throttle import Throttle
from web.conftest import Resp

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
PASSWORD = "quiet river under seven lanterns"


@dataclass
class Client:
    """One browser: cookies kept (Secure ones too: the server is on 127.0.0.1), no redirects followed."""

    base: str
    cookies: dict[str, str] = field(default_factory=dict)
    set_cookies: list[str] = field(default_factory=list)
    address: str = ""  # sent as X-Forwarded-For (the test server trusts 127.0.0.1 as its proxy)
    csrf: str = ""
    lang: str = "en"

    def request(self, method: str, path: str, form: dict[str, str] | list[tuple[str, str]] | None = None,
                headers: dict[str, str] | None = None, raw: tuple[bytes, str] | None = None) -> Resp:  # fmt: skip
        h = dict(headers or {})
        body = None
        if form is not None:
            body = urlencode(form).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        if raw is not None:  # a body of its own (multipart): (bytes, content type)
            body, h["Content-Type"] = raw
        return self.request_raw(method, path, body, h)

    def request_raw(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Resp:
        """A request with a body of any type (a form, JSON, an image, multipart), cookies kept."""
        host, port = self.base.removeprefix("http://").split(":")
        h = {"Accept-Language": self.lang, **headers}
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.address:
            h["X-Forwarded-For"] = self.address
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            resp = Resp(r.status, r.headers, r.read())
        finally:
            conn.close()
        for raw in resp.headers.get_all("Set-Cookie") or []:
            self.set_cookies.append(raw)
            name, _, rest = raw.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in raw.lower() or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        found = CSRF_RE.search(resp.body.decode("utf-8", "replace"))
        if found:
            self.csrf = found.group(1)
        return resp

    def get(self, path: str, **kw: object) -> Resp:
        return self.request("GET", path, **kw)  # type: ignore[arg-type]

    def post(self, path: str, form: dict[str, str] | None = None, csrf: bool = True, **kw: object) -> Resp:
        fields = dict(form or {})
        if csrf:
            fields.setdefault("csrf", self.csrf)
        return self.request("POST", path, fields, **kw)  # type: ignore[arg-type]


def conns(data_dir: Path) -> Conns:
    sessions = connect_sessions(data_dir)
    return Conns(connect(data_dir / MISSION_DB), SessionStore(sessions), Throttle(sessions))


def close(c: Conns) -> None:
    c.mission.close()
    c.sessions.conn.close()


_HASHES: dict[str, str] = {}


def cached_hash(password: str) -> str:
    """One Argon2id hash per password for the whole run (each costs ~0.14 s)."""
    if password not in _HASHES:
        _HASHES[password] = hash_password(password)
    return _HASHES[password]


def make_account(data_dir: Path, name: str, roles: list[str], *, password: str = PASSWORD, totp: bool = True,
                 one_time: bool = False) -> str | None:  # fmt: skip
    """An account that has set its own password (and, with ``totp``, enrolled TOTP: its secret is returned)."""
    c = conns(data_dir)
    try:
        accounts.create(c.mission, name, roles, cached_hash(password), actor="test")
        if not one_time:
            accounts.set_password(c.mission, name, cached_hash(password), actor="test")
        secret = None
        if totp:
            secret = pyotp.random_base32(32)
            accounts.set_totp(c.mission, name, secret, 0, actor="test")
        return secret
    finally:
        close(c)


def signed_in(client: Client, data_dir: Path, name: str, stage: str = "full") -> None:
    """Give ``client`` a session of ``stage`` straight from the store (for tests of what follows sign-in)."""
    c = conns(data_dir)
    try:
        token, session = c.sessions.create(name, stage, "127.0.0.1", "test")
    finally:
        close(c)
    client.cookies["__Host-embassy-session"] = token
    client.csrf = session.csrf


def code_now(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def code_previous(secret: str) -> str:
    return pyotp.TOTP(secret).at(time.time() - 30)


def sign_in(client: Client, name: str, secret: str, password: str = PASSWORD) -> Resp:
    """The whole sign-in through the pages: password, then a TOTP code. The answer to the code."""
    client.get("/staff/login")
    r = client.post("/staff/login", {"name": name, "password": password})
    assert (r.status, r.header("Location")) == (303, "/staff/login/factor"), r.text[:500]
    client.get("/staff/login/factor")
    return client.post("/staff/login/totp", {"code": code_now(secret)})
