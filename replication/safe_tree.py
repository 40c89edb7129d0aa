"""Writing a restored tree so that nothing lands outside the target folder.

Every path is checked to be a plain relative path (no absolute paths, no '..', no empty or '.'
parts, no NUL) and is opened one component at a time from the target's folder descriptor with
O_NOFOLLOW, so a symlink already in the target, or one restored a moment ago, is never followed.
Symlinks from the snapshot are created last, after every file has been written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from replication.errors import IntegrityError, RestoreTargetError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def check_relative(path: str) -> list[str]:
    """The path's parts, or IntegrityError for a path that could escape the target."""
    if not path or "\x00" in path or path.startswith("/"):
        raise IntegrityError(f"manifest entry {path!r} is not a safe relative path; refusing to restore")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise IntegrityError(f"manifest entry {path!r} is not a safe relative path; refusing to restore")
    return parts


class SafeTree:
    """Folder descriptors under a target root; every open is relative and never follows links."""

    def __init__(self, root: str, force: bool) -> None:
        self.force = force
        try:
            self.root_fd = os.open(root, _DIR_FLAGS)
        except OSError as e:
            raise RestoreTargetError(f"target {root}: cannot open: {e.strerror}") from e
        self._dirs: dict[str, int] = {"": self.root_fd}

    def close(self) -> None:
        for fd in self._dirs.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._dirs.clear()

    def _clear(self, parent: int, name: str, rel: str, want_dir: bool) -> None:
        """Make room for ``name`` (only with --force): remove a file or link, never follow it."""
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        if want_dir and stat.S_ISDIR(st.st_mode):
            return
        if not self.force:
            raise RestoreTargetError(f"target already has {rel}; pass --force to replace it")
        if stat.S_ISDIR(st.st_mode):
            raise RestoreTargetError(f"target has a folder at {rel} where the snapshot has a file; remove it first")
        os.unlink(name, dir_fd=parent)

    def dir_fd(self, rel: str) -> int:
        """The descriptor of folder ``rel`` (created as needed, never through a symlink)."""
        fd = self._dirs.get(rel)
        if fd is not None:
            return fd
        parent_rel, _, name = rel.rpartition("/")
        parent = self.dir_fd(parent_rel)
        self._clear(parent, name, rel, want_dir=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=parent)
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                raise RestoreTargetError(
                    f"target path {rel} is a symlink or not a folder; refusing to follow it"
                ) from e
            raise
        self._dirs[rel] = fd
        return fd

    def create_file(self, rel: str) -> int:
        parent_rel, _, name = rel.rpartition("/")
        parent = self.dir_fd(parent_rel)
        if self.force:  # without --force the target was empty and O_EXCL refuses any clash
            self._clear(parent, name, rel, want_dir=False)
        try:
            return os.open(
                name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=parent
            )
        except FileExistsError as e:
            raise RestoreTargetError(f"target already has {rel}") from e

    def symlink(self, rel: str, target: str, mtime_ns: int) -> None:
        parent_rel, _, name = rel.rpartition("/")
        parent = self.dir_fd(parent_rel)
        self._clear(parent, name, rel, want_dir=False)
        os.symlink(target, name, dir_fd=parent)
        with contextlib.suppress(OSError):
            os.utime(name, ns=(mtime_ns, mtime_ns), dir_fd=parent, follow_symlinks=False)

    def finish_dir(self, rel: str, mode: int, mtime_ns: int) -> None:
        fd = self.dir_fd(rel)
        os.fchmod(fd, mode & 0o7777)
        os.utime(fd, ns=(mtime_ns, mtime_ns))
