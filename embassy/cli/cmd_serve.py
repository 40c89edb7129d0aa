"""`embassy serve [--host H] [--port P] [--workers N]`."""

from typing import Any

from aiohttp import web

from embassy.cli.context import Context
from embassy.cli.errors import OK


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("serve", parents=[common], help="the site, staff area and continuous replication")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int)
    p.set_defaults(func=run)


def run(ctx: Context) -> int:
    from embassy.web.app import create_app

    config = ctx.config
    host = ctx.args.host or config.server.host
    port = ctx.args.port or config.server.port
    ctx.say(f"serving {config.mission.name} on http://{host}:{port}/  (Ctrl-C stops)")
    web.run_app(create_app(config), host=host, port=port, print=None)
    return OK
