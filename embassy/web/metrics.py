"""Prometheus metrics without a lock on the request path.

Counters are plain numbers that the request path increments; a custom collector turns them into
Prometheus families when ``/metrics`` is read. With several workers each one also writes its
counters to ``<dir>/<pid>.json`` every few seconds, and ``/metrics`` adds up the other workers'
files to its own live values, so any worker answers for the whole server. The supervisor's
replication metrics (prometheus-client's multi-process files in ``<dir>/replication``,
embassy/continuous/metrics.py) are answered beside them.
"""

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from embassy.continuous.metrics import REPLICATION_METRICS, ReplicationCollector
from replication.fsutil import atomic_write


@dataclass
class Counts:
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)  # (route, status)
    cache: Counter[str] = field(default_factory=Counter)  # hit | miss
    render_seconds: float = 0.0
    renders: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "requests": [[r, s, n] for (r, s), n in self.requests.items()],
            "cache": dict(self.cache),
            "render_seconds": self.render_seconds,
            "renders": self.renders,
        }

    def add_json(self, doc: dict[str, object]) -> None:
        for route, status, n in doc["requests"]:  # type: ignore[attr-defined]
            self.requests[(str(route), int(status))] += int(n)
        for k, v in doc["cache"].items():  # type: ignore[attr-defined]
            self.cache[str(k)] += int(v)
        self.render_seconds += float(doc["render_seconds"])  # type: ignore[arg-type]
        self.renders += int(doc["renders"])  # type: ignore[call-overload]


class SiteMetrics:
    def __init__(self, shared_dir: Path | None = None) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.render_seconds = 0.0
        self.renders = 0
        self.content_version = 0
        self.cache_hits: Callable[[], tuple[int, int]] = lambda: (0, 0)  # the page cache's (hits, misses)
        self.shared_dir = shared_dir
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(self))
        if shared_dir is not None:
            self.registry.register(ReplicationCollector(shared_dir / REPLICATION_METRICS))

    def own(self) -> Counts:
        hits, misses = self.cache_hits()
        return Counts(Counter(self.requests), Counter({"hit": hits, "miss": misses}), self.render_seconds, self.renders)

    def publish(self) -> None:
        """Write this worker's counters for the others (multi-worker only; call from a thread)."""
        if self.shared_dir is not None:
            data = json.dumps(self.own().to_json()).encode()
            atomic_write(self.shared_dir / f"{os.getpid()}.json", data, mode=0o600)

    def combined(self) -> Counts:
        total = self.own()
        if self.shared_dir is None:
            return total
        for path in self.shared_dir.glob("*.json"):
            if path.stem == str(os.getpid()):
                continue
            try:
                total.add_json(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return total

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Collector(Collector):
    def __init__(self, metrics: SiteMetrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        data = self.m.combined()
        req = CounterMetricFamily("embassy_http_requests", "HTTP requests answered", labels=["route", "status"])
        for (route, status), n in sorted(data.requests.items()):
            req.add_metric([route, str(status)], n)
        yield req
        cache = CounterMetricFamily("embassy_page_cache", "Rendered-page cache look-ups", labels=["result"])
        for result in ("hit", "miss"):
            cache.add_metric([result], data.cache.get(result, 0))
        yield cache
        yield CounterMetricFamily("embassy_render_seconds", "Seconds spent rendering pages", value=data.render_seconds)
        yield CounterMetricFamily("embassy_renders", "Pages rendered", value=data.renders)
        yield GaugeMetricFamily("embassy_content_version", "Content version last seen", value=self.m.content_version)
