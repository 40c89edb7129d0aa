"""Replication metrics: written by the supervising process, answered by every worker's ``/metrics``.

The supervisor replicates; the workers answer the internet. prometheus-client's multi-process mode
joins them: the supervisor's metrics live in memory-mapped files under ``<dir>`` (the
``PROMETHEUS_MULTIPROC_DIR`` of that one process: ``<data_dir>/run/metrics-<pid>/replication``,
emptied when the server starts and removed when it stops), and a worker's ``/metrics`` reads them
with a :class:`~prometheus_client.multiprocess.MultiProcessCollector`. Ages (the last snapshot's per
registry and store, the RPO per registry) are computed when ``/metrics`` is read, from the
timestamps the supervisor wrote, so they keep growing between rounds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

REPLICATION_METRICS = "replication"  # the supervisor's subfolder of the server's shared metrics folder
LAST_SNAPSHOT = "embassy_replication_last_snapshot_timestamp_seconds"
RECOVERY_POINT = "embassy_replication_recovery_point_timestamp_seconds"
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, float("inf"))


class ReplicationMetrics:
    """The supervisor's side. One per process: it makes this process's metric values file-backed."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)  # read by the file-backed values
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]  # chosen at import time otherwise
        r = self.registry = CollectorRegistry()
        labels = ["registry", "store"]
        self.last_snapshot = Gauge(LAST_SNAPSHOT, "When the read of the newest snapshot in the store began (Unix time)",
                                   labels, registry=r, multiprocess_mode="mostrecent")  # fmt: skip
        self.recovery_point = Gauge(RECOVERY_POINT, "The newest state of the registry held by a quorum (Unix time)",
                                    ["registry"], registry=r, multiprocess_mode="mostrecent")  # fmt: skip
        self.uploaded_bytes = Counter("embassy_replication_uploaded_bytes", "Bytes uploaded", labels, registry=r)
        self.uploaded_objects = Counter("embassy_replication_uploaded_objects", "Objects uploaded", labels, registry=r)
        self.retries = Counter("embassy_replication_retries", "Store requests retried", labels, registry=r)
        self.rounds = Counter("embassy_replication_rounds", "Rounds by outcome (snapshot, unchanged, failed, "
                              "quorum-not-met, busy)", ["registry", "outcome"], registry=r)  # fmt: skip
        self.duration = Histogram("embassy_replication_backup_duration_seconds", "Duration of a backup",
                                  ["registry"], buckets=DURATION_BUCKETS, registry=r)  # fmt: skip
        self.quorum_met = Gauge("embassy_replication_quorum_met", "1 when the registry's last snapshot met the quorum",
                                ["registry"], registry=r, multiprocess_mode="mostrecent")  # fmt: skip
        self.store_up = Gauge("embassy_replication_store_up", "1 when the store answered its last check", ["store"],
                              registry=r, multiprocess_mode="mostrecent")  # fmt: skip
        self.breaker_open = Gauge("embassy_replication_breaker_open", "1 while the store is set aside (its circuit "
                                  "breaker is open), probed with back-off", ["store"], registry=r,
                                  multiprocess_mode="mostrecent")  # fmt: skip
        self.alert = Gauge("embassy_replication_alert", "1 while the alert is raised", ["kind", "subject"],
                           registry=r, multiprocess_mode="mostrecent")  # fmt: skip
        self.drill_ok = Gauge("embassy_replication_last_drill_ok", "1 when the last drill passed, 0 when it failed",
                              registry=r, multiprocess_mode="mostrecent")  # fmt: skip
        self.drill_time = Gauge("embassy_replication_last_drill_timestamp_seconds", "When the last drill began",
                                registry=r, multiprocess_mode="mostrecent")  # fmt: skip


class ReplicationCollector(Collector):
    """The workers' side: the supervisor's metrics, and the ages derived from its timestamps."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def collect(self) -> Iterator[Metric]:
        if not self.folder.is_dir():
            return
        snapshot_age = GaugeMetricFamily("embassy_replication_last_snapshot_age_seconds",
                                         "Seconds since the newest snapshot's read began", labels=["registry", "store"])  # fmt: skip
        rpo = GaugeMetricFamily("embassy_replication_rpo_seconds", "Seconds since the registry's recovery point",
                                labels=["registry"])  # fmt: skip
        now = time.time()
        merged = MultiProcessCollector(None, path=str(self.folder))  # type: ignore[no-untyped-call]
        for family in merged.collect():  # type: ignore[no-untyped-call]
            yield family
            for sample in family.samples:
                if sample.name == LAST_SNAPSHOT and sample.value > 0:
                    snapshot_age.add_metric([sample.labels["registry"], sample.labels["store"]], now - sample.value)
                elif sample.name == RECOVERY_POINT and sample.value > 0:
                    rpo.add_metric([sample.labels["registry"]], now - sample.value)
        yield snapshot_age
        yield rpo
