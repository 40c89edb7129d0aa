"""`embassy verify` and `embassy repair`."""

from __future__ import annotations

import asyncio
from typing import Any

from embassy.backup_service import cache_dir, open_stores
from embassy.cli import aio
from embassy.cli.context import Context
from embassy.cli.errors import INTEGRITY, OK, PROBLEMS, USAGE, CliError
from embassy.cli.progress import progress_for
from replication.repair import Repairer
from replication.verify import HeadStart, Verifier, VerifyReport


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("verify", parents=[common], help="check every store against the signed manifests")
    p.add_argument("--store", action="append", metavar="S", help="only this store (repeatable)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--read-data", action="store_true", help="download and decrypt everything")
    group.add_argument(
        "--read-data-subset",
        type=float,
        metavar="PCT",
        help="download and check PCT%% of the packs, least recently checked first",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=verify)

    p = sub.add_parser("repair", parents=[common], help="copy what a store lacks or holds damaged from a healthy one")
    p.add_argument("--store", action="append", metavar="S", help="repair only this store (repeatable)")
    p.add_argument("--read-data", action="store_true", help="also read every pack to find damage first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=repair)


def _share(ctx: Context) -> float:
    pct = getattr(ctx.args, "read_data_subset", None)
    if pct is not None:
        if not 0 < pct <= 100:
            raise CliError(f"--read-data-subset {pct:g}: give a percentage above 0 and at most 100", USAGE)
        return float(pct) / 100
    return 1.0 if ctx.args.read_data else 0.0


def _print_report(ctx: Context, report: VerifyReport) -> None:
    for name, r in report.stores.items():
        state = "ok" if r.ok else "PROBLEMS"
        extra = f", read {r.read_packs} packs" if r.read_packs else ""
        ctx.say(f"store {name}: {state} ({r.checked} objects checked{extra})")
        if r.error:
            ctx.say(f"  unreachable: {r.error}")
        for label, items in (
            ("missing", r.missing),
            ("damaged", r.damaged),
            ("tampered", r.tampered),
            ("chain", r.chain),
            ("forged", r.forged),
        ):
            for item in items[:20]:
                ctx.say(f"  {label}: {item}")
            if len(items) > 20:
                ctx.say(f"  ... and {len(items) - 20} more {label}")
        if r.unreferenced:
            ctx.say(f"  {len(r.unreferenced)} unreferenced pack(s) (left by interrupted backups; prune removes them)")
    for name, view in report.registries.items():
        for sid, why in view.untrusted.items():
            ctx.say(
                f"registry {name}: snapshot {sid[:12]}: no store holds a copy that verifies"
                f" (lost everywhere, or an object that was never this mission's snapshot): {why}"
            )


def verify(ctx: Context) -> int:
    config = ctx.config
    share = _share(ctx)
    checked = open_stores(config, ctx.args.store)
    # Other stores are read too (never written): a store is held to what all of them hold.
    others = [s for s in open_stores(config) if s.name not in {c.name for c in checked}]

    async def go() -> VerifyReport:
        head = HeadStart(checked, share >= 1)
        early = asyncio.create_task(head.run())
        try:
            ring, _ = await asyncio.to_thread(ctx.load_keyring)  # meanwhile the head start lists and reads
            await early
            verifier = Verifier(
                ring,
                checked + others,
                [r.name for r in config.registries],
                cache_dir(config),
                share,
                progress_for(ctx.err),
                targets=[s.name for s in checked],
                head_start=head,
            )
            return await verifier.run()
        finally:
            early.cancel()
            head.drop()
            await asyncio.gather(*(s.close() for s in checked + others))

    report = aio.run(go())
    report.stores = {s.name: report.stores[s.name] for s in checked}
    _print_report(ctx, report)
    if ctx.json:
        ctx.emit(report.to_json())
    if report.nothing_trusted:
        ctx.note("no snapshot manifest could be trusted: wrong keyring, or every copy was altered")
        return INTEGRITY
    if report.forged:
        ctx.note("a manifest signed by another key was found: someone with write access forged a snapshot")
        return INTEGRITY
    return OK if report.ok else PROBLEMS


def repair(ctx: Context) -> int:
    config = ctx.config
    ring, _ = ctx.load_keyring()
    stores = open_stores(config)
    targets = [config.store(n).name for n in ctx.args.store] if ctx.args.store else None

    async def go() -> Any:
        try:
            repairer = Repairer(
                ring,
                stores,
                [r.name for r in config.registries],
                cache_dir(config),
                targets,
                1.0 if ctx.args.read_data else 0.0,
                progress_for(ctx.err),
            )
            return await repairer.run()
        finally:
            await asyncio.gather(*(s.close() for s in stores))

    results, report = aio.run(go())
    for name, r in results.items():
        ctx.say(
            f"store {name}: copied {r.copied}, uncovered {r.uncovered}"
            + (f", NOT healed: {len(r.still_missing)}" if r.still_missing else ", healthy")
        )
        for item in r.still_missing[:20]:
            ctx.say(f"  not healed: {item}")
        if r.error:
            ctx.say(f"  error: {r.error}")
    if ctx.json:
        ctx.emit({"ok": all(r.ok for r in results.values()), "stores": {n: r.to_json() for n, r in results.items()}})
    if report.nothing_trusted:
        return INTEGRITY
    return OK if all(r.ok for r in results.values()) else PROBLEMS
