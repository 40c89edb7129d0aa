"""Has a registry changed since its last snapshot? A cheap answer, so that an unchanged registry
costs next to nothing in continuous mode.

:func:`change_token` returns a digest of what changes whenever the registry's content can have
changed; equal tokens mean the registry is as it was. It never reads file contents:

- a directory registry: every entry's path, type, mode, size, mtime, ctime and inode, as the
  files cache keys them (a write changes the mtime and ctime of the file written; a rename, the
  folder's);
- a SQLite registry: the database file's size, mtime, ctime and inode and the *file change
  counter* in its header (bytes 24-27, incremented by every committed write transaction in
  rollback-journal mode), and its WAL's size, mtime and inode and its 32-byte header (whose salts
  change whenever the WAL restarts from the beginning). A commit in WAL mode appends frames, so
  the WAL's size or, after a restart, its header and mtime change; an empty WAL is no WAL (opening
  the database, as the backup itself does, may create one). ``PRAGMA data_version`` is not
  used: it only tells one connection about the others' commits, and holding a connection open on
  every registry between rounds would keep a reader in each database.
- command and postgres registries cannot be checked without running their dump: ``None``, and
  they are dumped on their own schedule (``every``, hourly by default).

A change landing within the file system's timestamp granularity and leaving every size equal can
escape this check; the full re-read (``[replication] full_every``, daily by default) is the guard.
Blocking: call it from a worker thread. A SQLite registry the caller tracks (a WalTracker, whose
read transaction must keep its locks) has its header read through the tracker's descriptor.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from replication.readers import WalTracker
from replication.spec import RegistrySpec

CHECKABLE = ("directory", "sqlite")


def change_token(spec: RegistrySpec, tracker: WalTracker | None = None) -> str | None:
    """The registry's change token, or None when it cannot be checked (or cannot be read: the
    backup then runs and reports why)."""
    if spec.kind not in CHECKABLE or spec.path is None:
        return None
    digest = hashlib.blake2b(spec.kind.encode(), digest_size=20)
    try:
        if spec.kind == "directory":
            _walk(spec.path, "", digest)
        else:
            _database(spec.path, digest, tracker)
    except OSError:
        return None
    return digest.hexdigest()


def _stat_fields(st: os.stat_result) -> str:
    return f"{stat.S_IFMT(st.st_mode)}:{st.st_mode:o}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


def _walk(root: Path, rel: str, digest: hashlib.blake2b) -> None:
    folder = root / rel if rel else root
    st = os.stat(folder, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(str(folder))
    digest.update(f"{rel}\0{_stat_fields(st)}\n".encode("utf-8", "surrogateescape"))
    with os.scandir(folder) as entries:
        listed = sorted(entries, key=lambda e: e.name)
    for entry in listed:
        path = f"{rel}/{entry.name}" if rel else entry.name
        try:
            est = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            digest.update(f"{path}\0gone\n".encode("utf-8", "surrogateescape"))
            continue
        if stat.S_ISDIR(est.st_mode):
            _walk(root, path, digest)
        else:
            digest.update(f"{path}\0{_stat_fields(est)}\n".encode("utf-8", "surrogateescape"))


def _database(path: Path, digest: hashlib.blake2b, tracker: WalTracker | None) -> None:
    if tracker is not None:
        st = os.stat(path)
        header = tracker.read_header(100)
    else:
        with path.open("rb") as f:
            st = os.fstat(f.fileno())
            header = f.read(100)
    digest.update(f"db\0{_stat_fields(st)}\0".encode() + header[24:28])
    try:
        with open(f"{path}-wal", "rb") as wal:
            wst = os.fstat(wal.fileno())
            wal_header = wal.read(32)
    except FileNotFoundError:
        wst = None
    if wst is None or wst.st_size == 0:  # no frames: the database is the file alone (a reader may create an empty WAL)
        digest.update(b"\0no-wal")
        return
    # The WAL's ctime is left out: every reader's connection touches it.
    digest.update(f"\0wal\0{wst.st_size}:{wst.st_mtime_ns}:{wst.st_ino}\0".encode() + wal_header)
