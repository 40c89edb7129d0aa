"""Continuous replication inside `embassy serve`: each registry on its own schedule.

Exactly one process of the server runs this (the supervising parent, which holds the keys); the
workers that answer the internet never do. Each registry has its own task, so a slow one (a dump
that takes an hour) never delays another; a task runs one round at a time, so a registry's rounds
never overlap, and the next starts ``every`` seconds after the previous one began (at once if that
one took longer). ``every`` is the registry's own key, else ``[replication] interval`` for
directory and SQLite registries, else hourly (embassy/config.py).

A round first computes the registry's change token (embassy/continuous/probe.py): when it equals
the token of the last snapshot that met the quorum, and no store that missed that snapshot has
come back since, the round ends there, having read no file content and asked no store anything. Otherwise, or once per ``[replication] full_every`` (a full
re-read that ignores the files cache, the guard against a missed change), it backs the registry
up. A SQLite registry is read through a WAL tracker the replicator keeps for it while it runs
(replication/readers/sqlite_wal.py): after its first round, a round reads only the pages written
since the previous one. The per-registry backup lock (embassy/backup_service.py) keeps it from running beside an
operator's `embassy backup` of the same registry: the round is skipped, not queued.

Beside the registries, one task checks the stores every ``STORE_CHECK`` seconds (so a store that
goes down is noticed even when nothing changes) and one evaluates the alerts
(embassy/continuous/alerts.py), reads the last drill, and publishes the state
(embassy/continuous/state.py) and the metrics (embassy/continuous/metrics.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from embassy import drill_history
from embassy.backup_service import BackupBusyError, StoreUsage, backup_lock, open_stores, run_backup
from embassy.config import Config
from embassy.continuous.alerts import Alerter, evaluate
from embassy.continuous.metrics import ReplicationMetrics
from embassy.continuous.probe import change_token
from embassy.continuous.state import RegistryState, ReplicationState, StoreFigures, StoreHealth
from keys import Keyring
from replication.backup import BackupOptions, RegistryResult
from replication.drill import parse_time
from replication.errors import ReplicationError
from replication.readers import RegistryReader, WalTracker, make_reader
from replication.spec import RegistrySpec

log = logging.getLogger("embassy.replication")
_NONE = StoreHealth()

FIRST_ROUND_DELAY = 60.0
STORE_CHECK = 30.0
ALERT_CHECK = 5.0
DRILL_CHECK = 60.0


class Replicator:
    def __init__(
        self, config: Config, ring: Keyring, metrics_dir: Path | None = None, smtp_password: str | None = None
    ) -> None:
        self.config = config
        self.ring = ring
        self.state = ReplicationState(
            config.data_dir, [r.name for r in config.registries], [s.name for s in config.stores]
        )
        self.metrics = ReplicationMetrics(metrics_dir) if metrics_dir is not None else None
        self.alerter = Alerter(config, smtp_password)
        self.changed = asyncio.Event()  # a round or a check ended: evaluate and publish now
        self._last_drill_check = 0.0
        # One per SQLite registry, across rounds: each round then reads only what changed.
        self.trackers = {r.name: WalTracker(r.path) for r in config.registries if r.kind == "sqlite" and r.path}

    def reader(self, spec: RegistrySpec, scratch: Path) -> RegistryReader:
        return make_reader(spec, scratch, self.trackers.get(spec.name))

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set; never raises for a failed round."""
        runnable = [r for r in self.config.registries if self.ring.has_registry(r.name)]
        missing = [r.name for r in self.config.registries if not self.ring.has_registry(r.name)]
        if missing:
            log.warning("registries without keys (run `embassy init` or `embassy backup` once): %s", ", ".join(missing))
        self._restore_metrics()
        await self.state.publish()
        tasks = [
            asyncio.create_task(self.registry_loop(spec, stop), name=f"replicate-{spec.name}") for spec in runnable
        ]
        tasks.append(asyncio.create_task(self.store_loop(stop), name="replication-stores"))
        tasks.append(asyncio.create_task(self.alert_loop(stop), name="replication-alerts"))
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for tracker in self.trackers.values():
                tracker.close()
            await self.state.save()
            await self.state.publish()

    # -- registries ----------------------------------------------------------------------------

    async def registry_loop(self, spec: RegistrySpec, stop: asyncio.Event) -> None:
        every = self.config.replication.every_seconds(spec)
        # The site should be up before the stores get busy (`make run` backs up just before it
        # serves), yet a server restarted every few minutes must still replicate.
        await _sleep(stop, min(FIRST_ROUND_DELAY, every / 10))
        while not stop.is_set():
            began = time.monotonic()
            try:
                await self.round(spec)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a failed round must not stop the site
                log.error("replication round of %s failed: %s", spec.name, e)
            self.changed.set()
            await _sleep(stop, max(0.0, every - (time.monotonic() - began)))

    async def round(self, spec: RegistrySpec) -> str:
        """One round of one registry; the outcome (snapshot, unchanged, failed, quorum-not-met, busy)."""
        reg = self.state.registries[spec.name]
        now = time.time()
        full = now - reg.last_full >= self.config.replication.full_every_seconds
        token = await asyncio.to_thread(change_token, spec, self.trackers.get(spec.name))
        # A store that missed the newest snapshot and answers again is caught up by a backup now,
        # changed or not (the engine back-fills what it lacks).
        returned = [s for s, f in reg.stores.items() if f.status != "ok" and self.state.stores.get(s, _NONE).reachable]
        if token is not None and token == reg.token and reg.quorum_met and not full and not returned:
            reg.recovery_point = now  # unchanged since a snapshot a quorum holds
            reg.last_round, reg.last_outcome = now, "unchanged"
            self._count(spec.name, "unchanged")
            if self.metrics:
                self.metrics.recovery_point.labels(spec.name).set(now)
            return "unchanged"
        usage: dict[str, StoreUsage] = {}
        try:
            with backup_lock(self.config, wait=False, registries=[spec.name]):
                reg.running_since = now
                self.changed.set()  # published at once: a round in progress shows
                # A store the store check found down (its breaker open, probed with back-off) is left
                # out at once: it would cost the round a deadline before the others' work began.
                down = {n: h.error or "unreachable" for n, h in self.state.stores.items() if h.reachable is False}
                results = await run_backup(
                    self.config, self.ring, [spec], options=BackupOptions(reread=full), usage=usage,
                    set_aside=down, readers=self.reader,
                )  # fmt: skip
        except BackupBusyError as e:
            log.info("%s; skipping this round", e)
            self._count(spec.name, "busy")
            return "busy"
        except ReplicationError as e:
            results = [RegistryResult(spec.name, error=str(e))]
        finally:
            reg.running_since = None
        duration = time.time() - now
        outcome = self._record(spec, reg, results[0], token, now, full, duration, usage)
        if outcome == "failed" and spec.name in self.trackers:
            # Its guard would keep the application's log from being checkpointed while the
            # rounds fail (every store down, say); the next round reads the database in full.
            await asyncio.to_thread(self.trackers[spec.name].release)
        self._count(spec.name, outcome)
        await self.state.save()
        return outcome

    def _record(
        self, spec: RegistrySpec, reg: RegistryState, result: RegistryResult, token: str | None, began: float,
        full: bool, duration: float, usage: dict[str, StoreUsage],
    ) -> str:  # fmt: skip
        reg.last_round, reg.last_duration = time.time(), duration
        for store, used in usage.items():
            figures = reg.stores.setdefault(store, StoreFigures())
            figures.uploaded_bytes += used.uploaded_bytes
            figures.uploaded_objects += used.uploaded_objects
            figures.retries += used.retries
            if self.metrics:
                self.metrics.uploaded_bytes.labels(spec.name, store).inc(used.uploaded_bytes)
                self.metrics.uploaded_objects.labels(spec.name, store).inc(used.uploaded_objects)
                self.metrics.retries.labels(spec.name, store).inc(used.retries)
        if self.metrics:
            self.metrics.duration.labels(spec.name).observe(duration)
        if result.error or not result.quorum_met:
            reg.quorum_met = False
            reg.last_error = result.error or "quorum not met: " + "; ".join(
                f"{s} {v}" for s, v in result.stores.items()
            )
            reg.last_outcome = "failed" if result.error else "quorum-not-met"
            log.error("backup of %s: %s", spec.name, reg.last_error)
            if self.metrics:
                self.metrics.quorum_met.labels(spec.name).set(0)
            return reg.last_outcome
        snapshot_time = began  # the manifest's signed time is later: written at the end
        for store, status in result.stores.items():
            figures = reg.stores.setdefault(store, StoreFigures())
            figures.status = status
            if status == "ok":
                figures.last_snapshot, figures.time = result.id, snapshot_time
                if self.metrics:
                    self.metrics.last_snapshot.labels(spec.name, store).set(snapshot_time)
        reg.token, reg.quorum_met, reg.last_error = token, True, None
        reg.recovery_point = max(reg.recovery_point or 0.0, snapshot_time)
        reg.snapshots += 1
        if full:
            reg.last_full = began
        reg.last_outcome = "snapshot"
        if self.metrics:
            self.metrics.quorum_met.labels(spec.name).set(1)
            self.metrics.recovery_point.labels(spec.name).set(reg.recovery_point)
        gathered = f", {result.gathered_bytes} bytes gathered from {result.gathered_packs} sparse packs"
        log.info(
            "backup of %s: snapshot %s, %d bytes read, %d new bytes%s%s", spec.name, (result.id or "")[:12],
            result.read_bytes, result.new_bytes, gathered if result.gathered_packs else "",
            " (full re-read)" if full else "",
        )  # fmt: skip
        return "snapshot"

    def _count(self, registry: str, outcome: str) -> None:
        if self.metrics:
            self.metrics.rounds.labels(registry, outcome).inc()

    def _restore_metrics(self) -> None:
        """The gauges of what the previous run of the server recorded (the counters start at 0)."""
        if not self.metrics:
            return
        for name, reg in self.state.registries.items():
            if reg.recovery_point:
                self.metrics.recovery_point.labels(name).set(reg.recovery_point)
            for store, figures in reg.stores.items():
                if figures.time:
                    self.metrics.last_snapshot.labels(name, store).set(figures.time)

    # -- stores and alerts ---------------------------------------------------------------------

    async def store_loop(self, stop: asyncio.Event) -> None:
        # Probed with back-off: a store set aside is asked again after STORE_CHECK, then twice as long.
        stores = open_stores(self.config, probe_after=STORE_CHECK)
        try:
            while not stop.is_set():
                checks = await asyncio.gather(*(s.check() for s in stores), return_exceptions=True)
                now = time.time()
                for store, outcome in zip(stores, checks, strict=True):
                    health = self.state.stores[store.name]
                    if isinstance(outcome, BaseException):
                        health.error = " ".join(str(outcome).split())[:300]
                        if health.reachable is not False:
                            log.warning("store %s unreachable: %s", store.name, health.error)
                        health.reachable = False
                        health.down_since = health.down_since or now
                    else:
                        if health.reachable is False:
                            log.info("store %s reachable again", store.name)
                        health.reachable, health.last_ok, health.down_since, health.error = True, now, None, None
                    if self.metrics:
                        self.metrics.store_up.labels(store.name).set(1 if health.reachable else 0)
                        self.metrics.breaker_open.labels(store.name).set(1 if store.breaker.open else 0)
                self.changed.set()
                await _sleep(stop, STORE_CHECK)
        finally:
            await asyncio.gather(*(s.close() for s in stores), return_exceptions=True)

    async def alert_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check_alerts()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # alerts must never take the server down
                log.error("replication alert check failed: %s", type(e).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(stop, self.changed), ALERT_CHECK)
            self.changed.clear()  # before the check: what changes during it wakes the next one

    async def check_alerts(self) -> None:
        now = time.time()
        if now - self._last_drill_check >= DRILL_CHECK:
            self._last_drill_check = now
            self.state.last_drill = await asyncio.to_thread(_last_drill, self.config)
            if self.metrics and self.state.last_drill is not None:
                self.metrics.drill_ok.set(1 if self.state.last_drill["ok"] else 0)
                self.metrics.drill_time.set(parse_time(self.state.last_drill["time"]).timestamp())
        raised, cleared = self.alerter.update(self.state, evaluate(self.config, self.state, now))
        if self.metrics:
            for a in raised:
                self.metrics.alert.labels(a.kind, a.subject).set(1)
            for a in cleared:
                self.metrics.alert.labels(a.kind, a.subject).set(0)
        await self.state.publish()
        await self.alerter.send_mails()


def _last_drill(config: Config) -> dict[str, object] | None:
    try:
        run = drill_history.last_run(config.data_dir)
    except Exception:  # no mission database yet, or a damaged one: no drill known
        return None
    if run is None:
        return None
    return {"time": run.time, "ok": run.ok, "passed": sum(1 for r in run.results if r.ok), "total": len(run.results)}


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def replication_loop(
    config: Config,
    ring: Keyring,
    stop: asyncio.Event,
    metrics_dir: Path | None = None,
    smtp_password: str | None = None,
) -> None:
    """Replicate until ``stop`` is set (the supervisor of `embassy serve` runs this)."""
    await Replicator(config, ring, metrics_dir, smtp_password).run(stop)
