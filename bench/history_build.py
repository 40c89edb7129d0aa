"""The bench-history registry and its history: a small folder, 1 % of it rewritten per snapshot.

The registry is ``files`` files of ``file_size`` random bytes each (incompressible, so every change
costs its full size in the store); version ``v`` of file ``j`` is a pure function of (seed, j, v).
Change number ``n`` rewrites file ``n % files`` (one file of a hundred: 1 %), through a new inode so
the engine's files cache sees it.

    python -m bench.history_build CONFIG REGISTRY FOLDER --first N --rounds K [--files 100] [--seed 1]

runs K backups of the registry in one process (one keyring unlock, the engine's Python API as the
CLI's `embassy backup` calls it), each after change N, N+1, ...: building a long history fast,
where 1,000 CLI runs would mostly measure start-up. It prints one JSON line: rounds, seconds, and
each round's seconds (a backup's cost without start-up, against the snapshots before it).
The measured operations are never run this way; bench.history times them through the real CLI.
"""

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

FILES, FILE_SIZE = 100, 40 * 1024


def content(seed: int, index: int, version: int, size: int) -> bytes:
    return random.Random(f"{seed}-{index}-{version}").randbytes(size)


def file_name(index: int) -> str:
    return f"record-{index:04d}.bin"


def create(folder: Path, seed: int, files: int = FILES, file_size: int = FILE_SIZE) -> int:
    """The registry at version 0; its size in bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    for j in range(files):
        (folder / file_name(j)).write_bytes(content(seed, j, 0, file_size))
    return files * file_size


def change(folder: Path, n: int, seed: int, files: int = FILES, file_size: int = FILE_SIZE) -> None:
    """Change number ``n`` (from 1): file ``n % files`` gets its next version, in a new inode."""
    j = n % files
    target = folder / file_name(j)
    tmp = target.with_name(target.name + ".new")
    tmp.write_bytes(content(seed, j, n, file_size))
    os.replace(tmp, target)


def build(
    config_path: Path, registry: str, folder: Path, first: int, rounds: int, seed: int, files: int
) -> list[float]:
    """Each round's seconds: the change and the backup."""
    import asyncio

    from embassy.backup_service import backup_lock, run_backup
    from embassy.config import load_config
    from keys import Keyring

    config = load_config(config_path, os.environ)
    passphrase = Path(os.environ["EMBASSY_PASSPHRASE_FILE"]).read_text().rstrip("\r\n").encode()
    ring = Keyring.unseal(config.keyring_path.read_bytes(), passphrase)
    spec = config.registry(registry)
    file_size = (folder / file_name(0)).stat().st_size
    started = time.monotonic()
    times: list[float] = []
    for n in range(first, first + rounds):
        begun = time.monotonic()
        change(folder, n, seed, files, file_size)
        with backup_lock(config, wait=True):
            (result,) = asyncio.run(run_backup(config, ring, [spec]))
        if result.error or not result.quorum_met:
            raise SystemExit(f"backup after change {n} failed: {result.error or result.stores}")
        times.append(time.monotonic() - begun)
        if (n - first + 1) % 100 == 0:
            sys.stderr.write(f"  {n - first + 1} of {rounds} snapshots, {time.monotonic() - started:.0f} s\n")
            sys.stderr.flush()
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.history_build", description=__doc__.split("\n\n")[0])
    ap.add_argument("config", type=Path)
    ap.add_argument("registry")
    ap.add_argument("folder", type=Path)
    ap.add_argument("--first", type=int, required=True, help="the number of the first change (from 1)")
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--files", type=int, default=FILES)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    times = build(args.config, args.registry, args.folder, args.first, args.rounds, args.seed, args.files)
    print(json.dumps({"rounds": args.rounds, "seconds": sum(times), "round_seconds": times}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
