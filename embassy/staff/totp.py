"""TOTP (RFC 6238, 30-second steps, 6 digits, SHA-1 as every authenticator app expects).

A code is accepted for its own step and the one before it (the user may type the code as it
turns over: at most 60 s in all), and only for a step later than the last one accepted for that
account (:func:`matching_step`; the caller stores it atomically), so no code works twice.
"""

import hmac
import re
import time

import pyotp
import segno

PERIOD = 30
DIGITS = 6
CODE_RE = re.compile(r"^[0-9]{6}$")


def new_secret() -> str:
    """160 random bits in base32, as RFC 4226 recommends."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str, title: str) -> str:
    """The provisioning URI as an inline SVG (no script, no style attribute: fits the site's CSP)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, title=title, svgclass="qr"))


def grouped(secret: str) -> str:
    """The secret as people type it: groups of four."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def normalise(code: str) -> str | None:
    code = code.replace(" ", "").replace("-", "")
    return code if CODE_RE.match(code) else None


def matching_step(secret: str, code: str, last_step: int | None, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to (this one or the previous), if it is later than ``last_step``."""
    clean = normalise(code)
    if clean is None:
        return None
    totp = pyotp.TOTP(secret)
    current = int((time.time() if now is None else now) // PERIOD)
    found = None
    for step in (current, current - 1):  # both compared, so the time does not tell which matched
        if hmac.compare_digest(totp.generate_otp(step), clean) and found is None:
            found = step
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found
