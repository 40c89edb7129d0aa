"""Every error root of the project is one the CLI reports as one line (never "internal error")."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import embassy
import keys
import replication
from embassy.cli.errors import error_roots


def test_every_error_class_of_the_project_falls_under_a_root_the_cli_reports() -> None:
    roots = error_roots()
    unreported = []
    for package in (embassy, keys, replication):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            for name, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__ != module.__name__ or not issubclass(cls, Exception):
                    continue
                if not issubclass(cls, roots):
                    unreported.append(f"{module.__name__}.{name}")
    assert unreported == []


def test_a_snapshot_that_is_not_there_is_one_error_with_a_usage_exit() -> None:
    from embassy.cli.errors import USAGE, exit_code_for
    from replication.errors import ReplicationError, SnapshotNotFoundError
    from replication.restore import SnapshotNotFoundError as FromRestore

    assert FromRestore is SnapshotNotFoundError and issubclass(SnapshotNotFoundError, ReplicationError)
    assert exit_code_for(SnapshotNotFoundError("registry r has no snapshot 'abc'")) == USAGE
