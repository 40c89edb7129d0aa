"""The daily salt: one random secret per UTC day, shared by every worker through a file, forgotten next day."""

import contextlib
import os
import secrets
from pathlib import Path

SALT_BYTES = 32


class DailySalt:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._day = ""
        self._salt = b""

    def for_day(self, day: str) -> bytes:
        """The salt of ``day`` (``YYYY-MM-DD``), created by whichever process asks first."""
        if day == self._day:
            return self._salt
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.folder / day
        try:
            salt = path.read_bytes()
        except FileNotFoundError:
            salt = self._create(path)
        if len(salt) != SALT_BYTES:  # damaged: start the day afresh
            path.unlink(missing_ok=True)
            salt = self._create(path)
        self._forget_other_days(day)
        self._day, self._salt = day, salt
        return salt

    def _create(self, path: Path) -> bytes:
        """Write a new salt atomically: a temp file hard-linked into place, so a racing worker
        either wins the link or reads the winner's complete file."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(SALT_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        return path.read_bytes()

    def _forget_other_days(self, today: str) -> None:
        for old in self.folder.iterdir():
            if old.name < today and not old.name.startswith("."):
                with contextlib.suppress(FileNotFoundError):
                    old.unlink()
