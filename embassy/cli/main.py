"""The `embassy` command: parse, run, and turn every failure into one line and an exit code."""

import argparse
import gc
import json
import os
import sys
from collections.abc import Sequence

from embassy import __version__
from embassy.cli import cmd_init, cmd_keys
from embassy.cli.context import Context
from embassy.cli.errors import USAGE, exit_code_for
from embassy.memory import tune_malloc

COMMAND_MODULES = [cmd_init, cmd_keys]


def _optional_modules() -> list[object]:
    """Commands of parts that may not be installed in every build import lazily and register here."""
    mods: list[object] = []
    import importlib

    for name in ("cmd_serve", "cmd_backup", "cmd_verify", "cmd_drill", "cmd_status", "cmd_site", "cmd_prune"):
        try:
            mods.append(importlib.import_module(f"embassy.cli.{name}"))
        except ModuleNotFoundError as e:
            if e.name != f"embassy.cli.{name}":
                raise
    return mods


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(USAGE, f"embassy: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    # --config works before or after the command's name: the sub-parsers share it without a default,
    # so a value given after the command is not overwritten by the main parser's.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="config file (default: $EMBASSY_CONFIG, else ./embassy.toml)",
    )
    parser = _Parser(prog="embassy", description="The virtual mission and its data embassy.", parents=[common])
    parser.add_argument("--version", action="version", version=f"embassy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    for mod in [*COMMAND_MODULES, *_optional_modules()]:
        mod.register(sub, common)  # type: ignore[attr-defined]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    tune_malloc()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "serve":
        # A command's objects are mostly acyclic and short-lived; the cycle collector's full passes
        # over hundreds of thousands of chunk records cost several percent of a backup or restore.
        gc.freeze()
        gc.set_threshold(200_000, 50, 100)
    ctx = Context(args)
    try:
        code = int(args.func(ctx))
    except KeyboardInterrupt:
        ctx.note("embassy: interrupted")
        return 130
    except Exception as e:  # one line and an exit code, never a traceback
        code = exit_code_for(e)
        if not _expected(e):
            if os.environ.get("EMBASSY_DEBUG"):
                raise
            e = RuntimeError(f"internal error: {type(e).__name__}: {e} (EMBASSY_DEBUG=1 shows the traceback)")
        ctx.note(f"embassy: {e}")
        if ctx.json and code != USAGE:
            sys.stdout.write(json.dumps({"error": str(e)}) + "\n")
        return code
    return code


def _expected(e: BaseException) -> bool:
    from embassy.cli.errors import CliError
    from embassy.config import ConfigError
    from keys import KeyringError
    from replication.errors import ReplicationError

    return isinstance(e, CliError | ConfigError | KeyringError | ReplicationError | OSError)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
