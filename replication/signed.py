"""Objects signed with the mission's Ed25519 key and named by their content id (manifests, forget records)."""

from __future__ import annotations

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from replication.crypto import object_id
from replication.errors import IntegrityError, SignatureError

SIG = 64


def check_signed(
    data: bytes,
    verify_key: VerifyKey,
    magic: bytes,
    what: str,
    kind: str,
    expected_id: str | None = None,
    min_body: int = 4,
) -> bytes:
    """The signed bytes of ``data`` (everything but the trailing signature), after checking its
    content id, its magic and its signature; raises IntegrityError, SignatureError for a signature
    made by another key (or over altered bytes)."""
    if expected_id is not None and object_id(data) != expected_id:
        raise IntegrityError(f"{what}: content does not match its id (altered or replaced)")
    if len(data) < len(magic) + min_body + SIG or not data.startswith(magic):
        raise IntegrityError(f"{what}: not a {kind}")
    signed, signature = data[:-SIG], data[-SIG:]
    try:
        verify_key.verify(signed, signature)
    except BadSignatureError as e:
        raise SignatureError(
            f"{what}: signature does not verify with the mission's signing key (tampered, or signed by another key)"
        ) from e
    return signed
