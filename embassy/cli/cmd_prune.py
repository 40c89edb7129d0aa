"""`embassy prune [--dry-run]`: apply the keep policy, then delete the packs no kept snapshot needs."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from embassy.backup_service import cache_dir, open_stores
from embassy.cli import aio
from embassy.cli.context import Context
from embassy.cli.errors import DEGRADED, FAILED, INTEGRITY, OK, USAGE, CliError
from embassy.config import parse_interval
from embassy.units import human_size
from replication.prune import PruneOptions, Pruner
from replication.prune_report import PruneResult


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser(
        "prune", parents=[common], help="apply `keep`: forget old snapshots, delete packs no kept snapshot needs"
    )
    p.add_argument("--dry-run", action="store_true", help="list what would go; change nothing")
    p.add_argument(
        "--grace",
        default="2h",
        metavar="DURATION",
        help="keep unreferenced packs written less than this ago, e.g. 30m, 2h, 0 (default 2h)",
    )
    p.add_argument(
        "--wait", default="10m", metavar="DURATION", help="how long to wait for running backups (default 10m)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=prune)


def _duration(option: str, text: str) -> timedelta:
    seconds = 0 if text.strip() == "0" else parse_interval(text)
    if seconds is None:
        raise CliError(f'{option} {text!r} is not a duration; write e.g. "0", "30m", "2h" or "1h30m"', USAGE)
    return timedelta(seconds=seconds)


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _summary(ctx: Context, result: PruneResult, grace: str) -> None:
    verb = "would delete" if result.dry_run else "deleted"
    for name, reg in result.registries.items():
        ctx.say(f"{name:<16} keeps {_count(len(reg.kept), 'snapshot')}, forgets {len(reg.forgotten)}")
        for snap in reg.kept:
            ctx.say(f"{'':<16} keep   {snap['id'][:12]}  {snap['time']}  ({', '.join(snap['reasons'])})")
        for snap in reg.forgotten:
            ctx.say(f"{'':<16} forget {snap['id'][:12]}  {snap['time']}")
        if reg.packs_blocked:
            ctx.say(f"{'':<16} NO PACKS DELETED: {reg.packs_blocked}")
    for name, rep in result.stores.items():
        if rep.error:
            ctx.say(f"store {name}: FAILED: {rep.error}")
            continue
        line = (
            f"store {name}: {verb} {_count(rep.manifests, 'manifest')} ({human_size(rep.manifest_bytes)}) and "
            f"{_count(rep.packs, 'pack')} ({human_size(rep.pack_bytes)})"
        )
        if rep.held:
            last = max(h["until"] for h in rep.held)[:10]
            line += f"; {len(rep.held)} held by Object Lock (the last until {last})"
        if rep.young_packs:
            line += f"; {_count(rep.young_packs, 'unused pack')} younger than {grace} kept"
        ctx.say(line)
        for h in rep.held:
            ctx.say(f"    held until {h['until']}: {h['key']}")
        for e in rep.errors:
            ctx.say(f"    error: {e}")


def prune(ctx: Context) -> int:
    config = ctx.config
    grace = _duration("--grace", ctx.args.grace)
    wait = _duration("--wait", ctx.args.wait)
    ring, _ = ctx.load_keyring()
    registries = [r.name for r in config.registries if ring.has_registry(r.name)]
    stores = open_stores(config)
    options = PruneOptions(dry_run=ctx.args.dry_run, grace=grace, lock_wait=wait)

    async def go() -> PruneResult:
        try:
            pruner = Pruner(ring, stores, registries, config.replication.keep, cache_dir(config), options)
            return await pruner.run()
        finally:
            await asyncio.gather(*(s.close() for s in stores), return_exceptions=True)

    result = aio.run(go())
    _summary(ctx, result, ctx.args.grace)
    doc = result.to_json()
    failed = [f"store {n}: {r.error}" for n, r in result.stores.items() if r.error]
    if len(failed) == len(result.stores):
        doc["error"] = "no store could be pruned: " + "; ".join(r.error or "" for r in result.stores.values())
        code = FAILED
    elif any(r.integrity for r in result.registries.values()):
        code = INTEGRITY
    elif not result.ok:
        code = DEGRADED
    else:
        code = OK
    if ctx.json:
        ctx.emit(doc)
    if code == FAILED:
        ctx.note(f"embassy: {doc['error']}")
    return code
