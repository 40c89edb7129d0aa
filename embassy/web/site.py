"""The site's state shared by every handler of one worker, reached through ``request.app[SITE]``."""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from embassy.analytics.recorder import ViewRecorder
from embassy.config import Config
from embassy.content.model import Snapshot
from embassy.content.statements import Signer
from embassy.web.cache import CachedResponse, PageCache
from embassy.web.content_service import ContentService
from embassy.web.metrics import SiteMetrics
from embassy.web.proxy import ClientResolver
from embassy.web.ratelimit import TokenBucketLimiter
from embassy.web.render import Asset, Renderer


@dataclass
class Site:
    config: Config
    renderer: Renderer
    content: ContentService
    cache: PageCache
    recorder: ViewRecorder
    metrics: SiteMetrics
    resolver: ClientResolver
    signer: Signer  # the statement-signing key: what publishing signs with
    keys_document: bytes  # /.well-known/embassy-keys.json, signed with it
    css: Asset
    icon: Asset
    metrics_token: str | None
    error_pages: dict[tuple[int, str], bytes] = field(default_factory=dict)  # (status, lang) -> HTML
    search_limiter: TokenBucketLimiter | None = None  # None: searches are not limited
    extra_assets: dict[str, Asset] = field(default_factory=dict)  # /static/<name> besides the stylesheet

    @property
    def mirror(self) -> bool:
        """Rendering a static mirror (embassy/mirror): the contact page without forms, search listing all."""
        return self.renderer.mirror

    @property
    def languages(self) -> tuple[str, ...]:
        return self.config.mission.languages

    @property
    def fallback(self) -> str:
        return self.config.mission.languages[0]

    async def cached(
        self, request: web.Request, key: str, build: Callable[[Snapshot], CachedResponse | Awaitable[CachedResponse]]
    ) -> CachedResponse:
        """The cached response for ``key``, building it from the current snapshot on a miss."""
        entry = self.cache.get(key)
        if entry is None:
            snap = await self.content.snapshot()
            started = time.perf_counter()
            built = build(snap)
            entry = built if isinstance(built, CachedResponse) else await built
            self.metrics.render_seconds += time.perf_counter() - started
            self.metrics.renders += 1
            self.metrics.content_version = snap.version
            self.cache.put(key, entry, snap.version)
        return entry

    def count_view(self, request: web.Request, page: str, lang: str) -> None:
        if self.mirror:  # rendering a mirror is nobody's visit
            return
        self.recorder.record(page, lang, self.resolver.client(request), request.headers.get("User-Agent", ""))


SITE = web.AppKey("site", Site)
