"""Drawing progress with rich: imported only when stderr is a terminal."""

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


def _bars(stream: TextIO, *extra: TextColumn | TimeRemainingColumn) -> Progress:
    """Bars of bytes done, of how many, and how fast; then ``extra`` columns."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        *extra,
        console=Console(file=stream),
        transient=True,
    )


class TerminalProgress:
    def __init__(self, stream: TextIO) -> None:
        self._bar = _bars(stream, TextColumn("{task.fields[files]}"), TimeRemainingColumn())
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


class TerminalDrillProgress:
    """One bar per store × registry being restored, drawn together (stores are drilled at once)."""

    def __init__(self, stream: TextIO) -> None:
        self._bar = _bars(stream)

    def start(self) -> None:
        self._bar.start()

    def stop(self) -> None:
        self._bar.stop()

    def for_restore(self, store: str, registry: str) -> ProgressProtocol:
        return _RestoreBar(self._bar, f"{store}: {registry}")


class _RestoreBar(NoProgress):
    def __init__(self, bar: Progress, label: str) -> None:
        self._bar = bar
        self._label = label
        self._task: TaskID | None = None

    def start(self, task: str, total_bytes: int | None, total_files: int | None) -> None:
        self._task = self._bar.add_task(f"drill {self._label}", total=total_bytes)

    def advance(self, nbytes: int, files: int = 0) -> None:
        if self._task is not None:
            self._bar.update(self._task, advance=nbytes)

    def finish(self) -> None:
        if self._task is not None:
            self._bar.remove_task(self._task)
            self._task = None
