"""Continuous replication inside `embassy serve`: change checks, per-registry schedules, state, metrics, alerts."""
