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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import BinaryIO

from replication.errors import RegistryReadError
from replication.readers.base import Chunking, ScanItem

CDC = Chunking("cdc", 1 << 20)


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
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(
                    self.command, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, env=self._environment
                )
            except OSError as e:
                raise RegistryReadError(f"registry {self.registry}: cannot run {self.command[0]}: {e.strerror}") from e
            self._proc = proc
            assert proc.stdout is not None
            try:
                yield proc.stdout, item  # type: ignore[misc]
                proc.stdout.close()
                code = proc.wait()
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            finally:
                self._proc = None
            if code != 0:
                err.seek(0)
                tail = err.read()[-2000:].decode("utf-8", "replace").strip().splitlines()[-3:]
                raise RegistryReadError(
                    f"registry {self.registry}: {self.command[0]} exited with {code}: " + " | ".join(tail)
                )

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
