"""`embassy mirror [--store S]... [--full]` and `embassy mirror verify DIR | --store S`."""

import asyncio
from pathlib import Path
from typing import Any

from embassy.cli.context import Context
from embassy.cli.errors import DEGRADED, FAILED, INTEGRITY, OK, USAGE, CliError


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser(
        "mirror", parents=[common], help="publish a static, signed, read-only copy of the public site to the stores"
    )
    p.add_argument("--store", action="append", metavar="S", help="only this store's mirror target (repeatable)")
    p.add_argument("--full", action="store_true", help="upload every file, not only what changed")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=mirror)
    msub = p.add_subparsers(dest="mirror_command", metavar="ACTION")
    v = msub.add_parser("verify", parents=[common], help="check a mirror against its signed manifest")
    v.add_argument("folder", nargs="?", metavar="DIR", help="a downloaded copy of a mirror")
    v.add_argument("--store", action="append", metavar="S", help="a store's mirror target instead (repeatable)")
    v.add_argument("--keys", metavar="KEYS.json", help="the mission's embassy-keys.json (default: the keyring)")
    v.add_argument("--json", action="store_true", help="print one JSON document")
    v.set_defaults(func=verify)


def mirror(ctx: Context) -> int:
    from embassy.contact.custody import serving_keys_with_inbox
    from embassy.mirror.errors import MirrorError
    from embassy.mirror.run import NoTargetError, mirror_round
    from embassy.mission_db import prepare_all
    from keys.errors import UnknownKeyError

    config = ctx.config
    stores = ctx.stores(ctx.args.store)
    ring, _ = ctx.load_keyring()
    try:
        keys = serving_keys_with_inbox(ring.serving_keys(), config.data_dir)
    except UnknownKeyError as e:
        raise CliError(f"{e}: run `embassy keys rotate --statement` (or `embassy serve` once) first", USAGE) from e
    prepare_all(config.data_dir)
    try:
        done = asyncio.run(mirror_round(config, keys, stores, full=ctx.args.full))
    except MirrorError as e:
        raise CliError(str(e), USAGE if isinstance(e, NoTargetError) else FAILED) from e
    if ctx.json:
        ctx.emit({
            "ok": done.ok, "files": done.files, "bytes": done.bytes, "skipped": done.skipped,
            "stores": {t.store: t.to_json() for t in done.targets},
        })  # fmt: skip
    else:
        ctx.say(f"rendered {done.files} files ({done.bytes} bytes) of {config.mission.name}")
        for t in done.targets:
            if t.ok:
                ctx.say(
                    f"  {t.store} ({t.target}): {t.uploaded} uploaded, {t.unchanged} unchanged, {t.deleted} deleted"
                )
            else:
                ctx.say(f"  {t.store} ({t.target}): FAILED: {t.error}")
    if done.ok:
        return OK
    return DEGRADED if any(t.ok for t in done.targets) else FAILED


def verify(ctx: Context) -> int:
    from embassy.cli.cmd_site import _trusted_keys
    from embassy.mirror.publish import check
    from embassy.mirror.run import targets_of
    from embassy.mirror.targets import FolderTarget, MirrorTarget

    if bool(ctx.args.folder) == bool(ctx.args.store):
        raise CliError("mirror verify: give a folder (DIR) or --store S, not both", USAGE)
    targets: list[MirrorTarget]
    if ctx.args.folder:
        folder = Path(ctx.args.folder)
        if not folder.is_dir():
            raise CliError(f"{folder}: not a folder", USAGE)
        targets = [FolderTarget("folder", folder)]
    else:
        targets = targets_of(ctx.stores(ctx.args.store))
        if not targets:
            raise CliError("none of these stores has mirror_bucket or mirror_path set", USAGE)
    keys = _trusted_keys(ctx)
    reports = [check(t, keys) for t in targets]
    for t in targets:
        t.close()
    if ctx.json:
        ctx.emit(
            {
                "ok": all(r.ok for r in reports),
                "mirrors": {t.name: r.to_json() for t, r in zip(targets, reports, strict=True)},
            }
        )
    for t, r in zip(targets, reports, strict=True):
        where = f"{t.name} ({r.where})" if ctx.args.store else r.where
        if r.error:
            ctx.note(f"embassy: {where}: NOT VERIFIED: {r.error}")
        for p in r.problems:
            ctx.note(f"embassy: {where}: {p}")
        for n in r.unlisted:
            ctx.note(f"embassy: {where}: {n!r}: not in the signed manifest")
        if r.ok:
            ctx.say(f"{where}: {r.checked} files match the manifest signed by key {r.key_id} at {r.created}")
    if any(r.error for r in reports) or any(r.problems for r in reports):
        return INTEGRITY
    return OK if all(r.ok for r in reports) else INTEGRITY
