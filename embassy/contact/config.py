"""The ``[contact]`` and ``[smtp]`` sections of ``embassy.toml`` (docs/config.md), checked like the rest.

Parsed by :mod:`embassy.config`'s parser, whose helpers give every mistake the file, the key and
the fix. The SMTP password is never in the config: ``password_env`` names the variable (or systemd
credential) that holds it, and only the supervising process of `embassy serve` reads it, when it
sends (embassy/contact/notify.py).
"""

import re
from dataclasses import dataclass
from typing import Any, Protocol

EMAIL_RE = re.compile(r"^[^@\s<>\"]{1,64}@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

CONTACT_KEYS = (
    "emergency_phone", "email", "duty_email", "retention_days", "submissions_per_hour", "nojs_per_hour",
    "site_per_minute", "site_nojs_per_hour", "lookups_per_minute", "pow_iterations", "pow_bits", "code_kdf_mib",
    "code_kdf_passes",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ContactConfig:
    emergency_phone: str = ""
    email: str = ""
    duty_email: str = ""
    retention_days: int = 365
    # Rate limits (docs/config.md): per client address (IPv6: per /64), and for the whole site.
    submissions_per_hour: int = 10  # with a proof of work
    nojs_per_hour: int = 3  # without one (no JavaScript): stricter, and marked for review
    site_per_minute: int = 120  # every submission of every address together
    site_nojs_per_hour: int = 60
    lookups_per_minute: int = 10  # tracking-code look-ups and follow-ups per address
    # Proof of work: PBKDF2-SHA-256 rounds per try (the server does one try), and zero bits asked.
    pow_iterations: int = 5000
    pow_bits: int = 8
    # Tracking codes: Argon2id memory (MiB) and passes, per submission and per look-up.
    code_kdf_mib: int = 16
    code_kdf_passes: int = 2


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    sender: str  # `from` in the file
    port: int = 587
    starttls: bool = True
    username: str = ""
    password_env: str = ""


class _Parser(Protocol):
    def fail(self, where: str, problem: str) -> Exception: ...
    def known_keys(self, table: dict[str, Any], allowed: set[str], where: str) -> None: ...
    def get(self, table: dict[str, Any], key: str, where: str, kind: type, default: Any = ..., *,
            required_hint: str = "") -> Any: ...  # fmt: skip
    def positive_int(self, value: int, where: str, low: int = 0, high: int | None = None) -> int: ...


def parse_contact(p: _Parser, t: dict[str, Any], has_smtp: bool) -> ContactConfig:
    w = "contact"
    p.known_keys(t, set(CONTACT_KEYS), w)
    d = ContactConfig()
    phone = p.get(t, "emergency_phone", w, str, d.emergency_phone).strip()
    if phone and not re.fullmatch(r"\+?[0-9 ()./-]{5,40}", phone):
        raise p.fail(f"{w}.emergency_phone", f"{phone!r} is not a phone number; write it like \"+7 700 000 00 00\"")
    emails = {}
    for key in ("email", "duty_email"):
        value = p.get(t, key, w, str, "").strip()
        if value and not EMAIL_RE.match(value):
            raise p.fail(f"{w}.{key}", f"{value!r} is not an e-mail address; write it like \"consular@mission.example\"")
        emails[key] = value
    if emails["duty_email"] and not has_smtp:
        raise p.fail(f"{w}.duty_email", "needs an [smtp] section to send through; add one, or remove duty_email")
    ints = {}
    ranges = {
        "retention_days": (1, 36500), "submissions_per_hour": (1, 1_000_000), "nojs_per_hour": (1, 1_000_000),
        "site_per_minute": (1, 1_000_000), "site_nojs_per_hour": (1, 1_000_000),
        "lookups_per_minute": (1, 1_000_000), "pow_iterations": (1, 1_000_000), "pow_bits": (0, 24),
        "code_kdf_mib": (1, 256), "code_kdf_passes": (1, 16),
    }  # fmt: skip
    for key, (low, high) in ranges.items():
        ints[key] = p.positive_int(p.get(t, key, w, int, getattr(d, key)), f"{w}.{key}", low, high)
    if ints["pow_bits"] % 4:
        raise p.fail(f"{w}.pow_bits", f"{ints['pow_bits']} is not a multiple of 4; use 0, 4, 8, 12, 16, 20 or 24")
    return ContactConfig(phone, emails["email"], emails["duty_email"], **ints)


def parse_smtp(p: _Parser, t: dict[str, Any]) -> SmtpConfig:
    w = "smtp"
    p.known_keys(t, {"host", "port", "starttls", "username", "password_env", "from"}, w)
    host = p.get(t, "host", w, str, required_hint='; the mail server, e.g. host = "smtp.mission.example"').strip()
    if not host or any(ch.isspace() for ch in host):
        raise p.fail(f"{w}.host", f"{host!r} is not a host name")
    port = p.positive_int(p.get(t, "port", w, int, 587), f"{w}.port", 1, 65535)
    starttls = p.get(t, "starttls", w, bool, True)
    username = p.get(t, "username", w, str, "")
    password_env = p.get(t, "password_env", w, str, "")
    if password_env and not ENV_NAME_RE.match(password_env):
        raise p.fail(f"{w}.password_env", "is not an environment variable name (write the variable's name, never the password)")
    sender = p.get(t, "from", w, str, required_hint='; the sender address, e.g. from = "mission@mission.example"')
    if not EMAIL_RE.match(sender.strip()):
        raise p.fail(f"{w}.from", f"{sender!r} is not an e-mail address")
    return SmtpConfig(host, sender.strip(), port, starttls, username, password_env)
