"""Helpers for the contact channels' tests: a mission with an inbox, and a visitor's forms."""

from __future__ import annotations

import html
import re
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from embassy.contact import custody
from embassy.contact.guard import solve
from embassy.mission_db import MISSION_DB, connect
from keys.inbox_keys import InboxKeyPair, RecoverySplit, new_recovery_key
from web.conftest import SiteEnv, make_site_env

# Test settings (docs/inbox.md): proof of work of one PBKDF2 round and 4 bits (16 tries), the
# smallest Argon2id libsodium allows for codes; limits raised where a test does not probe them.
FAST = (
    '[contact]\nemergency_phone = "+7 700 000 00 00"\nemail = "consular@mission.example"\n'
    "pow_iterations = 1\npow_bits = 4\ncode_kdf_mib = 1\ncode_kdf_passes = 1\n"
)
CODE_RE = re.compile(r'<p class="code" lang="en" dir="ltr"><strong>([0-9A-Z-]+)</strong></p>')


def contact_env(root: Path, contact: str = "", languages: tuple[str, ...] = ("kk", "ru", "en")) -> tuple[SiteEnv, RecoverySplit]:
    env = make_site_env(root, languages, server='trusted_proxies = ["127.0.0.1"]\n' + FAST + contact)
    conn = connect(env.config.data_dir / MISSION_DB)
    try:
        split = new_recovery_key(2, 3, env.config.mission.name)
        custody.init(conn, InboxKeyPair.generate(), split, 2, actor="test")
    finally:
        conn.close()
    return env, split


@dataclass
class Form:
    token: str
    challenge: str
    fields: dict[str, str]


def form_of(page: str, channel: str) -> Form:
    start = page.index(f'id="form-{channel}"')
    end = page.index("</form>", start)
    part = page[start:end]
    challenge = html.unescape(re.search(r'data-altcha="([^"]*)"', part).group(1))  # type: ignore[union-attr]
    token = re.search(r'name="token" value="([^"]+)"', part).group(1)  # type: ignore[union-attr]
    return Form(token, challenge, {"channel": channel, "token": token, "altcha": "", "website": ""})


def multipart(fields: dict[str, str], files: list[tuple[str, bytes]] = ()) -> tuple[bytes, str]:  # type: ignore[assignment]
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode() + b"\r\n"
    for filename, data in files:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="attachment"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"  # fmt: skip
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def filled(form: Form, *, pow_solved: bool = True, **values: str) -> dict[str, str]:
    fields = {**form.fields, **values}
    if pow_solved:
        fields["altcha"] = solve(form.challenge)
    return fields


def urlencoded(fields: dict[str, str]) -> tuple[bytes, str]:
    return urlencode(fields).encode(), "application/x-www-form-urlencoded"


def address() -> str:
    return f"198.51.100.{secrets.randbelow(250) + 1}" if secrets.randbelow(2) else f"2001:db8:{secrets.token_hex(2)}::1"
