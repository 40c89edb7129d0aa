"""What stands between the public forms and a flood, without a third party or a tracking cookie.

Each public form carries a **form token** made when the page is served:
``f1.<issued unix time>.<nonce: 16 random bytes, base64url>.<HMAC-SHA256 of both and the form's
purpose, base64url>``, under the *contact key* (a key the supervisor derives from the master key
for this one purpose and hands to the workers; never the master key itself). A POST is taken only
with a token this server made for that form, less than :data:`TOKEN_SECONDS` old; its nonce is
spent in the same transaction that stores the case (``contact_spent``), so a form is taken once
(a reload or a double click gets "already sent" and the form again, never a second case).
Together with the Origin / ``Sec-Fetch-Site`` check in the views, this is the CSRF defence: a
cross-site page can neither read a token nor pass the header check.

With JavaScript, the page also carries an **ALTCHA proof-of-work challenge** (the ``altcha``
library's v2 protocol, PBKDF2-SHA-256) signed with the contact key and bound to the form's nonce;
the browser finds a counter whose derived key starts with :attr:`PowSettings.bits` zero bits
(about 2^bits tries of ``iterations`` PBKDF2 rounds each) and sends it in the field ``altcha``.
The server checks it with one derivation, whatever the difficulty. It expires with the token and
is spent with its nonce. Without JavaScript there is no solution: such a submission is accepted
under a stricter limit and marked for review (never dropped).
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

import altcha

from embassy.contact.errors import FormTokenError

TOKEN_SECONDS = 2 * 3600
NONCE_BYTES = 16
PURPOSES = ("contact", "case")


@dataclass(frozen=True, slots=True)
class PowSettings:
    iterations: int = 5000  # PBKDF2 rounds per try: what one verification costs the server (~4 ms)
    bits: int = 8  # leading zero bits asked of the derived key: ~2^bits tries for the browser

    @property
    def prefix(self) -> str:
        return "0" * (self.bits // 4)


@dataclass(frozen=True, slots=True)
class Checked:
    """A form token that verified: its nonce (to spend) and whether a valid proof of work came with it."""

    nonce: bytes
    proof_of_work: bool


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FormGuard:
    def __init__(self, key: bytes, pow_settings: PowSettings) -> None:
        if len(key) < 32:
            raise ValueError("the contact key must be 32 bytes or more")
        self._token_key = hashlib.sha256(b"virtual-embassy/form-token/v1\n" + key).digest()
        self._pow_key = hashlib.sha256(b"virtual-embassy/altcha/v1\n" + key).digest()
        self.pow = pow_settings

    def _mac(self, purpose: str, issued: int, nonce: bytes) -> bytes:
        return hmac.new(self._token_key, f"{purpose}|{issued}|".encode() + nonce, hashlib.sha256).digest()

    def new_token(self, purpose: str, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        nonce = secrets.token_bytes(NONCE_BYTES)
        return f"f1.{issued}.{_b64(nonce)}.{_b64(self._mac(purpose, issued, nonce))}"

    def challenge(self, token: str) -> str:
        """The proof-of-work challenge for a form token (JSON for the page's ``data-altcha``)."""
        _, issued, nonce, _ = token.split(".")
        made = altcha.create_challenge(
            "PBKDF2/SHA-256",
            self.pow.iterations,
            key_prefix=self.pow.prefix,
            expires_at=int(issued) + TOKEN_SECONDS,
            data={"form": nonce},
            hmac_secret=self._pow_key,
        )
        return json.dumps(made.to_dict(), separators=(",", ":"))

    def check(self, purpose: str, token: str, solution: str, now: float | None = None) -> Checked:
        """The token's nonce, if this server made the token for ``purpose`` and it has not expired;
        raises :class:`FormTokenError` (``forged``, ``expired``). Spending the nonce is the caller's.
        ``solution`` is the ``altcha`` field: a valid one for this very form sets ``proof_of_work``."""
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != "f1" or not parts[1].isascii() or not parts[1].isdigit() or len(parts[1]) > 12:
            raise FormTokenError("forged")
        try:
            nonce, mac = _unb64(parts[2]), _unb64(parts[3])
        except ValueError as e:
            raise FormTokenError("forged") from e
        issued = int(parts[1])
        if len(nonce) != NONCE_BYTES or not hmac.compare_digest(mac, self._mac(purpose, issued, nonce)):
            raise FormTokenError("forged")
        now = time.time() if now is None else now
        if not issued - 300 <= now <= issued + TOKEN_SECONDS:
            raise FormTokenError("expired")
        return Checked(nonce, bool(solution) and self._solved(solution, parts[2]))

    def _solved(self, solution: str, nonce_text: str) -> bool:
        if len(solution) > 4096:
            return False
        try:
            payload = altcha.Payload.from_base64(solution)
            bound = (payload.challenge.parameters.data or {}).get("form") == nonce_text
            ok = bound and payload.challenge.parameters.algorithm == "PBKDF2/SHA-256"
            ok = ok and payload.challenge.parameters.cost == self.pow.iterations
            return ok and altcha.verify_solution(payload, self._pow_key).verified
        except Exception:  # any malformed payload is simply not a solution
            return False


def solve(challenge_json: str) -> str:
    """A solution to a challenge, as a browser's script sends it (for tests and the benchmark)."""
    challenge = altcha.Challenge.from_dict(json.loads(challenge_json))
    found = altcha.solve_challenge(challenge)
    if found is None:
        raise RuntimeError("no solution found in time")
    return altcha.Payload(challenge, found).to_base64()
