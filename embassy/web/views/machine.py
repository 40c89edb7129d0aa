"""Endpoints for programs: statements, the mission's public keys, health, metrics, static files."""

import hmac
import json
import re

from aiohttp import web

from embassy.content.model import Snapshot
from embassy.web.cache import CachedResponse, build_entry
from embassy.web.site import SITE

STATEMENT_ID_RE = re.compile(r"^[0-9a-f]{16}$")
MEDIA_NAME_RE = re.compile(r"^[0-9a-f]{24}\.(jpg|png|webp)$")
EPOCH = "1970-01-01T00:00:00Z"


async def embassy_keys(request: web.Request) -> web.Response:
    site = request.app[SITE]

    def build(snap: Snapshot) -> CachedResponse:
        return build_entry(site.keys_document, "application/json", EPOCH, cache_control="public, max-age=3600")

    return (await site.cached(request, request.path, build)).respond(request)


async def statement(request: web.Request) -> web.Response:
    site = request.app[SITE]
    sid = request.match_info["id"]
    if not STATEMENT_ID_RE.match(sid):
        raise web.HTTPNotFound()
    entry = site.cache.get(request.path)
    if entry is None:
        version = site.cache.version
        found = await site.content.call(lambda repo: repo.statement(sid))
        if found is None:
            raise web.HTTPNotFound()
        if found.removed:  # its item was removed for legal reasons: never served again
            raise web.HTTPGone()
        doc = found.statement.document()
        body = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
        entry = build_entry(
            body, "application/json", doc["statement"]["published"], cache_control="public, max-age=86400"
        )
        site.cache.put(request.path, entry, version)
    return entry.respond(request)


async def media(request: web.Request) -> web.Response:
    """An uploaded image's variant, named by the hash of its bytes: the same URL is always the same
    bytes, so it may be cached for a year. Read from the database per request (images are not kept
    in the page cache, which holds pages)."""
    site = request.app[SITE]
    name = request.match_info["name"]
    if not MEDIA_NAME_RE.match(name):
        raise web.HTTPNotFound()
    etag = f'"{name.split(".")[0]}"'
    found = await site.content.call(lambda repo: repo.image(name))
    if found is None:
        raise web.HTTPNotFound()
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "ETag": etag}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=found.data, content_type=found.content_type, headers=headers)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n", headers={"Cache-Control": "no-store"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text, for the loopback (after trusted proxies) or a bearer of the metrics token."""
    site = request.app[SITE]
    allowed = site.resolver.is_loopback(request)
    if not allowed and site.metrics_token:
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        # Header text may carry undecodable bytes (as surrogates): compare bytes, never fail.
        allowed = scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode("utf-8", "surrogateescape"), site.metrics_token.encode()
        )
    if not allowed:
        return web.Response(
            status=403,
            text="metrics are answered only to the loopback or with the metrics bearer token\n",
            headers={"Cache-Control": "no-store"},
        )
    return web.Response(
        body=site.metrics.exposition(),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8", "Cache-Control": "no-store"},
    )


async def static(request: web.Request) -> web.Response:
    site = request.app[SITE]
    name = request.match_info["name"]
    asset = site.css if name == site.css.name else site.extra_assets.get(name)
    if asset is None:
        raise web.HTTPNotFound()

    def build(snap: Snapshot) -> CachedResponse:
        return build_entry(asset.body, asset.content_type, EPOCH, cache_control="public, max-age=31536000, immutable")

    return (await site.cached(request, "/static/" + name, build)).respond(request)


async def favicon(request: web.Request) -> web.Response:
    site = request.app[SITE]

    def build(snap: Snapshot) -> CachedResponse:
        return build_entry(site.icon.body, site.icon.content_type, EPOCH, cache_control="public, max-age=604800")

    return (await site.cached(request, "/favicon.svg", build)).respond(request)
