"""The `embassy` command: parse, run, and turn every failure into one line and an exit code."""

import argparse
import atexit
import gc
import json
import os
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

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

    for name in ("cmd_serve", "cmd_backup", "cmd_verify", "cmd_drill", "cmd_status", "cmd_site", "cmd_prune", "cmd_staff", "cmd_audit", "cmd_inbox", "cmd_mirror"):
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
        global _quick_exit
        _quick_exit = True
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
    from embassy.cli.errors import error_roots

    return isinstance(e, error_roots())


def entry() -> None:
    code = main()
    if _quick_exit:
        _exit_without_teardown(code)
    sys.exit(code)


# Set by main() for one-shot commands (not `serve`).
_quick_exit = False


def _exit_without_teardown(code: int) -> NoReturn:
    """End a one-shot command without the interpreter's teardown, which frees every object and module
    one by one (~0.1 s after a restore: 3-5 % of the command). What the teardown does that matters is
    done first: worker threads are woken and joined, atexit handlers run (temporary folders' clean-up,
    logging), and the standard streams are flushed (exit 120 if that fails, as Python's own exit)."""
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is None:  # not CPython as we know it: the ordinary way
        sys.exit(code)
    shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120
    os._exit(code)


if __name__ == "__main__":
    entry()
