"""Run a command and measure it: wall time, peak RSS of its whole process tree, exit code, output.

Every child runs in its own process group, gets SIGKILL if this process dies (PR_SET_PDEATHSIG),
and is killed with its group on timeout, Ctrl-C or any exception, so a benchmark never leaves
processes behind.
"""

import contextlib
import ctypes
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
CLK_TCK = os.sysconf("SC_CLK_TCK")
_LIVE_GROUPS: set[int] = set()
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn: the kernel kills the child when the benchmark process goes away, however it goes."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def kill_all_live() -> None:
    """Kill every measured command still running (called on the way out)."""
    for pgid in list(_LIVE_GROUPS):
        kill_group(pgid)
        _LIVE_GROUPS.discard(pgid)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out.extend(int(c) for c in f.read().split())
            except OSError:
                continue
    except OSError:
        pass
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _hwm(pid: int) -> int:
    """The process's own peak RSS so far (VmHWM): it belongs to the image it runs now, so unlike
    ``ru_maxrss`` it does not carry the RSS of the process it was forked from."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants right now."""
    out: list[int] = []
    stack = [pid]
    seen: set[int] = set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        out.append(p)
        stack.extend(_children(p))
    return out


def tree_rss(pid: int) -> tuple[int, int]:
    """(sum of RSS over ``pid`` and all its descendants right now, largest single peak RSS so far)."""
    total = biggest = 0
    for p in tree_pids(pid):
        r = _rss(p)
        total += r
        biggest = max(biggest, r, _hwm(p))
    return total, biggest


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid``'s tree so far (live processes and the children they waited for)."""
    total = 0
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        except (OSError, IndexError, ValueError):
            continue
    return total / CLK_TCK


def wait_until(what: str, condition: Callable[[], object], timeout: float) -> None:
    """Poll ``condition`` (a server's state, a store's listing) until it holds; TimeoutError after ``timeout``."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.25)


@dataclass(frozen=True, slots=True)
class Measured:
    argv: tuple[str, ...]
    returncode: int
    seconds: float
    peak_rss: int  # bytes: the peak of the sum over the process tree (sampled), at least the largest single peak
    peak_rss_single: int  # bytes: the largest single process's peak (VmHWM of every process seen)
    stdout: str
    stderr: str
    timed_out: bool = False
    cpu_user: float = 0.0  # seconds of CPU over the process tree (waited-for children included)
    cpu_sys: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def last_error_line(self) -> str:
        if self.timed_out:
            return f"timed out after {self.seconds:.0f} s"
        lines = [ln.strip() for ln in self.stderr.splitlines() if ln.strip()]
        return lines[-1][:300] if lines else f"exit code {self.returncode}"


def terminate(proc: "subprocess.Popen[bytes] | None", timeout: float = 60.0) -> None:
    """SIGTERM a server we started (by its own process id), SIGKILL if it is not gone in ``timeout``."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def settle(pause: float = 0.5) -> None:
    """Flush dirty pages to disk and let the machine go quiet (not part of any measurement)."""
    os.sync()
    time.sleep(pause)


def run(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600.0,
    sample_every: float = 0.05,
) -> Measured:
    """Run ``argv`` to completion (or ``timeout``), sampling its tree's memory every ``sample_every`` s.

    Every measured command starts from the same state: the previous command's dirty pages are
    flushed first (a restore writes 1 GiB; whoever runs next would otherwise pay for its writeback).
    """
    settle()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        launcher_rss = _rss(os.getpid())
        started = time.monotonic()
        proc = subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        _LIVE_GROUPS.add(proc.pid)
        peak = [0, 0]
        done = threading.Event()
        timed_out = threading.Event()

        def sample() -> None:
            while not done.is_set():
                total, biggest = tree_rss(proc.pid)
                peak[0] = max(peak[0], total)
                peak[1] = max(peak[1], biggest)
                if time.monotonic() - started > timeout and not timed_out.is_set():
                    timed_out.set()
                    kill_group(proc.pid)
                done.wait(sample_every)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            done.set()
            sampler.join()
            kill_group(proc.pid)  # anything the command left running in its group
            _LIVE_GROUPS.discard(proc.pid)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        # ``usage.ru_maxrss`` is the larger of the command's own peak and the RSS of the image it
        # was forked from (this process, when the kernel ran exec): a 175 MiB test runner made every
        # command look that big. So it counts only when it is clearly above what we had at the fork;
        # else the VmHWM of each process, read while it lives, stands alone.
        maxrss = usage.ru_maxrss * 1024  # KiB on Linux
        own = maxrss if maxrss > launcher_rss * 1.05 + 4 * 2**20 else 0
        out.seek(0)
        err.seek(0)
        return Measured(
            tuple(argv),
            proc.returncode,
            seconds,
            max(peak[0], peak[1], own),
            max(peak[1], own),
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            timed_out.is_set(),
            usage.ru_utime,
            usage.ru_stime,
        )
