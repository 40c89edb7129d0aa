"""Reading key bundles from stores that may be stale or hostile (docs/format.md, section 4).

A bundle counts only when it opens with the master key and the sequence in its sealed header equals
the one in its name; anything else under ``keys/`` is a finding against the store that holds it.
Every version of every bundle is read (a delete marker or a newer version laid over one hides
nothing), in every store, and the highest sequence wins: never the first store that answers, so a
store that missed a rotation, or replays an old bundle under a higher number, cannot bring back a
retired data key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from keys import BundleError, Keyring
from replication.errors import IntegrityError, ObjectNotFoundError, ReplicationError, StoreError
from replication.layout import KEYS_PREFIX, bundle_key, bundle_seq
from replication.stores import Store


@dataclass(frozen=True, slots=True)
class BundleFinding:
    store: str
    key: str
    detail: str

    def __str__(self) -> str:
        return f"store {self.store}: {self.key}: {self.detail}"


@dataclass(slots=True)
class StoreBundles:
    """What one store holds under ``keys/``: the bundles that count, by sequence, and the rest."""

    store: str
    rings: dict[int, list[Keyring]] = field(default_factory=dict)  # distinct key sets per sequence
    findings: list[BundleFinding] = field(default_factory=list)
    unopened: list[BundleFinding] = field(default_factory=list)  # bundles that did not open
    error: str | None = None  # the store could not be read

    @property
    def highest(self) -> int | None:
        return max(self.rings, default=None)

    def problem(self) -> str:
        """Why this store gave no bundle, as one line naming it."""
        if self.error:
            return self.error
        if self.unopened:
            first = max(self.unopened, key=lambda f: f.key)
            return f"store {self.store}: no key bundle belongs to this master key ({first.key}: {first.detail})"
        return f"store {self.store}: holds no key bundle (keys/bundle-*.json); is this the right store?"


async def read_bundles(store: Store, master_key: bytes) -> StoreBundles:
    """Every version of every object under ``keys/`` in ``store``, opened and checked."""
    out = StoreBundles(store.name)
    try:
        versions = await store.list_versions(KEYS_PREFIX)
    except StoreError as e:
        out.error = str(e)
        return out
    for v in versions:
        if v.is_delete_marker:
            continue
        seq = bundle_seq(v.key)
        if seq is None:
            out.findings.append(BundleFinding(store.name, v.key, "not a key bundle's name"))
            continue
        try:
            data = await store.get(v.key, None if v.version_id == "null" else v.version_id)
            ring = Keyring.from_bundle(master_key, data)
        except ObjectNotFoundError:
            continue  # gone since the listing
        except BundleError as e:
            out.unopened.append(BundleFinding(store.name, v.key, str(e)))
            continue
        except (IntegrityError, StoreError) as e:
            out.findings.append(BundleFinding(store.name, v.key, str(e).removeprefix(f"store {store.name}: ")))
            continue
        if ring.bundle_seq != seq:
            detail = f"its name says sequence {seq} but its sealed header says {ring.bundle_seq}"
            out.findings.append(BundleFinding(store.name, v.key, detail))
            continue
        held = out.rings.setdefault(seq, [])
        if ring not in held:
            held.append(ring)
    if out.rings:
        out.findings += out.unopened  # in a store that holds our bundles, one that does not open is damage
    return out


@dataclass(frozen=True, slots=True)
class Recovered:
    ring: Keyring
    store: str  # the first store (in the order given) holding the chosen bundle
    findings: list[BundleFinding]
    problems: list[str]  # stores that gave no bundle, one line each


async def survey(stores: Sequence[Store], master_key: bytes) -> list[StoreBundles]:
    return list(await asyncio.gather(*(read_bundles(s, master_key) for s in stores)))


def choose(surveys: list[StoreBundles]) -> Recovered:
    """The highest sequence any store holds that opens and matches its name.

    Should two stores hold different keys under that sequence (written by a version before this
    rule), the keys most stores hold win, then the store listed first; the others are findings.
    Raises :class:`IntegrityError` naming every store's problem when no store gives a bundle.
    """
    findings = [f for s in surveys for f in s.findings]
    problems = [s.problem() for s in surveys if not s.rings]
    top = max((s.highest for s in surveys if s.highest is not None), default=None)
    if top is None:
        raise IntegrityError("no store gave a key bundle for this master key: " + "; ".join(problems))
    candidates: list[tuple[Keyring, list[str]]] = []
    for s in surveys:
        for ring in s.rings.get(top, []):
            for known, holders in candidates:
                if known == ring:
                    holders.append(s.store)
                    break
            else:
                candidates.append((ring, [s.store]))
    ring, holders = max(candidates, key=lambda c: len(c[1]))  # max keeps the first of equals
    for other, where in candidates:
        if other is not ring:
            for name in where:
                detail = f"holds other keys under sequence {top} than store {holders[0]}"
                findings.append(BundleFinding(name, bundle_key(top), detail))
    return Recovered(ring, holders[0], findings, problems)


async def recover_keyring(stores: Sequence[Store], master_key: bytes) -> Recovered:
    """The keyring of the newest valid bundle in any of ``stores`` (see :func:`choose`)."""
    return choose(await survey(stores, master_key))


async def highest_sequence(stores: Sequence[Store], master_key: bytes) -> int:
    """The highest bundle sequence any reachable store holds that is really ours (0 for none).

    Only bundles that open and match their names count, so no store can push the numbering on.
    """
    try:
        return max((s.highest or 0 for s in await survey(stores, master_key)), default=0)
    except ReplicationError:
        return 0
