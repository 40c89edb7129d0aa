"""The result table: one row per operation, ours beside restic, the ratio and the goal's verdict."""

from dataclasses import dataclass, field

from bench.dataset import MiB, format_size


@dataclass
class Row:
    operation: str
    ours: float | None = None  # seconds, or bytes when ``unit == "bytes"``
    restic: float | None = None
    unit: str = "s"  # "s" or "bytes"
    limit: float | None = None  # the goal: ratio ours/restic <= limit (or absolute bytes for "rss")
    goal: str = ""
    bytes_processed: int = 0  # for MB/s
    stored_ours: str = ""
    stored_restic: str = ""
    rss_ours: int | None = None
    rss_restic: int | None = None
    error: str = ""  # why ours is n/a
    notes: list[str] = field(default_factory=list)
    absolute: bool = False  # the goal is on ``ours`` alone (memory), not on the ratio

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.restic:
            return None
        return self.ours / self.restic

    @property
    def verdict(self) -> str:
        if self.limit is None:
            return "info"
        value = self.ours if self.absolute else self.ratio
        if value is None:
            return "n/a"
        return "PASS" if value <= self.limit else "FAIL"

    def cells(self) -> list[str]:
        def val(v: float | None) -> str:
            if v is None:
                return "n/a"
            return format_size(v) if self.unit == "bytes" else f"{v:.2f} s"

        def mbps(v: float | None) -> str:
            return f"{self.bytes_processed / 1e6 / v:.0f}" if v and self.unit == "s" and self.bytes_processed else "-"

        ratio = f"{self.ratio:.2f}" if self.ratio is not None else "-"
        rss = " / ".join(format_size(r) if r else "-" for r in (self.rss_ours, self.rss_restic))
        stored = " / ".join(s or "-" for s in (self.stored_ours, self.stored_restic))
        return [
            self.operation,
            val(self.ours),
            val(self.restic),
            ratio,
            f"{mbps(self.ours)} / {mbps(self.restic)}",
            stored if stored != "- / -" else "-",
            rss if rss != "- / -" else "-",
            self.goal or "-",
            self.verdict,
        ]


HEADER = [
    "operation",
    "ours",
    "restic",
    "ratio",
    "MB/s ours / restic",
    "stored ours / restic",
    "peak RSS ours / restic",
    "goal",
    "result",
]



def percentile(values: list[float], q: float) -> float:
    """The value at fraction ``q`` of the sorted ``values`` (nearest rank; 0.0 when there are none)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else 0.0


def plain_table(header: list[str], lines: list[list[str]]) -> str:
    """Columns padded to their widest cell, a rule under the header."""
    table = [header, *lines]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    out = []
    for n, line in enumerate(table):
        out.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def markdown_grid(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in lines]
    return "\n".join(out)


def text_table(rows: list[Row]) -> str:
    return plain_table(HEADER, [r.cells() for r in rows])


def markdown_table(rows: list[Row]) -> str:
    return markdown_grid(HEADER, [r.cells() for r in rows])


def errors(rows: list[Row]) -> list[str]:
    return [f"{r.operation}: ours n/a: {r.error}" for r in rows if r.error]


def rss_goal_row(rows: list[Row], limit: int = 256 * MiB, operation: str = "peak RSS, all of the above") -> Row:
    """Ours must stay under ``limit`` through every operation; n/a unless a measured operation ran."""
    ours = [r.rss_ours for r in rows if r.rss_ours]
    theirs = [r.rss_restic for r in rows if r.rss_restic]
    ran = any(r.rss_ours for r in rows if r.limit is not None)
    return Row(
        operation,
        ours=float(max(ours)) if ours and ran else None,
        restic=float(max(theirs)) if theirs else None,
        unit="bytes",
        limit=float(limit),
        absolute=True,
        goal=f"ours <= {format_size(limit)}",
        error="" if ran else "none of the measured operations of ours ran",
    )


@dataclass
class Outcome:
    """What a benchmark body hands back: the table's rows and the notes printed under it."""

    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    restic_figures: dict[str, str] = field(default_factory=dict)
