"""`embassy inbox init | recover | status`: the inbox key and its custody (docs/inbox.md)."""

import os
from pathlib import Path
from typing import Any

from embassy.cli.context import Context
from embassy.cli.errors import OK, USAGE, CliError

DEMO_SHARES = "demo-inbox-shares"


def register(sub: Any, common: Any) -> None:
    inbox = sub.add_parser("inbox", parents=[common], help="the inbox key: make it, recover it, who holds it")
    isub = inbox.add_subparsers(dest="inbox_command", metavar="{init,recover,status}", required=True)

    p = isub.add_parser("init", parents=[common], help="make the inbox key; split its recovery key among custodians")
    p.add_argument("--threshold", type=int, required=True, metavar="M")
    p.add_argument("--shares", type=int, required=True, metavar="N")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="a new or empty folder for the share files")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=init)

    p = isub.add_parser("recover", parents=[common], help="custodians' shares give an officer the inbox key again")
    p.add_argument("--share", type=Path, action="append", required=True, metavar="FILE", help="repeat once per share")
    p.add_argument("--grant", required=True, metavar="NAME", help="the consular officer or admin to give it to")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=recover)

    p = isub.add_parser("status", parents=[common], help="the inbox key, its custody, who holds it, the queue")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=status)


def write_shares(out: Path, texts: list[str]) -> list[str]:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CliError(f"--out {out}: exists and is not an empty folder; choose a new folder", USAGE)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(out, 0o700)
    files = []
    for number, text in enumerate(texts, start=1):
        path = out / f"inbox-share-{number}-of-{len(texts)}.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        files.append(str(path))
    return files


def make_inbox(ctx: Context, threshold: int, shares: int, out: Path) -> tuple[str, str, list[str], list[str]]:
    """A new inbox key, its recovery key split into share files in ``out``, grants for the officers
    who have officer keys: (inbox key id, recovery key id, share files, names granted)."""
    from embassy.contact import custody
    from embassy.contact.errors import WrongStateError
    from embassy.mission_db import MISSION_DB, connect
    from keys.inbox_keys import InboxKeyPair, new_recovery_key

    if not 2 <= threshold <= shares <= 16:
        raise CliError(f"--threshold {threshold} --shares {shares}: need 2 <= M <= N <= 16", USAGE)
    conn = connect(ctx.config.data_dir / MISSION_DB)
    try:
        if custody.current_key(conn) is not None:
            raise CliError("the inbox has a key already; messages sealed to it need it (see `embassy inbox status`)", USAGE)
        pair = InboxKeyPair.generate()
        split = new_recovery_key(threshold, shares, ctx.config.mission.name)
        files = write_shares(out, [s.text for s in split.shares])
        try:
            granted = custody.init(conn, pair, split, threshold, actor="cli")
        except WrongStateError as e:
            raise CliError(str(e), USAGE) from e
    finally:
        conn.close()
    return pair.id, split.id, files, granted


def init(ctx: Context) -> int:
    args = ctx.args
    ring, passphrase = ctx.load_keyring()  # the operator must be able to open the keyring
    inbox_id, recovery_id, files, granted = make_inbox(ctx, args.threshold, args.shares, args.out)
    if ring.legacy_inbox_id:
        ctx.save_keyring(ring.without_legacy_inbox(), passphrase)
    ctx.say(f"made inbox key {inbox_id}; contact messages are sealed to it from now on")
    ctx.say(
        f"wrote {args.shares} share files of inbox recovery key {recovery_id} to {args.out} (mode 0600); any "
        f"{args.threshold} give the inbox back with `embassy inbox recover`"
    )
    ctx.say("THESE FILES ARE SECRETS. Hand each to its custodian (print it; keep it on paper), then delete the folder: "
            f"rm -r {args.out}")  # fmt: skip
    ctx.say("officers with access: " + (", ".join(granted) if granted else "none yet (they get it from the custodians "
                                        "or an officer once they have signed in)"))  # fmt: skip
    ctx.say("restart `embassy serve` so that embassy-keys.json lists the new inbox key")
    if ctx.json:
        ctx.emit({"inbox_key_id": inbox_id, "recovery_key_id": recovery_id, "threshold": args.threshold,
                  "shares": args.shares, "files": files, "granted": granted})  # fmt: skip
    return OK


def recover(ctx: Context) -> int:
    from embassy.contact import custody
    from embassy.contact.errors import WrongStateError
    from embassy.mission_db import MISSION_DB, connect
    from keys.custody import parse_share
    from keys.inbox_keys import RECOVERY_SHARES, recovery_key_from_shares

    parsed = []
    for path in ctx.args.share:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise CliError(f"share file {path}: cannot read: {getattr(e, 'strerror', None) or e}", USAGE) from e
        parsed.append(parse_share(text, str(path), RECOVERY_SHARES))
    conn = connect(ctx.config.data_dir / MISSION_DB)
    try:
        current = custody.current_key(conn)
        if current is None:
            raise CliError("the inbox has no key: there is nothing to recover", USAGE)
        private = recovery_key_from_shares(parsed, current.recovery_public)
        try:
            keys = custody.recover(conn, private, ctx.args.grant, actor="custodians")
        except WrongStateError as e:
            raise CliError(str(e), USAGE) from e
    finally:
        conn.close()
    ctx.say(f"gave {ctx.args.grant} the inbox key{'s' * (len(keys) > 1)} {', '.join(keys)}; it opens at their next sign-in")
    if ctx.json:
        ctx.emit({"granted": ctx.args.grant, "inbox_keys": keys})
    return OK


def status(ctx: Context) -> int:
    from embassy.contact import cases, custody
    from embassy.contact.notify import outbox_problems
    from embassy.mission_db import MISSION_DB, connect

    conn = connect(ctx.config.data_dir / MISSION_DB)
    try:
        current = custody.current_key(conn)
        officers = [o for o in custody.access_list(conn) if o.eligible]
        counts = cases.counts(conn)
        problems = outbox_problems(conn)
    finally:
        conn.close()
    doc = {
        "inbox_key_id": current.id if current else None,
        "created": current.created if current else None,
        "recovery": {"key_id": current.recovery_id, "threshold": current.recovery_threshold,
                     "shares": current.recovery_shares} if current else None,
        "officers": [{"name": o.name, "roles": list(o.roles), "has_key": o.has_key, "has_access": o.has_access}
                     for o in officers],
        "cases": counts,
        "notifications_failing": problems,
    }  # fmt: skip
    if ctx.json:
        ctx.emit(doc)
        return OK
    if current is None:
        ctx.say("inbox key      none yet: run `embassy inbox init --threshold M --shares N --out DIR`")
    else:
        ctx.say(f"inbox key      {current.id}  x25519  created {current.created}")
        ctx.say(f"recovery key   {current.recovery_id}  {current.recovery_threshold} of {current.recovery_shares} "
                "custodians' shares")  # fmt: skip
    for o in officers:
        state = "has access" if o.has_access else "no access" if o.has_key else "no officer key yet (not signed in)"
        ctx.say(f"officer        {o.name:<20} {state}")
    ctx.say("cases          " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    if problems:
        ctx.say(f"notifications  {problems['count']} failing since {problems['oldest']}: {problems['error']}")
    return OK
