"""The content version: one 64-bit counter in a small shared file, read per request without a syscall.

Every process serving the site maps the same file (``<data_dir>/run/content-version``) and reads the
counter from memory, so a change committed through one worker (or the CLI) is seen by every worker
on its very next request. Writers bump it under an exclusive ``flock`` after their transaction
commits. The file is not part of the replicated database: it only says "something changed".
"""

import fcntl
import mmap
import os
import struct
from pathlib import Path

_COUNTER = struct.Struct("<Q")


class ContentVersion:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _COUNTER.size:
                os.ftruncate(fd, _COUNTER.size)
            self._map = mmap.mmap(fd, _COUNTER.size)
        finally:
            os.close(fd)
        self.path = path

    def current(self) -> int:
        return int(_COUNTER.unpack_from(self._map, 0)[0])

    def bump(self) -> int:
        with self.path.open("rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                value = self.current() + 1
                _COUNTER.pack_into(self._map, 0, value)
                self._map.flush()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return value

    def close(self) -> None:
        self._map.close()


def version_path(data_dir: Path) -> Path:
    return data_dir / "run" / "content-version"
