"""What a prune did (or, in a dry run, would do): per registry and per store, as JSON for scripts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StoreReport:
    name: str
    error: str | None = None  # the store could not be pruned at all
    manifests: int = 0  # deleted, or that would be in a dry run
    manifest_bytes: int = 0
    packs: int = 0
    pack_bytes: int = 0
    deleted: int = 0  # objects actually deleted (0 in a dry run)
    deleted_bytes: int = 0
    held: list[dict[str, str]] = field(default_factory=list)
    young_packs: int = 0  # unreferenced but written within the grace period
    young_bytes: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.errors

    def problem(self, message: str) -> None:
        """Record an error once (a lost lock, say, would otherwise repeat for every object)."""
        if message not in self.errors:
            self.errors.append(message)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "ok": self.ok,
            "deleted": self.deleted,
            "deleted_bytes": self.deleted_bytes,
            "manifests": {"count": self.manifests, "bytes": self.manifest_bytes},
            "packs": {"count": self.packs, "bytes": self.pack_bytes},
            "held": sorted(self.held, key=lambda h: h["key"]),
            "young_packs": {"count": self.young_packs, "bytes": self.young_bytes},
            "errors": ([self.error] if self.error else []) + self.errors,
        }
        return doc


@dataclass
class RegistryReport:
    name: str
    kept: list[dict[str, Any]] = field(default_factory=list)  # newest first
    forgotten: list[dict[str, Any]] = field(default_factory=list)
    referenced_packs: int = 0
    # Why no pack of this registry was deleted (a kept snapshot could not be loaded), if so.
    packs_blocked: str | None = None
    integrity: bool = False  # packs_blocked because a manifest failed verification

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "kept": self.kept,
            "forgotten": self.forgotten,
            "referenced_packs": self.referenced_packs,
        }
        if self.packs_blocked:
            doc["error"] = self.packs_blocked
        return doc


@dataclass
class PruneResult:
    dry_run: bool
    registries: dict[str, RegistryReport]
    stores: dict[str, StoreReport]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.stores.values()) and not any(r.packs_blocked for r in self.registries.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "registries": {n: r.to_json() for n, r in self.registries.items()},
            "stores": {n: s.to_json() for n, s in self.stores.items()},
        }
