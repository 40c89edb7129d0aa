"""Reading content-addressed objects so that a newer version laid over them cannot pass for them.

Packs and manifests are named by the BLAKE3 of their bytes. On a versioned (Object Lock) bucket,
someone holding the store's credentials can add a delete marker or upload a newer version over an
object, but cannot remove the locked version underneath: when the current version is missing or
does not hash to its name, the older versions are searched for the one that does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from replication.crypto import object_id
from replication.errors import IntegrityError, ObjectNotFoundError, ObjectTooLargeError
from replication.layout import read_cap
from replication.stores import Store


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    # Set when the current version was missing or forged and an older, intact version was used.
    shadowed: str | None = None
    version_id: str | None = None


async def _hash(data: bytes) -> str:
    """BLAKE3 of an object: in a worker thread for packs (milliseconds each, never on the loop)."""
    if len(data) < (256 << 10):
        return object_id(data)
    return await asyncio.to_thread(object_id, data)


async def fetch_verified(
    store: Store, key: str, expected_id: str, *, versioned: bool | None = None, max_bytes: int | None = None
) -> Fetched:
    """The object's bytes, checked against ``expected_id``; raises IntegrityError / ObjectNotFoundError.

    No version longer than the format allows for the kind of object (or than ``max_bytes``, a size
    a verified manifest gives) is read: such a version is damage, and older versions are searched.
    """
    problem: str
    try:
        data = await store.get(key, max_bytes=max_bytes)
    except ObjectNotFoundError:
        problem = "missing (deleted or hidden by a delete marker)"
    except ObjectTooLargeError as e:
        problem = str(e).split(f"{key}: ", 1)[-1]
    else:
        if await _hash(data) == expected_id:
            return Fetched(data)
        problem = "current version does not match its id (overwritten or damaged)"
    if versioned is None:
        versioned = await store.versioned()
    if versioned:
        versions = [v for v in await store.list_versions(key) if v.key == key and not v.is_delete_marker]
        for v in sorted(versions, key=lambda v: v.last_modified, reverse=True):
            try:
                data = await store.get(key, version_id=v.version_id, max_bytes=max_bytes)
            except ObjectTooLargeError:
                continue
            if await _hash(data) == expected_id:
                return Fetched(data, shadowed=problem, version_id=v.version_id)
    if problem.startswith("missing"):
        raise ObjectNotFoundError(store.name, key)
    if problem.startswith("larger than"):
        raise ObjectTooLargeError(store.name, key, max_bytes or read_cap(key).limit)
    raise IntegrityError(f"store {store.name}: {key}: {problem}")
