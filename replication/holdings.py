"""What one store holds of one registry: its manifests and packs, with every version of each.

Prune decides from this: which snapshots exist (a snapshot hidden by a delete marker still counts,
as readers look beneath markers), how big each object is, and when each version was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from replication.layout import id_in_key, packs_prefix, parse_snapshot_key, registry_prefix, snapshots_prefix
from replication.stores import Store


@dataclass(frozen=True, slots=True)
class Version:
    id: str | None  # None on an unversioned store
    size: int
    last_modified: datetime | None
    delete_marker: bool = False


@dataclass
class Stored:
    """One key in one store, with every version the store keeps of it."""

    key: str
    versions: list[Version] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(v.size for v in self.versions if not v.delete_marker)

    @property
    def present(self) -> bool:
        return any(not v.delete_marker for v in self.versions)

    def written_before(self, cutoff: datetime) -> bool:
        """Every version older than ``cutoff`` (unknown times count as new)."""
        return all(v.last_modified is not None and v.last_modified < cutoff for v in self.versions)


@dataclass
class Holdings:
    snapshots: dict[str, tuple[str, Stored]] = field(default_factory=dict)  # id -> (key time, object)
    packs: dict[str, Stored] = field(default_factory=dict)  # id -> object


async def survey(store: Store, tag: str, versioned: bool) -> Holdings:
    """What ``store`` holds of the registry with ``tag``, from one listing (of every version and
    delete marker when the store keeps versions)."""
    objects: dict[str, Stored] = {}
    if versioned:
        for v in await store.list_versions(registry_prefix(tag)):
            obj = objects.setdefault(v.key, Stored(v.key))
            obj.versions.append(Version(v.version_id, v.size, v.last_modified, v.is_delete_marker))
    else:
        for info in await store.list_objects(registry_prefix(tag)):
            objects[info.key] = Stored(info.key, [Version(None, info.size, info.last_modified)])
    held = Holdings()
    for key, obj in objects.items():
        if not obj.present:
            continue  # only delete markers left: nothing to read, nothing to free
        if key.startswith(snapshots_prefix(tag)):
            parsed = parse_snapshot_key(key)
            if parsed is not None:
                held.snapshots[parsed[1]] = (parsed[0], obj)
        elif key.startswith(packs_prefix(tag)):
            pack_id = id_in_key(key)
            if pack_id is not None:
                held.packs[pack_id] = obj
    return held
