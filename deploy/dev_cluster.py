"""A SeaweedFS cluster on loopback: a master, volume servers, a filer and the S3 gateway, each its own
``weed`` process, as a store abroad runs when one machine is not enough.

Every object is written with the replica placement ``001`` (two copies on two volume servers of
the same rack), so the cluster keeps every object readable when one volume server dies. It does
not keep accepting writes with one of two volume servers left: a ``001`` volume needs two live
servers to take a write, so the S3 gateway holds each PUT until a volume server joins again.
:meth:`DevCluster.add_volume_server` brings in a replacement, as an operator would.

Every socket is bound to 127.0.0.1 on a pinned port (each gRPC port is its HTTP port + 10000, see
:func:`dev_stores.free_ports`), telemetry is off, and the S3 gateway starts with credentials, so
anonymous requests get 403. Used by the cluster tests; start and stop it from Python::

    cluster = DevCluster.create(Path("var/cluster"))
    cluster.start()            # ready: both buckets of dev_stores exist
    ...
    cluster.stop()             # every process, also after a failure
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dev_stores import find_weed, free_ports, s3_client, signal_group, spawn, stop_process, wait_for_buckets

REPLICATION = "001"
# Small volumes, so that even a test's few hundred MiB spread over several of them.
VOLUME_SIZE_LIMIT_MB = 64
LOOPBACK = ("-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-metricsIp=127.0.0.1")


@dataclass
class Node:
    """One ``weed`` process of the cluster."""

    name: str
    port: int
    folder: Path
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    killed: bool = False  # on purpose: its death is not a failure of the cluster

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder.parent / f"{self.name}.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class DevCluster:
    root: Path
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    master: Node
    filer: Node
    s3: Node
    volumes: list[Node]
    taken_ports: set[int] = field(default_factory=set, repr=False)
    weed: str = field(default_factory=find_weed, repr=False)

    @classmethod
    def create(
        cls,
        root: Path,
        volume_servers: int = 2,
        start_port: int = 20000,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> DevCluster:
        """A cluster description with free ports; nothing runs until :meth:`start`."""
        taken: set[int] = set()
        master_port, filer_port, s3_port, *volume_ports = free_ports(3 + volume_servers, start_port, taken)
        master = f"127.0.0.1:{master_port}"
        cluster = cls(
            root=root,
            access_key=access_key or "cluster-" + secrets.token_hex(6),
            secret_key=secret_key or secrets.token_urlsafe(24),
            master=Node(
                "master",
                master_port,
                root / "master",
                [
                    "master",
                    f"-mdir={root / 'master'}",
                    *LOOPBACK,
                    f"-port={master_port}",
                    "-peers=none",
                    "-telemetry=false",
                    f"-defaultReplication={REPLICATION}",
                    f"-volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}",
                ],
            ),
            filer=Node(
                "filer",
                filer_port,
                root / "filer",
                [
                    "filer",
                    *LOOPBACK,
                    f"-port={filer_port}",
                    f"-master={master}",
                    f"-defaultReplicaPlacement={REPLICATION}",
                    f"-defaultStoreDir={root / 'filer'}",
                    f"-localSocket={root / 'filer.sock'}",
                ],
            ),
            s3=Node(
                "s3",
                s3_port,
                root / "s3",
                [
                    "s3",
                    "-ip.bind=127.0.0.1",
                    "-metricsIp=127.0.0.1",
                    f"-port={s3_port}",
                    f"-filer=127.0.0.1:{filer_port}",
                    f"-localSocket={root / 's3.sock'}",
                    "-port.iceberg=0",
                    "-port.lance=0",
                ],
            ),
            volumes=[],
            taken_ports=taken,
        )
        for i, port in enumerate(volume_ports, 1):
            cluster.volumes.append(cluster._volume_node(f"volume{i}", port))
        return cluster

    def _volume_node(self, name: str, port: int) -> Node:
        folder = self.root / name
        argv = [
            "volume", f"-dir={folder}", *LOOPBACK, f"-port={port}", f"-master={self.master.address}", "-max=0",
            "-preStopSeconds=0",  # stop at once (default: 10 s of goodbye heartbeats)
        ]  # fmt: skip
        return Node(name, port, folder, argv)

    @property
    def endpoint(self) -> str:
        return f"http://{self.s3.address}"

    @property
    def nodes(self) -> list[Node]:
        return [self.master, *self.volumes, self.filer, self.s3]

    def client(self) -> Any:
        return s3_client(self.endpoint, self.access_key, self.secret_key)

    # -- running ---------------------------------------------------------------------------------

    def _start(self, node: Node) -> None:
        node.folder.mkdir(parents=True, exist_ok=True)
        node.process = spawn([self.weed, *node.argv], node.log, self.access_key, self.secret_key)

    def start(self, timeout: float = 60.0) -> None:
        """Start every process in order and return when S3 answers with both buckets; on any
        failure everything started is stopped again."""
        deadline = time.monotonic() + timeout
        try:
            self._start(self.master)
            self._wait(lambda: self.master_json("/cluster/status").get("IsLeader") is True, "the master", deadline)
            for node in self.volumes:
                self._start(node)
            self._wait(
                lambda: set(self.registered_volume_servers()) == self.live_volume_addresses(), "volumes", deadline
            )
            self._start(self.filer)
            self._start(self.s3)
            wait_for_buckets(
                "cluster", self.client(), self.s3.process, self.s3.log, max(1.0, deadline - time.monotonic())
            )
        except BaseException:
            self.stop()
            raise

    def _wait(self, ready: Any, what: str, deadline: float) -> None:
        last: Exception | None = None
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.process is not None and node.process.poll() is not None and not node.killed:
                    raise RuntimeError(f"cluster: {node.name} exited with {node.process.returncode}; see {node.log}")
            try:
                if ready():
                    return
            except OSError as e:  # not listening yet
                last = e
            time.sleep(0.05)
        raise RuntimeError(f"cluster: {what} not ready in time ({last})")

    def kill_volume_server(self, node: Node) -> None:
        """SIGKILL one volume server, as a power cut would; returns once the master has dropped it."""
        node.killed = True
        signal_group(node.process, signal.SIGKILL)
        if node.process is not None:
            node.process.wait(10)
        self._wait(
            lambda: node.address not in self.registered_volume_servers(),
            f"the master forgetting {node.name}",
            time.monotonic() + 30,
        )

    def add_volume_server(self, timeout: float = 30.0) -> Node:
        """A new, empty volume server, as an operator brings in to replace a dead one."""
        (port,) = free_ports(1, self.master.port + 1, self.taken_ports)
        node = self._volume_node(f"volume{len(self.volumes) + 1}", port)
        self.volumes.append(node)
        self._start(node)
        self._wait(lambda: node.address in self.registered_volume_servers(), node.name, time.monotonic() + timeout)
        return node

    def stop(self) -> None:
        """Stop every process: the S3 gateway, filer and volume servers together, then the master;
        SIGKILL whatever does not stop in time. Safe to call twice and after a partial start."""
        first = [self.s3, self.filer, *self.volumes]
        for node in first:
            signal_group(node.process, signal.SIGTERM)
        for node in first:
            # The filer's graceful gRPC stop waits for its own metadata subscription and never ends
            # (weed 4.48): it gets two seconds, then SIGKILL. The data is on the volume servers.
            stop_process(node.process, timeout=2 if node is self.filer else 10)
        stop_process(self.master.process, timeout=10)

    # -- what the master knows --------------------------------------------------------------------

    def master_json(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://{self.master.address}{path}", timeout=5) as r:
            doc: dict[str, Any] = json.load(r)
        return doc

    def live_volume_addresses(self) -> set[str]:
        return {n.address for n in self.volumes if n.running}

    def registered_volume_servers(self) -> list[str]:
        """Addresses of the volume servers the master currently counts."""
        topology = self.master_json("/dir/status").get("Topology", {})
        return [
            node["Url"]
            for dc in topology.get("DataCenters") or []
            for rack in dc.get("Racks") or []
            for node in rack.get("DataNodes") or []
        ]

    def volume_placement(self) -> dict[int, set[str]]:
        """For each volume id, the volume servers holding a copy of it (as the master reports)."""
        doc = self.master_json("/vol/status").get("Volumes", {})
        placement: dict[int, set[str]] = {}
        for racks in (doc.get("DataCenters") or {}).values():
            for nodes in racks.values():
                for address, volumes in nodes.items():
                    for volume in volumes or []:
                        placement.setdefault(int(volume["Id"]), set()).add(address)
        return placement
