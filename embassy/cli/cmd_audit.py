"""`embassy audit verify [--local]`: check the staff audit log's hash chain, and hold it to the
newest snapshot of the mission database abroad (which carries the log as it was then)."""

import argparse
from typing import Any

from embassy.cli import aio
from embassy.cli.context import Context
from embassy.cli.errors import OK, PROBLEMS

DESCRIPTION = """\
Walks the audit log from its first entry, checking each entry's number, hash and link to the one
before it; then restores the newest verified snapshot of the mission database (the registry
mission-site) into a private temporary folder and checks that the local log still holds every
entry that snapshot holds. A local log shorter than the snapshot's had its tail cut; an entry that
differs means the log was rewritten. --local skips the snapshot (no passphrase needed).

Exit status: 0 the log holds; 1 a bad entry or a missing tail (named), or the snapshot could not be
read; 2 usage or configuration error; 4 wrong passphrase or tampered snapshot."""


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("audit", parents=[common], help="the staff audit log")
    s = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    v = s.add_parser("verify", parents=[common], help="check the audit log's hash chain and its tail",
                     description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    v.add_argument("--local", action="store_true", help="check the local chain only, not against the snapshot abroad")
    v.add_argument("--json", action="store_true", help="print one JSON document")
    v.set_defaults(func=verify)


def verify(ctx: Context) -> int:
    from embassy.audit.verify import verify_audit

    ring = None if ctx.args.local else ctx.load_keyring()[0]
    report = aio.run(verify_audit(ctx.config, ring))
    if ctx.json:
        ctx.emit(report.to_json())
    else:
        ctx.say(f"audit log: {report.entries} entries that hold, head {report.head[:16]}")
        if report.anchor is not None:
            a = report.anchor
            ctx.say(f"snapshot {a.snapshot[:12]} of {a.registry} (store {a.store}): {a.count} entries")
        elif report.anchor_checked and not report.anchor_error:
            ctx.say("no snapshot of the mission database abroad yet: only the local chain was checked")
        if report.broken is not None:
            ctx.say(f"PROBLEM: entry {report.broken.seq}: {report.broken.reason}")
        if report.anchor_error:
            ctx.say(f"PROBLEM: could not check against the snapshot abroad: {report.anchor_error}")
        if report.ok:
            ctx.say("audit log ok")
    return OK if report.ok else PROBLEMS
