"""Progress reporting from long operations: the engine calls, the CLI draws (or nobody listens)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, task: str, total_bytes: int | None, total_files: int | None) -> None:
        """A new phase (e.g. one registry's backup); totals are None when unknown (a dump command)."""
        ...

    def advance(self, nbytes: int, files: int = 0) -> None: ...

    def transferred(self, store: str, nbytes: int) -> None:
        """Bytes sent to or received from one store."""
        ...

    def finish(self) -> None: ...


class NoProgress:
    def start(self, task: str, total_bytes: int | None, total_files: int | None) -> None:
        pass

    def advance(self, nbytes: int, files: int = 0) -> None:
        pass

    def transferred(self, store: str, nbytes: int) -> None:
        pass

    def finish(self) -> None:
        pass
