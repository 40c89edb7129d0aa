"""The application factory. (Placeholder until the public site lands: a single page and /healthz.)"""

from aiohttp import web

from embassy.config import Config

CONFIG_KEY = web.AppKey("config", Config)


async def _home(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    return web.Response(
        text=f"<!doctype html><html lang=en><title>{config.mission.name}</title><h1>{config.mission.name}</h1>"
        "<p>The public site is being built.</p></html>",
        content_type="text/html",
    )


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


def create_app(config: Config) -> web.Application:
    app = web.Application()
    app[CONFIG_KEY] = config
    app.router.add_get("/", _home)
    app.router.add_get("/healthz", _healthz)
    return app
