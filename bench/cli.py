"""The shared shape of `python -m bench.backup` and `bench.verify`: arguments, session, output."""

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bench import dataset, report
from bench.report import Outcome
from bench.session import BenchTimeoutError, Session, add_common_args, engine_version, log

LEGEND = (
    "Ratio = ours / restic, wall time (bytes for the database row). MB/s = dataset size / wall time. "
    "Peak RSS = the peak of the sum over the command's process tree (sampled every 50 ms, at least the "
    "kernel's maxrss). Every `embassy` command includes start-up and the keyring unlock (first row)."
)
T = TypeVar("T")


def render(out: Outcome, args: argparse.Namespace, title: str) -> tuple[str, str]:
    ds_info = dataset.describe(dataset.generate(dataset.parse_size(args.size), args.seed))
    engine = f"engine: {engine_version(args.engine_src)}"
    restic_line = "restic alone: " + "; ".join(f"{k} {v}" for k, v in out.restic_figures.items())
    bullets = [*out.notes, *report.errors(out.rows), restic_line, LEGEND]
    text = "\n".join([title, engine, "", report.text_table(out.rows), "", *(f"- {n}" for n in bullets)])
    md = "\n".join(
        [
            f"### {title}",
            "",
            f"Measured {time.strftime('%Y-%m-%d')} on this machine (2 shared cores), same run, same data:",
            "",
            "```",
            ds_info,
            engine,
            "```",
            "",
            report.markdown_table(out.rows),
            "",
            *(f"- {n}" for n in bullets),
            "",
        ]
    )
    return text, md


def in_session(session: Session, body: Callable[[Session], T]) -> T | int:
    """``body(session)`` inside the session, or the exit code when interrupted (130) or out of time (124)."""
    try:
        with session as s:
            return body(s)
    except KeyboardInterrupt:
        log("interrupted: measured commands killed, stores stopped")
        return 130
    except BenchTimeoutError as e:
        log(f"stopped: {e}")
        return 124


def write_out(text: str, md: str, target: Path) -> None:
    """Print the table and write its markdown to ``target``."""
    print(text)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(md)
    print(f"\nmarkdown: {target}")


def main(
    name: str,
    doc: str | None,
    argv: list[str] | None,
    add_args: Callable[[argparse.ArgumentParser], None],
    body: Callable[[Session, argparse.Namespace], Outcome],
) -> int:
    ap = argparse.ArgumentParser(
        prog=f"python -m bench.{name}",
        description=(doc or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_args(ap)
    add_args(ap)
    args = ap.parse_args(argv)
    out = in_session(Session(name, args.total_timeout, args.keep), lambda s: body(s, args))
    if isinstance(out, int):
        return out
    text, md = render(out, args, f"bench-{name}: ours vs restic, {args.size} dataset")
    write_out(text, md, args.markdown or dataset.OUT / f"{name}.md")
    if args.strict and any(r.verdict != "PASS" for r in out.rows if r.limit is not None):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit("run python -m bench.backup or python -m bench.verify")
