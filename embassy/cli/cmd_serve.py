"""`embassy serve [--host H] [--port P] [--workers N]`: the site, staff area and continuous replication."""

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from embassy.cli.context import Context
from embassy.cli.errors import USAGE, CliError


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("serve", parents=[common], help="the site, staff area and continuous replication")
    p.add_argument("--host", help="address to listen on (default: server.host)")
    p.add_argument("--port", type=int, help="port to listen on (default: server.port)")
    p.add_argument("--workers", type=int, help="serving processes sharing the port (default: the number of CPU cores)")
    p.set_defaults(func=run)


def run(ctx: Context) -> int:
    from embassy.config import secret_from_environment
    from embassy.demo import demo_login
    from embassy.web.app import create_app
    from embassy.web.workers import ServeError, serve_single, serve_workers

    config = ctx.config
    host = ctx.args.host or config.server.host
    port = ctx.args.port if ctx.args.port is not None else config.server.port
    workers = ctx.args.workers if ctx.args.workers is not None else (os.cpu_count() or 1)
    if not 1 <= port <= 65535:
        raise CliError(f"--port {port}: use a port between 1 and 65535", USAGE)
    if not 1 <= workers <= 64:
        raise CliError(f"--workers {workers}: use between 1 and 64 processes", USAGE)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    ring, _ = ctx.load_keyring()
    token = None
    if config.server.metrics_token_env:
        token = secret_from_environment(config.server.metrics_token_env, ctx.environ)
    shown = f"[{host}]" if ":" in host else host
    configured = config.server.host
    default_url = f"http://{f'[{configured}]' if ':' in configured else configured}:{config.server.port}"
    if config.server.public_url == default_url:  # not set in the config: absolute URLs follow --host/--port
        config = replace(config, server=replace(config.server, public_url=f"http://{shown}:{port}"))
    login = demo_login(config)

    def ready() -> None:
        ctx.say(
            f"serving {config.mission.name} on http://{shown}:{port}/  ({workers} worker{'s' * (workers > 1)}; Ctrl-C stops)"
        )
        if config.server.public_url != f"http://{shown}:{port}":
            ctx.say(f"public address: {config.server.public_url}")
        if login:
            ctx.say(f"staff sign-in: http://{shown}:{port}/staff/  name {login[0]}  password {login[1]}  (demo only)")

    try:
        if workers == 1:
            app = create_app(config, ring, metrics_token=token, replicate=True)
            return serve_single(app, host, port, ready)

        def make_app(metrics_dir: Path) -> Any:
            return create_app(config, ring, metrics_token=token, shared_metrics_dir=metrics_dir)

        return serve_workers(make_app, config, ring, host, port, workers, ready)
    except ServeError as e:
        raise CliError(str(e), USAGE) from e
