"""The application factory: one aiohttp app per worker process, built from the typed config.

A worker holds only :class:`~keys.statement_keys.ServingKeys` (the statement-signing key and public
keys): it cannot decrypt a registry, sign a snapshot or open the keyring. Replication runs in the
supervising process (``embassy/web/workers.py``), never in an app.
"""

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from embassy.analytics.recorder import ViewRecorder
from embassy.config import Config
from embassy.content.public_keys import keys_document
from embassy.content.statements import Signer
from embassy.content.version import ContentVersion, version_path
from embassy.mission_db import MISSION_DB
from embassy.staff.passwords import PasswordPool
from embassy.staff.service import StaffDb
from embassy.web.api.app import create_api_app
from embassy.web.cache import PageCache
from embassy.web.contact_state import CONTACT, contact_state
from embassy.web.content_service import ContentService
from embassy.web.metrics import SiteMetrics
from embassy.web.middleware import frame_middleware
from embassy.web.proxy import ClientResolver
from embassy.web.publishing import DESK, Desk, desk_ctx
from embassy.web.ratelimit import TokenBucketLimiter
from embassy.web.render import TEMPLATES, Renderer, load_asset
from embassy.web.routes import setup_routes
from embassy.web.site import SITE, Site
from embassy.web.staff.app import create_staff_app
from keys.statement_keys import ServingKeys

log = logging.getLogger("embassy.web")

CONFIG_KEY = web.AppKey("config", Config)
FLUSH_SECONDS = 5.0
MAX_BODY = 64 * 1024  # forms only; nothing larger is ever accepted


def create_app(
    config: Config,
    keys: ServingKeys,
    *,
    metrics_token: str | None = None,
    shared_metrics_dir: Path | None = None,
    contact_key: bytes | None = None,
    mirror: bool = False,
) -> web.Application:
    """The site for one process. ``shared_metrics_dir`` is where workers exchange their counters so
    any of them answers /metrics for all. ``contact_key`` signs the public forms' tokens and
    challenges (the supervisor derives it, so every worker and every restart agrees); without it a
    random one serves this process alone. ``mirror`` renders the pages of a static mirror
    (``embassy/mirror``): never served to the internet, only crawled by ``embassy mirror``."""
    app = web.Application(middlewares=[frame_middleware()], client_max_size=MAX_BODY)
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    css = load_asset("site.css", "text/css; charset=utf-8")
    icon = load_asset("favicon.svg", "image/svg+xml")
    version = ContentVersion(version_path(config.data_dir))
    cache = PageCache(version.current)
    metrics = SiteMetrics(shared_metrics_dir)
    metrics.cache_hits = lambda: (cache.hits, cache.misses)
    app[CONFIG_KEY] = config
    app[SITE] = Site(
        config=config,
        renderer=Renderer(
            env, config.mission.name, config.mission.languages, config.server.public_url, css.url, mirror=mirror
        ),
        content=ContentService(config.data_dir / MISSION_DB, version),
        cache=cache,
        recorder=ViewRecorder(config.data_dir),
        metrics=metrics,
        resolver=ClientResolver(config.server.proxy_networks()),
        signer=Signer(config.mission.name, keys.statement_signing_key(), keys.statement_key_id),
        keys_document=keys_document(config.mission.name, keys),
        css=css,
        icon=icon,
        metrics_token=metrics_token,
        search_limiter=search_limiter(config),
        extra_assets={"contact.js": load_asset("contact.js", "text/javascript; charset=utf-8")},
    )
    app[CONTACT] = contact_state(config, contact_key or secrets.token_bytes(32))
    app.cleanup_ctx.append(_content_ctx)
    app.cleanup_ctx.append(_contact_ctx)
    app.cleanup_ctx.append(_flush_ctx)
    setup_routes(app)
    if mirror:  # a static copy has no staff area, API or scheduler: it only renders what is published
        return app
    # The staff area and the API: sub-applications with their own routes and middleware (sessions
    # and CSRF; bearer tokens and JSON errors), sharing one staff database thread and password pool.
    staff_db = StaffDb(config.data_dir)
    pool = PasswordPool()
    app.cleanup_ctx.append(_staff_ctx(staff_db, pool))
    # Publishing (both sub-apps act through the desk); its scheduler starts once the database is open.
    desk = Desk(staff_db, app[SITE].signer, config.mission.languages, version)
    app[DESK] = desk
    app.cleanup_ctx.append(desk_ctx(desk))
    app.add_subapp("/staff/", create_staff_app(config, staff_db, pool, app[CONTACT].service))
    app.add_subapp("/api/v1/", create_api_app(staff_db, app[CONTACT].service))
    return app


async def _contact_ctx(app: web.Application) -> AsyncIterator[None]:
    state = app[CONTACT]
    await state.service.open()
    yield
    await state.service.close()
    state.limits.close()


def search_limiter(config: Config) -> TokenBucketLimiter | None:
    """``server.search_per_minute`` per client address, in bursts of up to a third of it, shared
    by every worker (a search costs several cached pages: it is never cached)."""
    per_minute = config.server.search_per_minute
    if not per_minute:
        return None
    return TokenBucketLimiter(per_minute / 60, max(1, per_minute // 3), config.data_dir / "run" / "ratelimit-search")


def _staff_ctx(db: StaffDb, pool: PasswordPool) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        await db.open()
        yield
        await db.close()
        pool.close()

    return ctx


async def _content_ctx(app: web.Application) -> AsyncIterator[None]:
    site = app[SITE]
    await site.content.open()
    yield
    await site.content.close()
    site.content.version.close()
    if site.search_limiter is not None:
        site.search_limiter.close()


async def _flush(site: Site) -> None:
    views, visitors = site.recorder.take()
    if views or visitors:
        await asyncio.to_thread(site.recorder.flush_sync, views, visitors)
    if site.metrics.shared_dir is not None:
        await asyncio.to_thread(site.metrics.publish)


async def _flush_ctx(app: web.Application) -> AsyncIterator[None]:
    """Write buffered view counts (and, with several workers, this worker's metrics) every few seconds."""
    site = app[SITE]

    async def loop() -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await _flush(site)
            except Exception as e:  # counting must never take the site down
                log.error("writing analytics failed: %s", e)

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    try:
        await _flush(site)
    except Exception as e:
        log.error("writing analytics at shutdown failed: %s", e)
    await asyncio.to_thread(site.recorder.close)
