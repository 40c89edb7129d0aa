"""The public site's commands: `embassy analytics` and `embassy statement verify`."""

import json
from pathlib import Path
from typing import Any

from embassy.cli.context import Context
from embassy.cli.errors import OK, PROBLEMS, USAGE, CliError


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("analytics", parents=[common], help="page views per page, language and day; unique visitors")
    p.add_argument("--days", type=int, default=30, help="how many days back, today included (default 30)")
    p.add_argument("--top", type=int, default=10, help="top pages per language (default 10)")
    p.add_argument("--chart", metavar="FILE.svg", help="also draw the daily counts as an SVG chart")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=analytics)

    s = sub.add_parser("statement", parents=[common], help="signed statements of the mission")
    ssub = s.add_subparsers(dest="statement_command", metavar="ACTION", required=True)
    v = ssub.add_parser("verify", parents=[common], help="check a statement downloaded from the site")
    v.add_argument("file", metavar="FILE", help="the statement JSON (/statements/ID.json)")
    v.add_argument("--keys", metavar="KEYS.json", help="the mission's embassy-keys.json (default: the keyring)")
    v.add_argument("--json", action="store_true", help="print one JSON document")
    v.set_defaults(func=statement_verify)


def analytics(ctx: Context) -> int:
    from embassy.analytics.chart import daily_chart_svg
    from embassy.analytics.report import build_report
    from replication.fsutil import atomic_write

    if not 1 <= ctx.args.days <= 3660:
        raise CliError(f"--days {ctx.args.days}: use between 1 and 3660", USAGE)
    if not 1 <= ctx.args.top <= 1000:
        raise CliError(f"--top {ctx.args.top}: use between 1 and 1000", USAGE)
    report = build_report(ctx.config.data_dir, ctx.args.days, ctx.args.top)
    if ctx.args.chart:
        chart = Path(ctx.args.chart)
        atomic_write(chart, daily_chart_svg(report).encode())
        ctx.note(f"wrote the daily chart to {chart}")
    if ctx.json:
        ctx.emit(report.to_json())
        return OK
    ctx.say(f"{ctx.config.mission.name}: {report.since} to {report.until} (UTC days; bots counted apart)")
    ctx.say()
    ctx.say(f"{'day':<12}{'views':>8}{'visitors':>10}{'bot views':>11}{'bot visitors':>14}")
    for d in report.days:
        if d.views or d.bot_views or d is report.days[-1]:
            ctx.say(f"{d.day:<12}{d.views:>8}{d.uniques:>10}{d.bot_views:>11}{d.bot_uniques:>14}")
    for lang, pages in report.top_pages.items():
        ctx.say()
        ctx.say(f"top pages in {lang}:")
        for p in pages:
            ctx.say(f"  {p.views:>7}  /{lang}/{p.page}" + (f"   (+{p.bot_views} by bots)" if p.bot_views else ""))
    if not report.top_pages:
        ctx.say()
        ctx.say("no page views recorded in these days")
    return OK


def statement_verify(ctx: Context) -> int:
    from embassy.content.errors import StatementError
    from embassy.content.statements import verify_document

    path = Path(ctx.args.file)
    document = _read_json(path)
    try:
        statement = verify_document(document, _trusted_keys(ctx))
    except StatementError as e:
        where = f"{ctx.args.keys}" if ctx.args.keys and "keys document" in str(e) else str(path)
        ctx.note(f"embassy: {where}: NOT AUTHENTIC: {e}")
        if ctx.json:
            ctx.emit({"ok": False, "file": str(path), "error": str(e)})
        return PROBLEMS
    if ctx.json:
        ctx.emit({"ok": True, "file": str(path), "key_id": statement["key_id"], "statement": statement})
    elif statement["kind"] == "withdrawal":
        ctx.say(
            f"{path}: authentic statement of {statement['mission']}, signed by key {statement['key_id']}: "
            f"withdrawal of statement {statement.get('withdraws', '?')} ({statement['title']!r}, {statement['lang']}) "
            f"at {statement['published']}: {statement.get('reason', '')}"
        )
    else:
        edition = f", edition {statement['edition']}" if "edition" in statement else ""
        ctx.say(
            f"{path}: authentic statement of {statement['mission']}, signed by key {statement['key_id']}: "
            f"{statement['title']!r} ({statement['lang']}{edition}, published {statement['published']})"
        )
    return OK


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise CliError(f"{path}: cannot read: {e.strerror}", USAGE) from e
    except ValueError as e:
        raise CliError(f"{path}: not JSON: {e}", USAGE) from e


def _trusted_keys(ctx: Context) -> Any:
    """The statement keys to trust: a downloaded embassy-keys.json, else the keyring's."""
    from embassy.content.errors import KeysDocumentError
    from embassy.content.public_keys import trusted, trusted_keys

    if ctx.args.keys:
        kpath = Path(ctx.args.keys)
        try:
            return trusted_keys(_read_json(kpath))
        except KeysDocumentError as e:
            raise CliError(f"{kpath}: {e}", USAGE) from e
    ring, _ = ctx.load_keyring()
    return trusted(ring.statement_verification_keys())
