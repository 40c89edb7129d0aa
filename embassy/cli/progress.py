"""Progress bars on a terminal (stderr), nothing otherwise: bytes, files, rate, ETA, per store."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from replication.progress import NoProgress
from replication.progress import Progress as ProgressProtocol


class TerminalProgress:
    def __init__(self, stream: TextIO) -> None:
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TextColumn("{task.fields[files]}"),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=True,
        )
        self._main: TaskID | None = None
        self._stores: dict[str, TaskID] = {}
        self._files = 0
        self._total_files: int | None = None

    def start(self, task: str, total_bytes: int | None, total_files: int | None) -> None:
        self.finish()
        self._bar.start()
        self._files = 0
        self._total_files = total_files
        self._main = self._bar.add_task(task, total=total_bytes, files=self._files_text())

    def _files_text(self) -> str:
        return f"{self._files}/{self._total_files} files" if self._total_files is not None else f"{self._files} files"

    def advance(self, nbytes: int, files: int = 0) -> None:
        if self._main is not None:
            self._files += files
            self._bar.update(self._main, advance=nbytes, files=self._files_text())

    def transferred(self, store: str, nbytes: int) -> None:
        task = self._stores.get(store)
        if task is None:
            task = self._stores[store] = self._bar.add_task(f"  store {store}", total=None, files="")
        self._bar.update(task, advance=nbytes)

    def finish(self) -> None:
        if self._main is not None:
            self._bar.stop()
            for task in [self._main, *self._stores.values()]:
                self._bar.remove_task(task)
            self._main = None
            self._stores.clear()


def progress_for(stream: TextIO) -> ProgressProtocol:
    return TerminalProgress(stream) if stream.isatty() else NoProgress()
