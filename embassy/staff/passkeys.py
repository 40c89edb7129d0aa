"""Passkeys (WebAuthn, through the ``webauthn`` library): the relying party, and both ceremonies.

The relying party is the host of ``server.public_url``: a browser accepts a WebAuthn ceremony
only on a host name served over HTTPS, or on ``localhost`` (which it trusts over plain HTTP). An
IP address can never be a relying party, so a mission served at ``http://127.0.0.1:PORT`` offers
passkeys at ``http://localhost:PORT`` instead, and one served at another IP address offers none.
User verification (the device's PIN or biometrics) is required in both ceremonies; attestation
is not asked for (any authenticator the user trusts will do).
"""

import ipaddress
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from embassy.staff.accounts import Passkey
from embassy.staff.errors import PasskeyError

MAX_RESPONSE = 16 * 1024


@dataclass(frozen=True, slots=True)
class RelyingParty:
    id: str
    name: str
    origin: str


def relying_party(public_url: str, mission: str) -> RelyingParty | None:
    """The relying party for a mission served at ``public_url`` (None: passkeys cannot work there)."""
    parts = urlsplit(public_url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        if not ip.is_loopback:
            return None
        return RelyingParty("localhost", mission, f"http://localhost{port}")
    if parts.scheme != "https" and host != "localhost":
        return None
    return RelyingParty(host, mission, f"{parts.scheme}://{host}{port}")


@dataclass(frozen=True, slots=True)
class Registered:
    credential_id: bytes
    public_key: bytes
    sign_count: int


def registration_options(
    rp: RelyingParty, account: str, user_id: bytes, existing: list[Passkey]
) -> tuple[bytes, str]:
    """The challenge to keep and the options for ``navigator.credentials.create`` (JSON)."""
    challenge = secrets.token_bytes(32)
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=account,
        user_id=user_id,
        user_display_name=account,
        challenge=challenge,
        timeout=120_000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=p.credential_id) for p in existing],
    )
    return challenge, options_to_json(options)


def verify_registration(rp: RelyingParty, challenge: bytes, response: str) -> Registered:
    try:
        verified = verify_registration_response(
            credential=_parse(response),
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=True,
        )
    except WebAuthnException as e:
        raise PasskeyError(f"the passkey could not be registered: {e}") from e
    return Registered(verified.credential_id, verified.credential_public_key, verified.sign_count)


def authentication_options(rp: RelyingParty, existing: list[Passkey]) -> tuple[bytes, str]:
    challenge = secrets.token_bytes(32)
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=120_000,
        allow_credentials=[PublicKeyCredentialDescriptor(id=p.credential_id) for p in existing],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return challenge, options_to_json(options)


def response_credential_id(response: str) -> bytes:
    """The credential id a ``navigator.credentials.get`` response names (still to be verified)."""
    from webauthn.helpers import base64url_to_bytes

    raw = _parse(response).get("rawId") or _parse(response).get("id")
    try:
        return base64url_to_bytes(str(raw))
    except ValueError as e:
        raise PasskeyError("the passkey response names no credential") from e


def verify_authentication(rp: RelyingParty, challenge: bytes, response: str, passkey: Passkey) -> int:
    """Verify the assertion; the authenticator's new signature count."""
    try:
        verified = verify_authentication_response(
            credential=_parse(response),
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except WebAuthnException as e:
        raise PasskeyError(f"the passkey did not verify: {e}") from e
    return int(verified.new_sign_count)


def _parse(response: str) -> dict[str, Any]:
    if not response or len(response) > MAX_RESPONSE:
        raise PasskeyError("no passkey response was sent (passkeys need JavaScript)")
    try:
        doc = json.loads(response)
    except ValueError as e:
        raise PasskeyError("the passkey response is not JSON") from e
    if not isinstance(doc, dict):
        raise PasskeyError("the passkey response is not a JSON object")
    return doc
