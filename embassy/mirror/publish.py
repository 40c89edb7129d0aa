"""Publishing a rendered mirror to each target, and checking a mirror against its signed manifest.

Publishing, per target, in this order (a reader who looks in between sees the old mirror, or
new files beside the old manifest, never a manifest naming files not yet written):

1. read the target's ``embassy-mirror.json`` and verify it with the mission's statement keys; a
   manifest that does not verify is treated as none (everything is uploaded again); list what the
   target holds, with sizes;
2. upload every file whose entry (SHA-256, size, type) differs from that verified manifest's, or
   that the target does not hold at that size (all of them with ``full``), several at once;
3. write the new manifest;
4. delete what the previous manifest listed, or the target holds, that the new one does not.

Targets are published concurrently and independently: one failing is reported and the others
go on.
"""

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nacl.signing import SigningKey

from embassy.content.statements import TrustedKey
from embassy.mirror.errors import MirrorError
from embassy.mirror.manifest import (
    MAX_MANIFEST,
    FileProblem,
    Manifest,
    ManifestError,
    check_file,
    entry_for,
    verify_manifest,
)
from embassy.mirror.paths import MANIFEST_NAME, MirrorNameError, check_name
from embassy.mirror.render import RenderedSite
from embassy.mirror.targets import MirrorTarget

UPLOADS = 8  # files in flight per target


@dataclass(frozen=True, slots=True)
class Signed:
    """A rendered mirror with its manifest, ready to publish."""

    site: RenderedSite
    manifest: Manifest
    document: bytes  # the signed manifest's bytes


def sign_mirror(site: RenderedSite, mission: str, public_url: str, key: SigningKey, key_id: str) -> Signed:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    files = {name: entry_for(f.body, f.content_type) for name, f in site.files.items()}
    manifest = Manifest(mission, public_url, now, key_id, files)
    return Signed(site, manifest, manifest.sign(key))


@dataclass
class TargetReport:
    store: str
    target: str
    ok: bool = False
    uploaded: int = 0
    unchanged: int = 0
    deleted: int = 0
    uploaded_bytes: int = 0
    previous: str = "none"  # "verified" | "none" | "not trusted: ..."
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "ok": self.ok, "target": self.target, "uploaded": self.uploaded, "unchanged": self.unchanged,
            "deleted": self.deleted, "uploaded_bytes": self.uploaded_bytes, "previous_manifest": self.previous,
        }  # fmt: skip
        if self.error:
            doc["error"] = self.error
        return doc


def publish(
    target: MirrorTarget, signed: Signed, trusted: Mapping[str, TrustedKey], full: bool = False
) -> TargetReport:
    """Publish ``signed`` to ``target`` (blocking; run it in a thread). Never raises for the target's
    faults: they are the report's ``error``."""
    report = TargetReport(target.name, target.describe())
    try:
        _publish(target, signed, trusted, full, report)
        report.ok = True
    except (MirrorError, OSError) as e:
        report.error = str(e)
    return report


def _publish(
    target: MirrorTarget, signed: Signed, trusted: Mapping[str, TrustedKey], full: bool, report: TargetReport
) -> None:
    previous: Manifest | None = None
    data = target.read(MANIFEST_NAME, MAX_MANIFEST)
    if data is not None:
        try:
            previous = verify_manifest(data, trusted)
            report.previous = "verified"
        except ManifestError as e:
            report.previous = f"not trusted: {e}"
    new = signed.manifest.files
    held = target.names()
    # Unchanged: the verified previous manifest lists it as it is now, and the target still holds
    # that many bytes under its name (a file lost or cut short since is uploaded again).
    changed = [
        n for n in sorted(new)
        if full or previous is None or previous.files.get(n) != new[n] or held.get(n) != new[n].size
    ]  # fmt: skip
    report.unchanged = len(new) - len(changed)
    with ThreadPoolExecutor(UPLOADS, thread_name_prefix=f"mirror-{target.name}") as pool:
        for name, _ in zip(changed, pool.map(lambda n: _upload(target, signed, n), changed), strict=True):
            report.uploaded += 1
            report.uploaded_bytes += new[name].size
    target.write(MANIFEST_NAME, signed.document, "application/json")
    stale = set(previous.files) if previous is not None else set()
    for name in held:
        with contextlib.suppress(MirrorNameError):  # a name this program never writes is left alone
            stale.add(check_name(name))
    stale -= {*new, MANIFEST_NAME}
    for name in sorted(stale):
        target.delete(name)
        report.deleted += 1


def _upload(target: MirrorTarget, signed: Signed, name: str) -> None:
    f = signed.site.files[name]
    target.write(name, f.body, f.content_type)


@dataclass
class CheckReport:
    """``embassy mirror verify``: the manifest's signature, then every file it lists."""

    where: str
    ok: bool = False
    checked: int = 0
    problems: list[FileProblem] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)  # files the manifest does not list
    created: str = ""
    key_id: str = ""
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "ok": self.ok, "where": self.where, "checked": self.checked, "created": self.created,
            "key_id": self.key_id, "problems": [{"file": p.name, "problem": p.problem} for p in self.problems],
            "unlisted": self.unlisted,
        }  # fmt: skip
        if self.error:
            doc["error"] = self.error
        return doc


def check(target: MirrorTarget, trusted: Mapping[str, TrustedKey]) -> CheckReport:
    """Check ``target`` against its manifest (blocking). A file the manifest does not list is a
    problem too: whoever holds the target could have added a page the mission never wrote."""
    report = CheckReport(target.describe())
    try:
        data = target.read(MANIFEST_NAME, MAX_MANIFEST)
        if data is None:
            raise ManifestError(f"no {MANIFEST_NAME}: not a mirror, or not published yet")
        manifest = verify_manifest(data, trusted)
        report.created, report.key_id = manifest.created, manifest.key_id
        names = sorted(manifest.files)
        with ThreadPoolExecutor(UPLOADS, thread_name_prefix=f"mirror-check-{target.name}") as pool:
            found = pool.map(lambda n: check_file(n, manifest.files[n], target.read(n, manifest.files[n].size)), names)
            report.problems = [p for p in found if p is not None]
        report.checked = len(names)
        report.unlisted = sorted(n for n in target.names() if n not in manifest.files and n != MANIFEST_NAME)
        report.ok = not report.problems and not report.unlisted
    except (MirrorError, OSError) as e:
        report.error = str(e)
    return report


async def publish_all(
    targets: Sequence[MirrorTarget], signed: Signed, trusted: Mapping[str, TrustedKey], full: bool = False
) -> list[TargetReport]:
    return list(await asyncio.gather(*(asyncio.to_thread(publish, t, signed, trusted, full) for t in targets)))
