"""`embassy status`: the stores, each registry's newest snapshot per store and its age (RPO), the last drill."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from typing import Any

from embassy import drill_history
from embassy.backup_service import cache_dir, open_stores
from embassy.cli import aio
from embassy.cli.context import Context
from embassy.cli.errors import OK, PROBLEMS
from embassy.config import Config
from embassy.drill_report import human_age
from keys import Keyring
from replication.cache import LocalCache
from replication.drill import parse_time
from replication.errors import ReplicationError
from replication.inventory import Inventory
from replication.spec import RegistrySpec
from replication.stores import Store

HELP = "stores, registries, last snapshot per registry and store, age (RPO), last drill"
DESCRIPTION = """\
Checks that each store answers, finds each registry's newest snapshot in each store (its manifest
verified: signature, id, signed time) and its age, which is the RPO if the registry had to be
restored now; and shows the last drill from the drill history.

Exit status: 0 all stores reachable, every store abroad holds each registry's newest snapshot and
the last drill (if any) passed; 1 a store is unreachable, a store abroad lacks a registry's newest
snapshot (it is named; the next backup back-fills it), a registry has no snapshot in any store,
or the last drill failed; 2 usage or configuration error."""


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser(
        "status",
        parents=[common],
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=status)


def status(ctx: Context) -> int:
    config = ctx.config
    ring, _ = ctx.load_keyring()
    stores = open_stores(config)
    now = datetime.now(UTC)

    async def go() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        try:
            return await _survey(config, ring, stores, now)
        finally:
            await asyncio.gather(*(s.close() for s in stores), return_exceptions=True)

    store_rows, registry_rows = aio.run(go())
    run = drill_history.last_run(config.data_dir)
    last_drill: dict[str, Any] | None = None
    if run is not None:
        last_drill = {
            "time": run.time,
            "ok": run.ok,
            "age_seconds": round((now - parse_time(run.time)).total_seconds(), 1),
            "passed": sum(1 for r in run.results if r.ok),
            "total": len(run.results),
            "results": [r.to_json() for r in run.results],
        }
    problems = (
        any(not s["reachable"] for s in store_rows)
        or any(r["last_snapshot"] is None or r["behind"] for r in registry_rows)
        or (last_drill is not None and not last_drill["ok"])
    )
    if ctx.json:
        ctx.emit({"ok": not problems, "stores": store_rows, "registries": registry_rows, "last_drill": last_drill})
    else:
        _print(ctx, store_rows, registry_rows, last_drill)
    return PROBLEMS if problems else OK


async def _survey(
    config: Config, ring: Keyring, stores: list[Store], now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    checks = await asyncio.gather(*(s.check() for s in stores), return_exceptions=True)
    store_rows = []
    down: dict[str, str] = {}
    for store, outcome in zip(stores, checks, strict=True):
        if isinstance(outcome, BaseException) and not isinstance(outcome, ReplicationError | OSError):
            raise outcome
        error = _one_line(outcome) if isinstance(outcome, BaseException) else None
        if error:
            down[store.name] = error
        spec = store.spec
        store_rows.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "jurisdiction": spec.jurisdiction,
                "counts_for_quorum": config.counts_for_quorum(spec),
                "object_lock_days": spec.object_lock_days,
                "location": spec.describe(),
                "reachable": error is None,
                "error": error,
            }
        )
    # Only the stores that answered are listed; each once, for every registry.
    inventory = Inventory(ring, [s for s in stores if s.name not in down], LocalCache(cache_dir(config)))
    registry_rows = [await _registry(ring, reg, stores, down, inventory, now) for reg in config.registries]
    abroad = [s.name for s in stores if config.counts_for_quorum(s.spec) and s.name not in down]
    for row in registry_rows:
        # A store abroad that answered but lacks the newest snapshot missed a backup: the copies
        # abroad are behind even though every store is up.
        newest = row["last_snapshot"]
        row["behind"] = [n for n in abroad if newest and row["stores"][n]["id"] != newest]
    return store_rows, registry_rows


async def _registry(
    ring: Keyring, reg: RegistrySpec, stores: list[Store], down: dict[str, str], inventory: Inventory, now: datetime
) -> dict[str, Any]:
    row: dict[str, Any] = {"name": reg.name, "kind": reg.kind, "last_snapshot": None, "time": None, "age_seconds": None}
    if not ring.has_registry(reg.name):
        row["stores"] = {s.name: _held(None, None, now, "no keys yet: never backed up") for s in stores}
        row["error"] = "no keys yet: never backed up (run `embassy backup`)"
        return row
    inv = await inventory.registry(reg.name, complete=False, packs=False)

    async def newest(store: Store) -> dict[str, Any]:
        if store.name in down:
            return _held(None, None, now, "store unreachable")
        if store.name in inv.unlisted:
            return _held(None, None, now, _one_line(inv.unlisted[store.name]))
        ref = await inv.latest(store.name)  # trusted only once verified (hash, signature, registry, time)
        if ref is None:
            return _held(None, None, now, None)
        return _held(ref.id, _iso(ref.key_time), now, None)

    held = [await newest(s) for s in stores]
    row["stores"] = {s.name: h for s, h in zip(stores, held, strict=True)}
    found = [h for h in held if h["id"]]
    if found:
        best = max(found, key=lambda h: h["time"])
        row.update(last_snapshot=best["id"], time=best["time"], age_seconds=best["age_seconds"])
    return row


def _iso(key_time: str) -> str:
    """``20261127T082146.123456Z`` -> ``2026-11-27T08:21:46.123456Z`` (the signed time, verified)."""
    d, t = key_time[:8], key_time[9:]
    return f"{d[:4]}-{d[4:6]}-{d[6:]}T{t[:2]}:{t[2:4]}:{t[4:]}"


def _held(sid: str | None, time: str | None, now: datetime, error: str | None) -> dict[str, Any]:
    age = round((now - parse_time(time)).total_seconds(), 1) if time else None
    return {"id": sid, "time": time, "age_seconds": age, "error": error}


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    store = getattr(e, "store", None)
    if store:  # the store layer names the store at each level: say it once
        prefix = f"store {store}: "
        text = prefix + text.removeprefix(prefix).replace(prefix, "")
    return text


def _print(
    ctx: Context, stores: list[dict[str, Any]], registries: list[dict[str, Any]], last_drill: dict[str, Any] | None
) -> None:
    ctx.say("stores")
    for s in stores:
        quorum = "counts for quorum" if s["counts_for_quorum"] else "home: not in quorum"
        lock = f", lock {s['object_lock_days']} d" if s["object_lock_days"] else ""
        state = "reachable" if s["reachable"] else f"UNREACHABLE: {s['error']}"
        ctx.say(f"  {s['name']:<10} {s['kind']:<10} {s['jurisdiction'] or '-':<4} {quorum}{lock:<12}  {state}")
    names = [s["name"] for s in stores]
    ctx.say("")
    header = f"  {'registry':<16} {'newest':<12} {'age (RPO)':<12}" + "".join(f" {n:<14}" for n in names)
    ctx.say("registries (newest snapshot in any store, and in each store)")
    ctx.say(header)
    for r in registries:
        age = human_age(r["age_seconds"]) if r["age_seconds"] is not None else "-"
        cells = ""
        for n in names:
            h = r["stores"][n]
            if h["id"]:
                cell = h["id"][:12] + ("" if h["id"] == r["last_snapshot"] else "*")
            elif h["error"]:
                cell = "unreachable" if h["error"] == "store unreachable" else "error"
            else:
                cell = "none"
            cells += f" {cell:<14}"
        newest = (r["last_snapshot"] or "NONE")[:12]
        ctx.say(f"  {r['name']:<16} {newest:<12} {age:<12}{cells}")
        for n in names:
            h = r["stores"][n]
            if h["error"] and h["error"] not in ("store unreachable",) and not r.get("error"):
                ctx.say(f"  {'':<16} store {n}: {h['error']}")
        if r.get("error"):
            ctx.say(f"  {'':<16} {r['error']}")
        for n in r.get("behind", []):
            ctx.say(f"  {'':<16} store {n} lacks the newest snapshot (the next backup back-fills it)")
    if any(h["id"] and h["id"] != r["last_snapshot"] for r in registries for h in r["stores"].values()):
        ctx.say("  * an older snapshot than the newest: that store missed a backup (the next backup back-fills it)")
    ctx.say("")
    if last_drill is None:
        ctx.say("last drill      never: run `embassy drill` to prove the copies restore")
    else:
        verdict = "passed" if last_drill["ok"] else "FAILED"
        ctx.say(
            f"last drill      {last_drill['time']} ({human_age(last_drill['age_seconds'])} ago): {verdict}, "
            f"{last_drill['passed']} of {last_drill['total']} restores verified"
        )
        failed: dict[tuple[str, str], list[str]] = {}
        for res in last_drill["results"]:
            if not res["ok"]:
                failed.setdefault((res["store"], res["error"] or "failed"), []).append(res["registry"])
        for (store, error), regs in failed.items():
            ctx.say(f"  store {store} ({', '.join(regs)}): {error}")
