"""Benchmarks of the replication engine against restic, measured in the same run on the same data.

- ``python -m bench.dataset``: the deterministic registry-like dataset (cached under ``bench/out/``);
- ``python -m bench.backup`` (``make bench-backup``): backup, incremental, restore, memory;
- ``python -m bench.verify`` (``make bench-verify``): verify --read-data and drill.
"""
