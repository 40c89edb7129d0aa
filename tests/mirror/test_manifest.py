"""The signed manifest: made and checked without I/O; every kind of alteration refused by name."""

import json

import pytest
from nacl.signing import SigningKey

from embassy.content.statements import TrustedKey
from embassy.mirror.manifest import Manifest, ManifestError, check_file, entry_for, verify_manifest
from keys.derive import public_key_id

KEY = SigningKey.generate()
KEY_ID = public_key_id(bytes(KEY.verify_key))
TRUSTED = {KEY_ID: TrustedKey(bytes(KEY.verify_key))}
FILES = {"en/index.html": entry_for(b"<p>home</p>", "text/html; charset=utf-8"),
         ".well-known/embassy-keys.json": entry_for(b"{}", "application/json")}  # fmt: skip


def signed(**changes: object) -> bytes:
    fields: dict[str, object] = {"mission": "M", "public_url": "https://m.example", "created": "2026-12-01T10:00:00Z",
                                 "key_id": KEY_ID, "files": FILES, **changes}  # fmt: skip
    return Manifest(**fields).sign(KEY)  # type: ignore[arg-type]


def test_a_signed_manifest_verifies_and_lists_its_files() -> None:
    m = verify_manifest(signed(), TRUSTED)
    assert m.files == FILES
    assert m.key_id == KEY_ID
    assert check_file("en/index.html", m.files["en/index.html"], b"<p>home</p>") is None


def test_one_changed_byte_of_the_manifest_is_refused() -> None:
    doc = json.loads(signed())
    doc["mirror"]["files"]["en/index.html"]["size"] += 1
    with pytest.raises(ManifestError, match=r"does not verify .*altered"):
        verify_manifest(json.dumps(doc).encode(), TRUSTED)


def test_a_manifest_signed_by_another_key_is_refused() -> None:
    other = SigningKey.generate()
    other_id = public_key_id(bytes(other.verify_key))
    data = Manifest("M", "u", "2026-12-01T10:00:00Z", other_id, FILES).sign(other)
    with pytest.raises(ManifestError, match=f"signed by key '{other_id}', which is not among"):
        verify_manifest(data, TRUSTED)


def test_a_retired_key_does_not_sign_later_manifests() -> None:
    retired = {KEY_ID: TrustedKey(bytes(KEY.verify_key), "2026-11-01T00:00:00Z")}
    with pytest.raises(ManifestError, match="retired at 2026-11-01"):
        verify_manifest(signed(), retired)


def test_a_signed_entry_escaping_the_mirror_is_refused() -> None:
    data = signed(files={"../../etc/passwd.html": entry_for(b"x", "text/html")})
    with pytest.raises(ManifestError, match=r"malformed.*is not a mirror file name"):
        verify_manifest(data, TRUSTED)


@pytest.mark.parametrize(("data", "problem"), [(None, "missing"), (b"<p>home</p>!", "size"), (b"<p>HOME</p>", "hash")])
def test_a_file_unlike_its_entry_is_named(data: bytes | None, problem: str) -> None:
    found = check_file("en/index.html", FILES["en/index.html"], data)
    assert found is not None and found.problem == problem
    assert str(found).startswith("en/index.html: ")


@pytest.mark.parametrize("data", [b"not json", b"[]", b'{"mirror": {}, "signature": {}}', b"x" * (17 << 20)])
def test_what_is_not_a_manifest_says_so(data: bytes) -> None:
    with pytest.raises(ManifestError):
        verify_manifest(data, TRUSTED)
