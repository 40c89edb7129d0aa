"""deploy/nginx.conf in a real nginx, in front of a real `embassy serve`, all on loopback.

The site file is used as shipped with only its addresses and paths replaced (each replacement
must apply, so a changed file cannot silently leave the test checking something else), inside a
minimal main config of our own. :meth:`Front.fetch` makes one HTTPS request as a browser would
(SNI and Host ``mission.example``, the throw-away CA trusted) and returns status, headers and body.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import trustme
from conftest import ROOT

SITE_CONF = ROOT / "deploy" / "nginx.conf"
SERVER_NAME = "mission.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    assert found, "nginx is missing: `make test` installs Debian's nginx-light when it is absent"
    return found


def wait_listening(port: int, proc: subprocess.Popen[str], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"{what} exited with {proc.returncode}"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        assert time.monotonic() < deadline, f"{what} not listening on {port} after {timeout} s"
        time.sleep(0.05)


def stop(proc: subprocess.Popen[str] | None, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait(10)
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def all(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []


@dataclass
class Ports:
    http: int
    https: int
    upstream: int


def render_site(text: str, ports: Ports, folder: Path, cert: Path, key: Path) -> str:
    """The shipped site file with loopback addresses, our ports and paths; IPv6 listeners dropped."""
    replacements = [
        ("listen 80;", f"listen 127.0.0.1:{ports.http};"),
        ("listen [::]:80;\n", ""),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{ports.https} ssl http2;"),
        ("listen [::]:443 ssl http2;\n", ""),
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{ports.upstream};"),
        ("/etc/letsencrypt/live/mission.example/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/mission.example/privkey.pem", str(key)),
        ("/var/cache/nginx/mission", str(folder / "cache")),
        ("/var/log/nginx/mission-error.log", str(folder / "error.log")),
        ("/var/www/acme", str(folder / "acme")),
    ]
    for old, new in replacements:
        assert old in text, f"deploy/nginx.conf no longer has {old!r}: update the test's replacements"
        text = text.replace(old, new)
    return text


def main_conf(folder: Path, site: Path) -> str:
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, nginx's workers would run as "nobody", who cannot enter pytest's private tmp folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} warn;\n"
        f"events {{ worker_connections 256; }}\n"
        f"http {{\n    access_log off;\n{temp}\n    include {site};\n}}\n"
    )


class Front:
    """nginx with a throw-away certificate; :meth:`start` after the upstream listens."""

    def __init__(self, folder: Path, upstream_port: int) -> None:
        self.folder = folder
        self.nginx = find_nginx()
        self.ports = Ports(free_port(), free_port(), upstream_port)
        self.ca = trustme.CA()
        folder.mkdir(parents=True, exist_ok=True)
        cert = self.ca.issue_cert(SERVER_NAME)
        cert.private_key_pem.write_to_path(str(folder / "key.pem"))
        (folder / "fullchain.pem").write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
        site = folder / "site.conf"
        site.write_text(
            render_site(SITE_CONF.read_text(), self.ports, folder, folder / "fullchain.pem", folder / "key.pem")
        )
        self.conf = folder / "nginx.conf"
        self.conf.write_text(main_conf(folder, site))
        self.proc: subprocess.Popen[str] | None = None
        self._contexts: dict[tuple[str, ...], ssl.SSLContext] = {}

    def command(self, *extra: str) -> list[str]:
        return [self.nginx, "-p", str(self.folder), "-c", str(self.conf), "-e", str(self.folder / "error.log"), *extra]

    def test_config(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        wait_listening(self.ports.https, self.proc, "nginx")

    def stop(self) -> None:
        stop(self.proc, signal.SIGQUIT)  # graceful: workers finish, then the master exits

    def tls_context(self, alpn: list[str] | None = None) -> ssl.SSLContext:
        """Trusting only the throw-away CA (built once: loading a trust store costs ~0.1 s)."""
        key = tuple(alpn or ())
        if key not in self._contexts:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self.ca.configure_trust(ctx)
            if alpn:
                ctx.set_alpn_protocols(alpn)
            self._contexts[key] = ctx
        return self._contexts[key]

    def tls_socket(self, alpn: list[str] | None = None) -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", self.ports.https), timeout=10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # http.client writes head and body apart
        return self.tls_context(alpn).wrap_socket(raw, server_hostname=SERVER_NAME)

    def fetch(
        self, path: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> Reply:
        """One HTTPS request through nginx, as a browser at https://mission.example makes it."""
        conn = http.client.HTTPSConnection(SERVER_NAME, self.ports.https, timeout=10, context=self.tls_context())
        conn.sock = self.tls_socket()
        try:
            conn.request(method, path, body=body, headers={"Host": SERVER_NAME, **(headers or {})})
            resp = conn.getresponse()
            return Reply(resp.status, resp.msg, resp.read())
        finally:
            conn.close()

    def fetch_plain(self, path: str) -> Reply:
        """One plain-HTTP request to nginx's port 80 server."""
        conn = http.client.HTTPConnection("127.0.0.1", self.ports.http, timeout=10)
        try:
            conn.request("GET", path, headers={"Host": SERVER_NAME})
            resp = conn.getresponse()
            return Reply(resp.status, resp.msg, resp.read())
        finally:
            conn.close()


def fetch_upstream(port: int, path: str, headers: dict[str, str] | None = None) -> Reply:
    """A request straight to `embassy serve`, as a local Prometheus or a proxy on loopback makes it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return Reply(resp.status, resp.msg, resp.read())
    finally:
        conn.close()


class Serve:
    """`embassy serve --workers 2` on a free loopback port, started as the systemd unit starts it."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.port = free_port()
        full = {k: v for k, v in os.environ.items() if not k.startswith("EMBASSY_")} | env
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "embassy", "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "2"],
            cwd=root, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        try:
            wait_listening(self.port, self.proc, "embassy serve", timeout=60)
            deadline = time.monotonic() + 30
            while fetch_upstream(self.port, "/healthz").status != 200:  # every worker up
                assert time.monotonic() < deadline, "embassy serve: /healthz not 200 after 30 s"
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        stop(self.proc, signal.SIGINT)
