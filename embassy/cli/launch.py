"""The `embassy` entry point: starts the keyring's key derivation before anything heavy is imported.

Unlocking the keyring costs ~0.5 s of Argon2id, most commands need it, and importing the command
line (asyncio, boto3, the crypto libraries) costs another ~0.3 s. The KDF runs in C without the
GIL, so this module - which imports almost nothing - reads the config's data_dir, the keyring
file and a non-interactive passphrase, starts the KDF in a thread, and only then imports the rest.
`Context.load_keyring` takes the result if it was made from the same keyring bytes and passphrase;
anything unusual here (no config, a passphrase to be typed, an unknown command) just skips the
head start, and the normal path reports errors as always.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Commands that open the keyring (first word, or first two for `keys`). Not `serve`: it spawns its
# workers before it unlocks, and unlocks while they import.
_UNLOCKING = {
    "backup",
    "snapshots",
    "restore",
    "verify",
    "repair",
    "drill",
    "prune",
    "status",
    "keys status",
    "keys split",
    "keys rotate",
}


class EarlyUnlock:
    def __init__(self, keyring_path: Path, sealed: bytes, passphrase: bytes) -> None:
        self.keyring_path = keyring_path
        self.sealed = sealed
        self.passphrase = passphrase
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="early-unlock", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            from keys import Keyring

            self.result = Keyring.unseal(self.sealed, self.passphrase)
        except BaseException as e:  # reported by the normal path, which repeats the unlock
            self.error = e

    def take(self, keyring_path: Path, sealed: bytes, passphrase: bytes) -> Any:
        """The unlocked keyring if it was derived from exactly these inputs, else None."""
        import hmac

        if keyring_path.resolve() != self.keyring_path or sealed != self.sealed:
            return None
        if not hmac.compare_digest(passphrase, self.passphrase):
            return None
        self._thread.join()
        return self.result if self.error is None else None


pending: EarlyUnlock | None = None


def _command(argv: Sequence[str]) -> tuple[str, str | None]:
    """(first one or two command words, --config value) without argparse."""
    words: list[str] = []
    config = None
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--config" and i + 1 < len(args):
            config = args[i + 1]
            i += 2
            continue
        if arg.startswith("--config="):
            config = arg.split("=", 1)[1]
        elif not arg.startswith("-") and len(words) < 2:
            words.append(arg)
        i += 1
    first = words[0] if words else ""
    return (" ".join(words[:2]) if first == "keys" else first), config


def _start(argv: Sequence[str]) -> EarlyUnlock | None:
    command, config_arg = _command(argv)
    if command not in _UNLOCKING:
        return None
    environ = os.environ
    if environ.get("EMBASSY_PASSPHRASE_FILE"):
        passphrase = Path(environ["EMBASSY_PASSPHRASE_FILE"]).read_text(encoding="utf-8").rstrip("\r\n")
    elif "EMBASSY_PASSPHRASE" in environ:
        passphrase = environ["EMBASSY_PASSPHRASE"]
    else:
        return None  # typed on a terminal: asked for later, in order
    if not passphrase:
        return None
    import tomllib

    config = Path(config_arg or environ.get("EMBASSY_CONFIG") or "embassy.toml")
    mission = tomllib.loads(config.read_text(encoding="utf-8")).get("mission", {})
    data_dir = Path(str(mission.get("data_dir", "var"))).expanduser()
    if not data_dir.is_absolute():
        data_dir = config.resolve().parent / data_dir
    keyring = (data_dir / "keyring").resolve()
    return EarlyUnlock(keyring, keyring.read_bytes(), passphrase.encode("utf-8"))


def entry() -> None:
    global pending
    try:
        pending = _start(sys.argv[1:])
    except Exception:  # a head start only: the command itself reports any problem
        pending = None
    from embassy.cli.main import entry as main_entry

    main_entry()
