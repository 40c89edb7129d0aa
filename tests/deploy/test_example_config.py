"""The production example config loads, names its secrets by variable and keeps three stores abroad."""

from __future__ import annotations

from conftest import ROOT

from embassy.config import load_config


def test_the_production_example_config_loads() -> None:
    env = {f"{s}_{k}_KEY": "x" for s in ("LU", "EE", "CH") for k in ("ACCESS", "SECRET")}
    config = load_config(ROOT / "deploy" / "embassy.example.toml", {**env, "METRICS_TOKEN": "t"})
    assert [s.name for s in config.stores] == ["lu", "ee", "ch", "home"]
    assert [s.name for s in config.stores if config.counts_for_quorum(s)] == ["lu", "ee", "ch"]
    assert all(s.object_lock_days == 30 for s in config.stores if s.kind == "s3")
    assert config.replication.quorum == 2
    population = config.registry("population")
    assert population.kind == "postgres" and population.postgres is not None
    assert population.postgres.host == "/run/postgresql"
