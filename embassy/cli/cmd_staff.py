"""`embassy staff add|list|disable|enable|reset|unlock|roles|token|tokens|revoke`: staff accounts.

These are the operator's commands: they work on the mission database directly (no keyring, no
server needed), and each is in the audit log as done by ``operator``. A one-time password or a
token is printed once and kept nowhere but as a hash.
"""

import argparse
from contextlib import closing
from typing import Any

from embassy.cli.context import Context
from embassy.cli.errors import OK, USAGE, CliError
from embassy.staff.roles import ROLES
from embassy.staff.tokens import DEFAULT_DAYS, MAX_DAYS

# The rest of the staff modules (zxcvbn's dictionaries among them) load when a staff command runs.

ACTOR = "operator"
DESCRIPTION = """\
Staff accounts of the mission: roles admin, editor, publisher and consular (an account may hold
several). A new account, or one that is reset, gets a one-time password, valid for 3 days, that
must be changed at the first sign-in at /staff/login, where a second factor (a passkey or an
authenticator app) is enrolled too. Disabling an account ends its sessions and API tokens at once."""


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("staff", parents=[common], help="staff accounts, roles and API tokens",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    s = p.add_subparsers(dest="staff_command", metavar="ACTION", required=True)
    js = argparse.ArgumentParser(add_help=False)
    js.add_argument("--json", action="store_true", help="print one JSON document")
    roles = f"one of {', '.join(ROLES)}; repeat for several"

    a = s.add_parser("add", parents=[common, js], help="create an account; prints its one-time password")
    a.add_argument("name")
    a.add_argument("--role", action="append", required=True, choices=ROLES, metavar="ROLE", help=roles)
    a.set_defaults(func=add)

    s.add_parser("list", parents=[common, js], help="accounts, roles, factors, last sign-in").set_defaults(func=list_)
    for action, fn, text in (
        ("disable", disable, "disable an account: its sessions and API tokens end at once"),
        ("enable", enable, "enable a disabled account again (its tokens stay revoked)"),
        ("reset", reset, "new one-time password; every second factor and recovery code cleared"),
        ("unlock", unlock, "lift the sign-in lock that too many failed attempts put on an account"),
    ):
        x = s.add_parser(action, parents=[common, js], help=text)
        x.add_argument("name")
        x.set_defaults(func=fn)

    r = s.add_parser("roles", parents=[common, js], help="set an account's roles (its sessions end)")
    r.add_argument("name")
    r.add_argument("--role", action="append", required=True, choices=ROLES, metavar="ROLE", help=roles)
    r.set_defaults(func=set_roles)

    t = s.add_parser("token", parents=[common, js], help="an API token for scripts, printed once")
    t.add_argument("name")
    t.add_argument("--scope", action="append", choices=ROLES, metavar="ROLE",
                   help="a role the token may use (default: all the account's roles); repeat for several")  # fmt: skip
    t.add_argument("--days", type=int, default=DEFAULT_DAYS,
                   help=f"days until it expires (default {DEFAULT_DAYS}, at most {MAX_DAYS})")  # fmt: skip
    t.add_argument("--label", default="", help="what the token is for, shown in lists")
    t.set_defaults(func=token)

    ts = s.add_parser("tokens", parents=[common, js], help="list API tokens (never their secrets)")
    ts.add_argument("name", nargs="?")
    ts.set_defaults(func=list_tokens)

    rv = s.add_parser("revoke", parents=[common, js], help="revoke an API token by its id")
    rv.add_argument("token_id")
    rv.set_defaults(func=revoke)


def _run(ctx: Context, fn: Any) -> Any:
    from embassy.staff.errors import StaffError
    from embassy.staff.service import open_conns

    conns = open_conns(ctx.config.data_dir)
    try:
        with closing(conns.mission), closing(conns.sessions.conn):
            return fn(conns)
    except StaffError as e:
        raise CliError(str(e), USAGE) from e


def add(ctx: Context) -> int:
    from embassy.staff import operations
    from embassy.staff.passwords import hash_password, new_one_time_password

    password = new_one_time_password()
    password_hash = hash_password(password)
    done = _run(ctx, lambda c: operations.add(c, ctx.args.name, ctx.args.role, password_hash, actor=ACTOR))
    account = done.account
    if ctx.json:
        ctx.emit({"name": account.name, "roles": list(account.roles), "one_time_password": password,
                  "expires": account.password_expires})  # fmt: skip
    else:
        ctx.say(f"created staff account {account.name!r} ({', '.join(account.roles)})")
        ctx.say(f"one-time password: {password}")
        ctx.say(f"valid until {account.password_expires}; it must be changed at the first sign-in at /staff/login")
    return OK


def list_(ctx: Context) -> int:
    from embassy.staff import accounts

    found = _run(ctx, lambda c: (accounts.list_accounts(c.mission), c.sessions.count_active()))
    every, active = found
    if ctx.json:
        ctx.emit({"accounts": [{**a.to_json(), "sessions": active.get(a.name, 0)} for a in every]})
        return OK
    if not every:
        ctx.say("no staff accounts: add one with `embassy staff add NAME --role admin`")
    for a in every:
        state = "disabled" if a.disabled else ("must set a password" if a.one_time else "active")
        ctx.say(
            f"{a.name:<20} {','.join(a.roles):<28} factors: {', '.join(a.factors) or 'none':<14} {state:<20} "
            f"last sign-in: {a.last_sign_in or 'never'}"
        )
    return OK


def _report(ctx: Context, done: Any, text: str, **extra: Any) -> int:
    if ctx.json:
        ctx.emit({**done.account.to_json(), "sessions_ended": done.sessions_ended, **extra})
    else:
        ctx.say(text)
    return OK


def disable(ctx: Context) -> int:
    from embassy.staff import operations

    done = _run(ctx, lambda c: operations.disable(c, ctx.args.name, actor=ACTOR))
    return _report(ctx, done, f"disabled {done.account.name!r}: {done.sessions_ended} sessions ended, tokens revoked")


def enable(ctx: Context) -> int:
    from embassy.staff import operations

    done = _run(ctx, lambda c: operations.enable(c, ctx.args.name, actor=ACTOR))
    return _report(ctx, done, f"enabled {done.account.name!r}")


def reset(ctx: Context) -> int:
    from embassy.staff import operations
    from embassy.staff.passwords import hash_password, new_one_time_password

    password = new_one_time_password()
    password_hash = hash_password(password)
    done = _run(ctx, lambda c: operations.reset(c, ctx.args.name, password_hash, actor=ACTOR))
    return _report(
        ctx, done,
        f"reset {done.account.name!r}: factors cleared, {done.sessions_ended} sessions ended\n"
        f"one-time password: {password}\nvalid until {done.account.password_expires}",
        one_time_password=password, expires=done.account.password_expires,
    )  # fmt: skip


def unlock(ctx: Context) -> int:
    from embassy.staff import operations

    done = _run(ctx, lambda c: operations.unlock(c, ctx.args.name, actor=ACTOR))
    return _report(ctx, done, f"unlocked {done.account.name!r}: it may try to sign in again")


def set_roles(ctx: Context) -> int:
    from embassy.staff import operations

    done = _run(ctx, lambda c: operations.set_roles(c, ctx.args.name, ctx.args.role, actor=ACTOR))
    return _report(
        ctx, done, f"{done.account.name!r} now holds {', '.join(done.account.roles)}; {done.sessions_ended} sessions ended"
    )


def token(ctx: Context) -> int:
    from embassy.staff import tokens

    args = ctx.args
    secret, info = _run(
        ctx, lambda c: tokens.create(c.mission, args.name, args.scope, args.days, actor=ACTOR, label=args.label)
    )
    if ctx.json:
        ctx.emit({"name": info.account, "token": secret, "scopes": list(info.scopes), "expires": info.expires,
                  "id": info.id})  # fmt: skip
    else:
        ctx.say(f"API token {info.id} for {info.account!r} (scopes {', '.join(info.scopes)}), expires {info.expires}:")
        ctx.say(secret)
        ctx.say("It is shown only now; send it as `Authorization: Bearer <token>` to /api/v1/.")
    return OK


def _token_json(t: Any) -> dict[str, Any]:
    return {"id": t.id, "name": t.account, "scopes": list(t.scopes), "label": t.label, "created": t.created,
            "expires": t.expires, "revoked": t.revoked, "last_used": t.last_used, "active": t.active}  # fmt: skip


def list_tokens(ctx: Context) -> int:
    from embassy.staff import tokens

    found = _run(ctx, lambda c: tokens.list_for(c.mission, ctx.args.name))
    if ctx.json:
        ctx.emit({"tokens": [_token_json(t) for t in found]})
        return OK
    for t in found:
        state = "active" if t.active else ("revoked" if t.revoked else "expired")
        ctx.say(f"{t.id}  {t.account:<20} {','.join(t.scopes):<28} {state:<8} expires {t.expires}  {t.label}")
    return OK


def revoke(ctx: Context) -> int:
    from embassy.staff import tokens

    info = _run(ctx, lambda c: tokens.revoke(c.mission, ctx.args.token_id, actor=ACTOR))
    if ctx.json:
        ctx.emit(_token_json(info))
    else:
        ctx.say(f"revoked API token {info.id} of {info.account!r}")
    return OK
