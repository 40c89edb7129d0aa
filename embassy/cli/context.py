"""What every command needs: the parsed arguments, the config, the passphrase, the keyring, output."""

import getpass
import json
import os
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from embassy.cli.errors import USAGE, CliError
from embassy.config import Config, find_config_path, load_config
from keys import KdfParams, Keyring, WrongPassphraseError
from replication.fsutil import atomic_write
from replication.spec import StoreSpec

MIN_PASSPHRASE = 12


@dataclass
class Context:
    args: Any
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    _config: Config | None = None

    # -- config ----------------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return find_config_path(getattr(self.args, "config", None), self.environ)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path, self.environ)
        return self._config

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @property
    def interactive(self) -> bool:
        return self.err.isatty()

    # -- output ----------------------------------------------------------------------------------

    def emit(self, document: dict[str, Any]) -> None:
        """The one JSON document of a --json command."""
        self.out.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
        self.out.flush()

    def say(self, text: str = "") -> None:
        """Human output: stdout normally, stderr when stdout carries JSON."""
        stream = self.err if self.json else self.out
        stream.write(text + "\n")
        stream.flush()

    def note(self, text: str) -> None:
        """Progress and warnings: always stderr."""
        self.err.write(text + "\n")
        self.err.flush()

    # -- passphrase and keyring ------------------------------------------------------------------

    def passphrase(self, *, new: bool = False) -> bytes:
        """``$EMBASSY_PASSPHRASE_FILE``, else ``$EMBASSY_PASSPHRASE``, else the terminal."""
        path = self.environ.get("EMBASSY_PASSPHRASE_FILE")
        if path:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as e:
                raise CliError(f"EMBASSY_PASSPHRASE_FILE {path}: cannot read: {e.strerror}", USAGE) from e
            value = text.rstrip("\r\n")
            source = f"the file {path}"
        elif "EMBASSY_PASSPHRASE" in self.environ:
            value = self.environ["EMBASSY_PASSPHRASE"]
            source = "EMBASSY_PASSPHRASE"
        elif sys.stdin.isatty():
            value = getpass.getpass("New keyring passphrase: " if new else "Keyring passphrase: ")
            if new and getpass.getpass("Repeat the passphrase: ") != value:
                raise CliError("the two passphrases differ; nothing was written", USAGE)
            source = "the terminal"
        else:
            raise CliError(
                "no passphrase: set EMBASSY_PASSPHRASE_FILE (a file readable only by you) or EMBASSY_PASSPHRASE, "
                "or run on a terminal",
                USAGE,
            )
        if not value:
            raise CliError(f"the passphrase from {source} is empty", USAGE)
        if new and len(value) < MIN_PASSPHRASE:
            raise CliError(
                f"the new passphrase from {source} is shorter than {MIN_PASSPHRASE} characters; use a long passphrase",
                USAGE,
            )
        return value.encode("utf-8")

    def keyring_path(self) -> Path:
        return self.config.keyring_path

    def load_keyring(self) -> tuple[Keyring, bytes]:
        path = self.keyring_path()
        try:
            sealed = path.read_bytes()
        except FileNotFoundError as e:
            raise CliError(
                f"{path}: no keyring; run `embassy init`, or `embassy keys recover` on a fresh machine", USAGE
            ) from e
        passphrase = self.passphrase()
        from embassy.cli import launch

        if launch.pending is not None:  # started before the imports (see launch.py)
            self._warm_up_stores()  # while the KDF may still be running
            early = launch.pending.take(path, sealed, passphrase)
            launch.pending = None
            if early is not None:
                return early, passphrase
        # The KDF (~0.5 s, outside the GIL) runs in a thread while this one loads the S3 client
        # machinery that most commands need next: the two overlap instead of adding up.
        with ThreadPoolExecutor(1, thread_name_prefix="unlock") as pool:
            unsealed = pool.submit(Keyring.unseal, sealed, passphrase)
            self._warm_up_stores()
            try:
                return unsealed.result(), passphrase
            except WrongPassphraseError as e:
                raise WrongPassphraseError(str(path)) from e

    def _warm_up_stores(self) -> None:
        if any(s.kind == "s3" for s in self.config.stores):
            from replication.stores.s3 import warm_up

            warm_up()

    def save_keyring(self, ring: Keyring, passphrase: bytes, path: Path | None = None) -> None:
        """Seal and write atomically with mode 0600, keeping the existing file's KDF parameters."""
        path = path or self.keyring_path()
        params = KdfParams()
        if path.exists():
            params = Keyring.sealed_params(path.read_bytes())
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(path, ring.seal(passphrase, params), mode=0o600)

    # -- stores ----------------------------------------------------------------------------------

    def stores(self, names: list[str] | None = None) -> list[StoreSpec]:
        if names:
            return [self.config.store(n) for n in names]
        return list(self.config.stores)
