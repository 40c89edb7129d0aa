"""`embassy keys status | split | recover | rotate`."""

import asyncio
import os
from pathlib import Path
from typing import Any

from embassy.backup_service import open_stores
from embassy.cli import aio
from embassy.cli.context import Context
from embassy.cli.errors import DEGRADED, INTEGRITY, OK, USAGE, CliError
from embassy.cli.publish import publish_new_keys
from keys import Keyring
from keys.custody import combine_shares, parse_share, split_master_key
from keys.keyring import Custody, utc_now
from replication.bundles import StoreBundles, choose, survey
from replication.errors import ReplicationError
from replication.stores import Store


def register(sub: Any, common: Any) -> None:
    keys = sub.add_parser("keys", parents=[common], help="key ids, custody shares, recovery, rotation")
    ksub = keys.add_subparsers(dest="keys_command", metavar="{status,split,recover,rotate}", required=True)

    p = ksub.add_parser("status", parents=[common], help="key ids, algorithms, dates and custody; never secrets")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=status)

    p = ksub.add_parser("split", parents=[common], help="write N custodian share files; any M recover the master key")
    p.add_argument("--threshold", type=int, required=True, metavar="M")
    p.add_argument("--shares", type=int, required=True, metavar="N")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="a new or empty folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=split)

    p = ksub.add_parser("recover", parents=[common], help="rebuild the keyring from M shares and a store")
    p.add_argument("--share", type=Path, action="append", required=True, metavar="FILE", help="repeat once per share")
    p.add_argument("--out", type=Path, metavar="KEYRING", help="default: <data_dir>/keyring")
    p.add_argument("--store", action="append", metavar="S", help="read the key bundle from this store only")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=recover)

    p = ksub.add_parser("rotate", parents=[common], help="new data keys for new snapshots; old ones stay usable")
    p.add_argument(
        "--statement",
        action="store_true",
        help="a new statement-signing key instead; earlier ones stay listed in embassy-keys.json with their validity",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=rotate)


def status(ctx: Context) -> int:
    from embassy.contact.custody import current_key_of

    ring, _ = ctx.load_keyring()
    inbox = current_key_of(ctx.config.data_dir)
    params = Keyring.sealed_params(ctx.keyring_path().read_bytes())
    doc = {
        "master_key_id": ring.master_key_id,
        "signing_key_id": ring.signing.id,
        "statement_key_id": ring.statement.id if ring.statement else None,
        "inbox_key_id": inbox.id if inbox else None,
        "data_keys": [
            {"registry": reg.registry, "id": k.id, "state": k.state, "created": k.created}
            for reg in ring.registries
            for k in reg.data_keys
        ],
        "custody": {"threshold": ring.custody.threshold, "shares": ring.custody.shares} if ring.custody else None,
        "keyring": str(ctx.keyring_path()),
        "created": ring.created,
        "algorithms": {
            "master": "256-bit, HKDF-SHA256 subkeys",
            "signing": "ed25519",
            "inbox": "x25519",
            "data": "aes-256-gcm",
            "chunk_id": "keyed blake3",
        },
        "kdf": {"algorithm": "argon2id", "opslimit": params.opslimit, "memlimit_mib": params.memlimit >> 20},
        "bundle_seq": ring.bundle_seq,
        "statement_keys": [
            {"id": k.id, "created": k.created, "retired": k.retired} for k in ring.statement_verification_keys()
        ],
    }
    if ctx.json:
        ctx.emit(doc)
        return OK
    ctx.say(f"keyring        {doc['keyring']} (argon2id, {params.memlimit >> 20} MiB, {params.opslimit} passes)")
    ctx.say(f"master key     {ring.master_key_id}  created {ring.created}")
    ctx.say(f"signing key    {ring.signing.id}  ed25519  created {ring.signing.created}  (snapshots)")
    if ring.statement:
        ctx.say(
            f"statement key  {ring.statement.id}  ed25519  created {ring.statement.created}  (published statements)"
        )
    else:
        ctx.say("statement key  none yet: the next `embassy serve`, `embassy init` or `embassy keys rotate` makes one")
    for earlier in ring.statement_keys:
        if earlier.retired:
            ctx.say(f"  earlier      {earlier.id}  ed25519  valid {earlier.created} to {earlier.retired}")
    if inbox:
        ctx.say(f"inbox key      {inbox.id}  x25519   created {inbox.created}  (not in the keyring: `embassy inbox status`)")
    else:
        ctx.say("inbox key      none yet: `embassy inbox init` makes it and splits its recovery key")
    if ring.legacy_inbox_id:
        ctx.say(f"  legacy       {ring.legacy_inbox_id}  x25519   in the keyring, never used; dropped at the next save")
    if ring.custody:
        ctx.say(
            f"custody        {ring.custody.threshold} of {ring.custody.shares} shares, split {ring.custody.created}"
        )
    else:
        ctx.say("custody        not split: run `embassy keys split` and hand the shares to custodians")
    for reg in ring.registries:
        for k in reg.data_keys:
            ctx.say(f"data key       {reg.registry:<20} {k.id}  {k.state:<8} created {k.created}")
    return OK


def split(ctx: Context) -> int:
    args = ctx.args
    if not 2 <= args.threshold <= args.shares <= 16:
        raise CliError(f"--threshold {args.threshold} --shares {args.shares}: need 2 <= M <= N <= 16", USAGE)
    out: Path = args.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CliError(f"--out {out}: exists and is not an empty folder; choose a new folder", USAGE)
    ring, passphrase = ctx.load_keyring()
    shares = split_master_key(ring.master_key, args.threshold, args.shares, ctx.config.mission.name)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(out, 0o700)
    files = []
    for share in shares:
        path = out / f"share-{share.custodian}-of-{args.shares}.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(share.text)
        files.append(str(path))
    ring, stores = _publish(ctx, ring.with_custody(Custody(args.threshold, args.shares, utc_now())), passphrase)
    ctx.say(
        f"wrote {args.shares} share files to {out} (mode 0600); any {args.threshold} recover master key "
        f"{ring.master_key_id}"
    )
    ctx.say(
        "THESE FILES ARE SECRETS. Hand each to its custodian (print it; keep it on paper), then delete "
        f"the folder: rm -r {out}"
    )
    if ctx.json:
        ctx.emit(
            {
                "master_key_id": ring.master_key_id,
                "threshold": args.threshold,
                "shares": args.shares,
                "files": files,
                "stores": stores,
            }
        )
    return OK


def recover(ctx: Context) -> int:
    args = ctx.args
    target: Path = args.out or ctx.keyring_path()
    if target.exists():
        raise CliError(f"{target} already exists; move it away or pass --out to write elsewhere", USAGE)
    parsed = []
    for path in args.share:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise CliError(f"share file {path}: cannot read: {getattr(e, 'strerror', None) or e}", USAGE) from e
        parsed.append(parse_share(text, str(path)))
    master = combine_shares(parsed)
    surveys = aio.run(_survey(open_stores(ctx.config, args.store), master))
    for s in surveys:
        if not s.rings:
            ctx.note(s.problem())  # names the store already
    try:
        found = choose(surveys)
    except ReplicationError as e:
        raise CliError(str(e), INTEGRITY) from e
    for finding in found.findings:
        ctx.note(str(finding))
    ring = found.ring
    passphrase = ctx.passphrase(new=True)
    ctx.save_keyring(ring, passphrase, target)
    ctx.say(
        f"recovered master key {ring.master_key_id} with key bundle {ring.bundle_seq} from store {found.store}; "
        f"wrote {target} sealed with the new passphrase"
    )
    if ctx.json:
        ctx.emit(
            {
                "master_key_id": ring.master_key_id,
                "keyring": str(target),
                "store": found.store,
                "bundle_seq": ring.bundle_seq,
                "registries": [r.registry for r in ring.registries],
                "findings": [str(f) for f in found.findings],
            }
        )
    return OK


async def _survey(stores: list[Store], master: bytes) -> list[StoreBundles]:
    try:
        return await survey(stores, master)
    finally:
        await asyncio.gather(*(s.close() for s in stores))


def _publish(ctx: Context, ring: Keyring, passphrase: bytes) -> tuple[Keyring, dict[str, str]]:
    """Save and publish a changed keyring, numbered above every bundle the stores hold."""
    return aio.run(publish_new_keys(open_stores(ctx.config), ring, lambda r: ctx.save_keyring(r, passphrase)))


def rotate(ctx: Context) -> int:
    if ctx.args.statement:
        return rotate_statement(ctx)
    ring, passphrase = ctx.load_keyring()
    names = [r.name for r in ctx.config.registries]
    ring, stores = _publish(ctx, ring.with_registries(names).with_statement_key().rotated(), passphrase)
    for reg in ring.registries:
        ctx.say(f"{reg.registry}: new data key {reg.active.id}; {len(reg.data_keys) - 1} older key(s) kept to decrypt")
    for name, result in stores.items():
        ctx.say(f"store {name}: {result}")
    if ctx.json:
        ctx.emit(
            {"data_keys": [{"registry": r.registry, "id": r.active.id} for r in ring.registries], "stores": stores}
        )
    return DEGRADED if any(r != "ok" for r in stores.values()) else OK


def rotate_statement(ctx: Context) -> int:
    """A new statement-signing key; the current one is retired (its private half dropped)."""
    old, passphrase = ctx.load_keyring()
    ring, stores = _publish(ctx, old.with_new_statement_key(), passphrase)
    assert ring.statement is not None
    retired = [k for k in ring.statement_keys if k.retired == ring.statement.created]
    ctx.say(f"new statement-signing key {ring.statement.id}; it signs every statement published from now on")
    for k in retired:
        ctx.say(f"retired statement key {k.id}: still verifies what it signed until {k.retired}")
    ctx.say("restart `embassy serve` so that its workers sign with the new key")
    for name, result in stores.items():
        ctx.say(f"store {name}: {result}")
    if ctx.json:
        ctx.emit(
            {
                "statement_key_id": ring.statement.id,
                "retired": [{"id": k.id, "valid_from": k.created, "valid_until": k.retired} for k in retired],
                "stores": stores,
            }
        )
    return DEGRADED if any(r != "ok" for r in stores.values()) else OK
