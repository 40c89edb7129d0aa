"""The benchmark's measuring parts, on real processes: peak RSS of a process tree, timeouts, verdicts."""

import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: bench/ is not installed

from bench import procs
from bench.dataset import MiB, parse_size
from bench.report import Row, markdown_table, text_table

ALLOCATE = "import time; b = bytearray({n}); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.6)"


def test_peak_rss_counts_the_child_and_its_children() -> None:
    # The parent allocates only once the child says it holds its memory, and both then hold theirs
    # for a second: the sampler sees them together however loaded the machine is.
    hold = "import sys, time; b = bytearray({n}); b[::4096] = b'x' * len(b[::4096]); print('held', flush=True); time.sleep(1.0)"
    parent = textwrap.dedent(f"""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", {hold.format(n=80 * MiB)!r}], stdout=subprocess.PIPE)
        assert child.stdout is not None and child.stdout.readline() == b"held\\n"
        exec({hold.format(n=60 * MiB)!r})
        child.wait()
    """)
    m = procs.run([sys.executable, "-c", parent], timeout=30)
    assert m.ok, m.stderr
    assert m.peak_rss >= 140 * MiB  # both at once: the tree's sum
    assert 80 * MiB <= m.peak_rss_single < m.peak_rss


def test_timeout_kills_the_whole_group() -> None:
    started = time.monotonic()
    m = procs.run(["sh", "-c", "sleep 30 & sleep 30; wait"], timeout=0.5)
    assert m.timed_out and not m.ok
    assert time.monotonic() - started < 10
    assert "timed out" in m.last_error_line()


def test_verdicts_and_tables() -> None:
    rows = [
        Row("fast", ours=0.6, restic=1.0, limit=0.7, goal="ratio <= 0.7", bytes_processed=100 * 10**6),
        Row("slow", ours=0.9, restic=1.0, limit=0.8),
        Row("missing", restic=1.0, limit=0.8, error="exit 2: invalid choice"),
        Row("memory", ours=300.0 * MiB, unit="bytes", limit=256.0 * MiB, absolute=True),
        Row("info only", ours=1.0),
    ]
    assert [r.verdict for r in rows] == ["PASS", "FAIL", "n/a", "FAIL", "info"]
    assert rows[0].cells()[4] == "167 / 100"
    assert "n/a" in text_table(rows) and markdown_table(rows).count("\n") == len(rows) + 1


def test_parse_size() -> None:
    assert parse_size("200M") == 200 * MiB
    assert parse_size("1G") == 1024 * MiB
    assert parse_size("1.5GiB") == 1536 * MiB


def test_runs_take_turns_and_the_median_run_is_quoted() -> None:
    from bench import repeat

    calls: list[str] = []
    peer, mine = repeat.alternate(
        3, lambda i: calls.append(f"p{i}") or 10.0 + i, lambda i: calls.append(f"o{i}") or [3.0, 1.0, 2.0][i], "t"
    )
    assert calls == ["p0", "o0", "p1", "o1", "p2", "o2"]
    assert repeat.median(mine, lambda s: s) == 2.0
    assert repeat.median(peer, lambda s: s) == 11.0
    # failed runs (no time) are left out; an even count gives the lower middle
    assert repeat.median([5.0, None, 1.0, 3.0, 4.0], lambda s: s) == 3.0
    assert repeat.median([None], lambda s: s) is None
    assert repeat.spread([1.234, None], lambda s: s) == "1.23, n/a s"
    runs = [procs.Measured((), 0, 1.0, 0, 0, "", "", cpu_user=u, cpu_sys=0.5) for u in (3.0, 1.0, 2.0)]
    assert repeat.cpu(runs) == "2.50 s CPU"
    assert repeat.cpu([]) == "n/a"


def test_cpu_time_of_the_command_is_recorded() -> None:
    code = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    m = procs.run([sys.executable, "-c", code], timeout=30)
    assert m.ok
    assert 0.25 <= m.cpu_user + m.cpu_sys <= m.seconds + 0.2
