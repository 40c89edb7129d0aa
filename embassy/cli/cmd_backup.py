"""`embassy backup | snapshots | restore`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from embassy.backup_service import backup_lock, cache_dir, open_stores, run_backup
from embassy.cli import aio
from embassy.cli.context import Context
from embassy.cli.errors import DEGRADED, FAILED, OK, USAGE, CliError
from embassy.cli.progress import progress_for
from embassy.cli.publish import numbered_above
from embassy.units import human_size
from keys import Keyring
from replication.backup import BackupOptions
from replication.cache import LocalCache
from replication.errors import IntegrityError, StoreError
from replication.inventory import Inventory
from replication.restore import Restorer, RestoreResult
from replication.slots import PackSlots
from replication.spec import RegistrySpec
from replication.stores import Store


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("backup", parents=[common], help="one snapshot of each (named) registry to every store")
    p.add_argument("--registry", action="append", metavar="R", help="only this registry (repeatable)")
    p.add_argument("--reread", action="store_true", help="read every file again instead of trusting the files cache")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=backup)

    p = sub.add_parser("snapshots", parents=[common], help="list snapshots")
    p.add_argument("--registry", metavar="R")
    p.add_argument("--store", metavar="S")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=snapshots)

    p = sub.add_parser("restore", parents=[common], help="restore a snapshot into a folder")
    p.add_argument("snapshot", metavar="SNAPSHOT", help="an id, an unambiguous id prefix, or 'latest'")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--registry", metavar="R")
    which.add_argument(
        "--all",
        action="store_true",
        help="every configured registry, each into DIR/<registry> (SNAPSHOT must be 'latest')",
    )
    p.add_argument("--target", required=True, type=Path, metavar="DIR")
    p.add_argument("--store", metavar="S", help="read from this store (default: the first healthy one)")
    p.add_argument("--path", metavar="P", help="only this file or folder of the snapshot")
    p.add_argument("--force", action="store_true", help="restore into a non-empty folder, replacing files")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=restore)


def _unlock_with_keys(ctx: Context, registries: list[RegistrySpec]) -> Keyring:
    """The keyring, with keys for every registry named (created and published on first use)."""
    ring, passphrase = ctx.load_keyring()
    updated = ring.with_registries(r.name for r in registries)
    if updated is not ring:
        updated = aio.run(numbered_above(open_stores(ctx.config), updated))
        ctx.save_keyring(updated, passphrase)
    return updated


def backup(ctx: Context) -> int:
    config = ctx.config
    registries = [config.registry(n) for n in ctx.args.registry] if ctx.args.registry else list(config.registries)
    if not registries:
        ctx.note("no registries configured: add [[registries]] to the config")
    ring = _unlock_with_keys(ctx, registries)
    options = BackupOptions(reread=ctx.args.reread)
    with backup_lock(config, wait=True, registries=[r.name for r in registries], on_wait=ctx.note):
        results = aio.run(run_backup(config, ring, registries, progress_for(ctx.err), options))
    for r in results:
        held = sum(1 for s in config.stores if r.stores.get(s.name) == "ok" and config.counts_for_quorum(s))
        if r.error:
            ctx.say(f"{r.registry:<16} FAILED: {r.error}")
        else:
            ctx.say(
                f"{r.registry:<16} snapshot {(r.id or '')[:12]}  {r.files} files  {human_size(r.bytes)}  "
                f"new {human_size(r.new_bytes)}  stored {human_size(r.stored_bytes)}  "
                f"quorum {'met' if r.quorum_met else 'NOT met'} ({held}/{config.replication.quorum})"
            )
        if r.gathered_packs:
            ctx.say(f"{'':<16} gathered {human_size(r.gathered_bytes)} from {r.gathered_packs} sparse packs")
        for name, status in r.stores.items():
            ctx.say(f"{'':<16} store {name}: {status}")
        for w in r.warnings:
            ctx.say(f"{'':<16} warning: {w}")
    if ctx.json:
        ctx.emit({"snapshots": [r.to_json() for r in results]})
    if any(r.error or not r.quorum_met for r in results):
        return FAILED
    if any(s != "ok" for r in results for s in r.stores.values()):
        return DEGRADED
    return OK


async def _list(
    ring: Keyring, config: Any, registries: list[RegistrySpec], stores: list[Store]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of verified snapshots (and errors), and warnings about objects that do not verify."""
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    inventory = Inventory(ring, stores, LocalCache(cache_dir(config)))
    for reg in registries:
        if not ring.has_registry(reg.name):
            continue
        inv = await inventory.registry(reg.name)
        for name, error in inv.unlisted.items():
            rows.append({"registry": reg.name, "error": str(error), "store": name})
        warnings += [f"{reg.name}: {w}" for w in inv.warnings()]
        # Whether a snapshot reached its quorum is known only when every store was listed.
        judged = len(stores) == len(config.stores) and not inv.unlisted
        for ref in inv.ordered():
            holders = inv.holders(ref.id)
            abroad = sum(1 for h in holders if config.counts_for_quorum(config.store(h)))
            try:
                summary = await inv.summary(ref.id)
            except (IntegrityError, StoreError) as e:
                rows.append({"registry": reg.name, "id": ref.id, "error": str(e), "stores": holders})
                continue
            row = {
                "registry": reg.name,
                "id": ref.id,
                "time": summary.time,
                "files": summary.files,
                "bytes": summary.bytes,
                "stores": holders,
                "quorum_met": abroad >= config.replication.quorum if judged else None,
            }
            # Below the quorum because prune forgot it and a store it set aside still holds it? Then
            # it is on its way out (forget records are read only for such a snapshot).
            if row["quorum_met"] is False and ref.id in (await inv.forgotten()).snapshots:
                row["quorum_met"], row["forgotten"] = None, True
            rows.append(row)
    return rows, warnings


def snapshots(ctx: Context) -> int:
    config = ctx.config
    ring, _ = ctx.load_keyring()
    registries = [config.registry(ctx.args.registry)] if ctx.args.registry else list(config.registries)
    stores = open_stores(config, [ctx.args.store] if ctx.args.store else None)

    async def go() -> tuple[list[dict[str, Any]], list[str]]:
        try:
            return await _list(ring, config, registries, stores)
        finally:
            await asyncio.gather(*(s.close() for s in stores))

    rows, warnings = aio.run(go())
    for warning in warnings:
        ctx.note(f"warning: {warning}")
    if ctx.json:
        ctx.emit(
            {
                "snapshots": [r for r in rows if "error" not in r],
                "errors": [r for r in rows if "error" in r],
                "warnings": warnings,
            }
        )
    else:
        for r in rows:
            if "error" in r:
                ctx.say(f"{r['registry']:<16} {r.get('id', '')[:12]:<12}  ERROR {r['error']}")
            else:
                ctx.say(
                    f"{r['registry']:<16} {r['id'][:12]}  {r['time']}  {r['files']:>7} files  "
                    f"{human_size(r['bytes']):>10}  stores: {', '.join(r['stores'])}"
                    + ("  BELOW QUORUM" if r["quorum_met"] is False else "")
                    + ("  forgotten by prune, not yet deleted there" if r.get("forgotten") else "")
                )
    return FAILED if any("error" in r for r in rows) else OK


def restore(ctx: Context) -> int:
    config = ctx.config
    args = ctx.args
    if args.all:
        if args.snapshot != "latest" or args.path:
            raise CliError(
                "--all restores the latest snapshot of every registry: give SNAPSHOT 'latest', no --path", USAGE
            )
        specs = list(config.registries)
        targets = [args.target / spec.name for spec in specs]
    else:
        specs = [config.registry(args.registry)]
        targets = [args.target]
    stores = open_stores(config, [args.store] if args.store else None)  # while the KDF runs (launch.py)
    ring, _ = ctx.load_keyring()
    for spec, target in zip(specs, targets, strict=True):
        if spec.kind == "command":
            ctx.note(f"the dump of {spec.name} lands in {target / (spec.name + '.dump')}")
        elif spec.kind == "postgres":
            dump = target / (spec.name + ".dump")
            ctx.note(f"the dump of {spec.name} lands in {dump}; load it with `pg_restore --dbname=DB {dump}`")

    async def go() -> list[RestoreResult]:
        # With --all, registries restore side by side: one is often bound by the network or disk
        # while another (a database of small blocks) keeps the CPU busy.
        progress = progress_for(ctx.err) if len(specs) == 1 else None
        slots = PackSlots(6)  # packs in flight over all registries: flat memory
        inventory = Inventory(ring, stores, LocalCache(cache_dir(config)))  # each store listed once
        try:
            return list(
                await asyncio.gather(
                    *(
                        Restorer(
                            ring, spec.name, stores, cache_dir(config), progress, pack_slots=slots, inventory=inventory
                        ).restore(args.snapshot, target, args.path, args.force)
                        for spec, target in zip(specs, targets, strict=True)
                    )
                )
            )
        finally:
            await asyncio.gather(*(s.close() for s in stores))

    results = aio.run(go())
    for result in results:
        ctx.say(
            f"restored {result.registry} snapshot {result.id[:12]} from store {result.store}: {result.files} files, "
            f"{human_size(result.bytes)} in {result.seconds:.1f}s into {result.target}"
        )
        if result.chain != "ok":
            ctx.note(f"warning: {result.registry}: snapshot chain {result.chain}")
        if result.setid_cleared:
            ctx.note(
                f"{result.registry}: cleared the setuid/setgid bits of {result.setid_cleared} entries "
                "(their owners are not restored)"
            )
        for warning in result.warnings:
            ctx.note(f"warning: {result.registry}: {warning}")
    if ctx.json:
        ctx.emit({"restores": [r.to_json() for r in results]} if args.all else results[0].to_json())
    return OK
