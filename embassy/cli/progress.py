"""Progress bars on a terminal (stderr), nothing otherwise: bytes, files, rate, ETA, per store."""

from __future__ import annotations

from typing import Protocol, TextIO

from replication.progress import NoProgress
from replication.progress import Progress as ProgressProtocol


def progress_for(stream: TextIO) -> ProgressProtocol:
    """Bars on a terminal; nothing otherwise (rich is imported only when there is one to draw on)."""
    if not stream.isatty():
        return NoProgress()
    from embassy.cli.terminal import TerminalProgress

    return TerminalProgress(stream)


class DrillProgress(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def for_restore(self, store: str, registry: str) -> ProgressProtocol: ...


def drill_progress(stream: TextIO) -> DrillProgress:
    from embassy.cli.terminal import TerminalDrillProgress

    return TerminalDrillProgress(stream)
