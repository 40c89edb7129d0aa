"""`embassy serve [--host H] [--port P] [--workers N]`: the site, staff area and continuous replication."""

import logging
import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from embassy.cli.context import Context
from embassy.cli.errors import USAGE, CliError
from embassy.config import Config
from keys import Keyring

log = logging.getLogger("embassy.serve")


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("serve", parents=[common], help="the site, staff area and continuous replication")
    p.add_argument("--host", help="address to listen on (default: server.host)")
    p.add_argument("--port", type=int, help="port to listen on (default: server.port)")
    p.add_argument("--workers", type=int, help="serving processes sharing the port (default: the number of CPU cores)")
    p.set_defaults(func=run)


def run(ctx: Context) -> int:
    from embassy.child_env import minimal_environment
    from embassy.config import secret_from_environment
    from embassy.demo import demo_login
    from embassy.logs import configure_logging
    from embassy.mission_db import prepare_all
    from embassy.web.workers import ServeError, serve_workers

    config = ctx.config
    host = ctx.args.host or config.server.host
    port = ctx.args.port if ctx.args.port is not None else config.server.port
    workers = ctx.args.workers if ctx.args.workers is not None else (os.cpu_count() or 1)
    if not 1 <= port <= 65535:
        raise CliError(f"--port {port}: use a port between 1 and 65535", USAGE)
    if not 1 <= workers <= 64:
        raise CliError(f"--workers {workers}: use between 1 and 64 processes", USAGE)
    if not ctx.keyring_path().exists():
        ctx.load_keyring()  # the clear "no keyring; run `embassy init`" error, before anything starts
    token = None
    configure_logging(config.server.log_format, _secret_values(config, ctx.environ))
    if config.server.metrics_token_env:
        token = secret_from_environment(config.server.metrics_token_env, ctx.environ)
    smtp_password = None
    if config.smtp is not None and config.smtp.password_env:  # the supervisor sends the duty e-mails
        smtp_password = secret_from_environment(config.smtp.password_env, ctx.environ)
        if smtp_password is None:
            raise CliError(
                f"smtp.password_env: {config.smtp.password_env} is not set (nor a systemd credential); "
                "export it, or remove password_env",
                USAGE,
            )
    shown = f"[{host}]" if ":" in host else host
    configured = config.server.host
    default_url = f"http://{f'[{configured}]' if ':' in configured else configured}:{config.server.port}"
    if config.server.public_url == default_url:  # not set in the config: absolute URLs follow --host/--port
        config = replace(config, server=replace(config.server, public_url=f"http://{shown}:{port}"))
    prepare_all(config.data_dir)  # once, before any worker opens a database (embassy/migrations.py)
    login = demo_login(config)
    # Passkeys need a host name: a loopback address is offered as localhost (embassy/staff/passkeys.py)
    staff_host = "localhost" if host in ("127.0.0.1", "::1") else shown

    def prepare() -> Keyring:
        """Runs in the supervisor once the workers are spawned, before they get their keys."""
        ring, passphrase = ctx.load_keyring()
        migrated = ring.with_statement_key().without_legacy_inbox()
        if migrated is not ring:
            ctx.save_keyring(migrated, passphrase)
        if ring.statement is None and migrated.statement is not None:
            log.info(
                "made statement-signing key %s; statements signed before stay verifiable with signing key %s",
                migrated.statement.id,
                ring.signing.id,
            )
        if ring.legacy_inbox_id:
            log.info("dropped the unused inbox key %s from the keyring (the inbox keeps its own)", ring.legacy_inbox_id)
        return migrated

    def ready() -> None:
        ctx.say(
            f"serving {config.mission.name} on http://{shown}:{port}/  ({workers} worker{'s' * (workers > 1)}; Ctrl-C stops)"
        )
        if config.server.public_url != f"http://{shown}:{port}":
            ctx.say(f"public address: {config.server.public_url}")
        if login and login[1]:
            ctx.say(
                f"staff sign-in: http://{staff_host}:{port}/staff/  name {login[0]}  password {login[1]}  (demo only)"
            )
        elif login:
            ctx.say(f"staff sign-in: http://{staff_host}:{port}/staff/  name {login[0]}  (its own password is set)")

    try:
        return serve_workers(
            config, prepare, host, port, workers, minimal_environment(ctx.environ), token, ready, smtp_password
        )
    except ServeError as e:
        raise CliError(str(e), USAGE) from e


def _secret_values(config: Config, environ: Mapping[str, str]) -> list[str]:
    """What the supervisor's log lines must never show: stores' credentials, dump commands' own
    variables, the metrics token, the SMTP password and the keyring passphrase."""
    from embassy.child_env import is_base_variable
    from embassy.config import secret_from_environment

    values = [c for s in config.stores if s.credentials for c in (s.credentials.access_key, s.credentials.secret_key)]
    for reg in config.registries:
        values += [v for k, v in reg.environment if not is_base_variable(k)]
    for env in (config.server.metrics_token_env, config.smtp.password_env if config.smtp else None):
        if env:
            values.append(secret_from_environment(env, environ) or "")
    return [*values, environ.get("EMBASSY_PASSPHRASE", "")]
