"""`python -m bench.history` end to end, quickly: 3, 6 and 12 snapshots in a real filesystem store.

The script runs the real `embassy` commands and the in-process history builder; the test reads the
table it prints and the markdown it writes, and checks the registry helper's 1 % change.
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the repository root: bench/ is not installed

from bench import history_build  # noqa: E402
from bench.history import IN_PROCESS, OPERATIONS, parse_points  # noqa: E402

SECONDS = r"\d+\.\d\d s"
SIZE = r"\d+(?:\.\d)? (?:MiB|KiB|GiB)"


def test_a_change_rewrites_one_file_in_a_hundred(tmp_path: Path) -> None:
    size = history_build.create(tmp_path, seed=7, files=100, file_size=1000)
    before = {p.name: (p.read_bytes(), p.stat().st_ino) for p in tmp_path.iterdir()}
    history_build.change(tmp_path, 205, seed=7, files=100, file_size=1000)
    after = {p.name: (p.read_bytes(), p.stat().st_ino) for p in tmp_path.iterdir()}
    assert size == 100_000 and len(after) == 100
    changed = sorted(k for k in before if before[k] != after[k])
    assert changed == ["record-0005.bin"]  # change 205 of 100 files: file 5, in a new inode, same size
    assert after["record-0005.bin"][1] != before["record-0005.bin"][1]
    assert len(after["record-0005.bin"][0]) == 1000
    assert after["record-0005.bin"][0] == history_build.content(7, 5, 205, 1000)  # deterministic


def test_snapshot_points_must_rise() -> None:
    assert parse_points("3,6,12") == [3, 6, 12]
    for bad in ("12,6", "10", "3,3,6", "0,5", "ten,100"):
        try:
            parse_points(bad)
        except Exception as e:
            assert "snapshot counts" in str(e)
        else:
            raise AssertionError(f"{bad!r} accepted")


def test_quick_history_prints_a_row_per_operation_with_figures(tmp_path: Path) -> None:
    markdown = tmp_path / "history.md"
    quick = ["--snapshots", "3,6,12", "--repeat", "1", "--store", "filesystem", "--files", "20"]
    run = subprocess.run(
        [sys.executable, "-m", "bench.history", *quick, "--markdown", str(markdown), "--total-timeout", "600"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout.splitlines()
    start = next(i for i, ln in enumerate(out) if ln.startswith("operation"))
    lines = out[start : out.index("", start)]  # the table: from its header to the blank line after it
    header = lines[0]
    assert re.search(r"at 3\s+at 6\s+at 12\s+ratio 12/3", header), header
    assert "history built in-process: 8 snapshots" in run.stdout  # 12 - 1 (first, CLI) - 3 timed backups
    for op in (*OPERATIONS, IN_PROCESS):
        row = next((ln for ln in lines if ln.startswith(op)), None)
        assert row is not None, f"no row for {op!r} in:\n{run.stdout}"
        # three times and the ratio; every command also its CPU ratio and a peak RSS at each point
        assert re.search(rf"{SECONDS}\s+{SECONDS}\s+{SECONDS}\s+\d+\.\d\d\s", row), row
        if op != IN_PROCESS:
            assert re.search(rf"\d+\.\d\d\s+\d+\.\d\d\s+{SIZE} / {SIZE} / {SIZE}", row), row
        assert row.rstrip().endswith(("PASS", "FAIL", "info")), row
    rss = next(ln for ln in lines if ln.startswith("peak RSS, all of the above"))
    assert re.search(rf"{SIZE}\s+{SIZE}\s+{SIZE}\s+\d+\.\d\d\s", rss), rss
    assert len(lines) == 2 + len(OPERATIONS) + 2  # header, rule, the commands, in-process, the RSS row
    assert not any("n/a" in ln for ln in lines), "\n".join(lines)  # every figure measured: no command failed
    md = markdown.read_text()
    assert md.count("\n| ") == len(OPERATIONS) + 3  # the header and one line per row
    for op in (*OPERATIONS, IN_PROCESS):
        assert f"| {op} |" in md
