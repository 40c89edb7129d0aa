"""A dump command's standard output as a registry (``pg_dump --format=custom``, ``mysqldump`` ...).

The output is streamed and chunked as it comes, never held whole. A non-zero exit fails the
registry's snapshot with the command's last lines of stderr; the partial output is never stored
as a snapshot.

The command runs with exactly the environment it is given (the config builds it: a minimal base
plus the variables the registry names) and inherits nothing from this process, which holds the
keyring passphrase and the stores' secrets in its own.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, cast

from replication.errors import RegistryReadError, last_lines
from replication.readers.base import Chunking, ScanItem

CDC = Chunking("cdc", 1 << 20)


@dataclass
class DumpRun:
    proc: subprocess.Popen[bytes]
    stdout: BinaryIO
    code: int | None = None  # the exit status, once the block ended without an exception
    stderr: bytes = b""


@contextmanager
def dump_process(command: Sequence[str], environment: Mapping[str, str], cannot_run: str) -> Iterator[DumpRun]:
    """``command`` run with exactly ``environment``, its standard output for the block to read as it
    comes. When the block ends normally the output is closed and ``code`` and ``stderr`` are set;
    when it raises, the command is killed first. ``cannot_run``: the error's text when it cannot start."""
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                list(command), stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, env=dict(environment)
            )
        except OSError as e:
            raise RegistryReadError(f"{cannot_run}: {e.strerror}") from e
        assert proc.stdout is not None
        run = DumpRun(proc, cast(BinaryIO, proc.stdout))
        try:
            yield run
            proc.stdout.close()
            run.code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        err.seek(0)
        run.stderr = err.read()


def kill(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()


class CommandReader:
    chunking = CDC

    def __init__(self, registry: str, command: tuple[str, ...], environment: Mapping[str, str]) -> None:
        self.registry = registry
        self.command = command
        self._environment = dict(environment)
        self._proc: subprocess.Popen[bytes] | None = None

    def scan(self) -> list[ScanItem]:
        return [ScanItem(f"{self.registry}.dump", "file", 0o600, time.time_ns(), 0, cache=None)]

    @contextmanager
    def open(self, item: ScanItem) -> Iterator[tuple[BinaryIO, ScanItem]]:
        cannot_run = f"registry {self.registry}: cannot run {self.command[0]}"
        with dump_process(self.command, self._environment, cannot_run) as run:
            self._proc = run.proc
            try:
                yield run.stdout, item
            finally:
                self._proc = None
        if run.code != 0:
            raise RegistryReadError(
                f"registry {self.registry}: {self.command[0]} exited with {run.code}: {last_lines(run.stderr)}"
            )

    def close(self) -> None:
        kill(self._proc)
