"""``GET /api/v1/replication``: the server's continuous replication as its supervisor last published it.

The shape of `embassy status --json` (stores, registries with their newest snapshot per store and
its age, the last drill) seen from the server's own rounds, with each registry's RPO, outcome and
figures per store, and the alerts raised (embassy/continuous/state.py writes it).
"""

from typing import Literal

from pydantic import Field

from embassy.web.api.models import TIME, Response

Outcome = Literal["", "snapshot", "unchanged", "failed", "quorum-not-met", "busy"]


class ReplicationStore(Response):
    name: str
    reachable: bool | None = Field(description="As of the last check; null before the first")
    error: str | None
    last_ok: str | None = Field(json_schema_extra=TIME)
    down_since: str | None = Field(json_schema_extra=TIME)


class ReplicationHeld(Response):
    id: str | None = Field(description="The newest snapshot this server wrote to the store")
    time: str | None = Field(json_schema_extra=TIME, description="When that snapshot's read began")
    age_seconds: float | None
    status: str = Field(description='"ok" or "failed: ..." in the last round')
    uploaded_bytes: int
    uploaded_objects: int
    retries: int


class ReplicationRegistry(Response):
    name: str
    last_snapshot: str | None
    time: str | None = Field(json_schema_extra=TIME)
    age_seconds: float | None
    rpo_seconds: float = Field(description="Seconds since the newest state a quorum holds (recovery point)")
    recovery_point: str | None = Field(json_schema_extra=TIME)
    last_round: str | None = Field(json_schema_extra=TIME)
    running_since: str | None = Field(json_schema_extra=TIME, description="A backup of it is running since then")
    last_outcome: Outcome
    last_error: str | None
    quorum_met: bool | None
    last_duration_seconds: float | None
    snapshots: int = Field(description="Snapshots this server made of the registry")
    stores: dict[str, ReplicationHeld]


class ReplicationDrill(Response):
    time: str = Field(json_schema_extra=TIME)
    ok: bool
    passed: int
    total: int


class ReplicationAlert(Response):
    kind: Literal["quorum", "store_down", "rpo", "drill"]
    subject: str = Field(description="The registry, the store, or drill")
    message: str
    since: str | None = Field(json_schema_extra=TIME)


class Replication(Response):
    replicating: bool = Field(description="A supervisor of `embassy serve` publishes these figures (else all is empty)")
    ok: bool = Field(description="Replicating, and no alert raised")
    updated: str = Field(json_schema_extra=TIME)
    stores: list[ReplicationStore]
    registries: list[ReplicationRegistry]
    last_drill: ReplicationDrill | None
    alerts: list[ReplicationAlert]
