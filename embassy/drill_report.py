"""The drill report: one self-contained HTML page (inline CSS and SVG; no script, no external asset).

A summary per store, a table per store with a row per registry (result, snapshot, RTO, RPO, size,
what the comparison with the live registry found or why the drill failed; a PostgreSQL registry's
tables with their recorded and restored row counts), and a chart of drill
durations over the history, with the same figures as a table for screen readers and print.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape

from embassy import __version__
from embassy.drill_history import DrillRun
from embassy.units import human_size
from replication.drill import DrillResult, parse_time

WIDTH, HEIGHT = 880, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 20, 58
# Distinguishable with common colour-vision deficiencies; each series also has its own dash.
SERIES = [("#1f5f99", ""), ("#b35c00", "6 3"), ("#2e7d32", "2 3"), ("#6a3d9a", "10 3 2 3"), ("#444444", "1 2")]
FAIL_COLOUR = "#b00020"

CSS = """
:root { color: #1a1a1a; background: #fff; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
body { margin: 0 auto; max-width: 72rem; padding: 1.5rem 1.25rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; border-bottom: 2px solid #d0d7de; padding-bottom: .25rem; }
p.meta { margin: 0 0 1rem; color: #3d4450; }
.verdict { display: inline-block; font-weight: 700; padding: .35rem .75rem; border-radius: .3rem; margin: .25rem 0 1rem; }
table { border-collapse: collapse; width: 100%; margin: .25rem 0 1rem; font-size: .95rem; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; color: #3d4450; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #d0d7de; vertical-align: top; }
thead th { background: #f3f5f7; border-bottom: 2px solid #aab3bd; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font: .9em ui-monospace, "DejaVu Sans Mono", Menlo, monospace; }
.pass { background: #e3f4e8; color: #0b5a26; }
.fail { background: #fde8e8; color: #8a0b0b; }
.status { font-weight: 700; white-space: nowrap; border-radius: .25rem; }
td.note { max-width: 28rem; overflow-wrap: anywhere; }
td.note.fail { font-weight: 600; }
.muted { color: #4f5661; }
figure { margin: .5rem 0; }
figcaption { color: #3d4450; font-size: .9rem; }
svg { width: 100%; max-width: 55rem; height: auto; }
details { margin: .5rem 0; }
summary { cursor: pointer; font-weight: 600; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; font-size: .9rem; color: #3d4450; }
dt { font-weight: 600; }
dd { margin: 0; }
footer { margin-top: 2.5rem; font-size: .85rem; color: #4f5661; }
@media print { .verdict, .status { border: 1px solid currentColor; } }
"""


def render_report(
    mission: str,
    run: DrillRun,
    history: list[DrillRun],
    jurisdictions: Mapping[str, str] | None = None,
    generated: datetime | None = None,
) -> str:
    jurisdictions = jurisdictions or {}
    stores = list(dict.fromkeys(r.store for r in run.results))
    passed = sum(1 for r in run.results if r.ok)
    verdict_class = "pass" if run.ok else "fail"
    verdict = (
        f"Passed: all {len(run.results)} restores verified"
        if run.ok
        else f"FAILED: {len(run.results) - passed} of {len(run.results)} restores failed"
    )
    title = f"Restore drill {_when(run.time)} — {mission}"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>Restore drill report: {escape(mission)}</h1>",
        f'<p class="meta">Drill run started {escape(_when(run.time))}. Each registry’s latest snapshot in each store '
        f"was restored from that store alone, every byte checked against the signed manifest, then compared with "
        f"the live registry.</p>",
        f'<p class="verdict {verdict_class}" role="status">{escape(verdict)}</p>',
        "</header>",
        "<main>",
        _summary(run, stores, jurisdictions),
    ]
    for store in stores:
        out.append(_store_section(store, [r for r in run.results if r.store == store], jurisdictions.get(store, "")))
    out.append(_history_section(history))
    out += [
        '<section aria-labelledby="terms">',
        '<h2 id="terms">How to read this report</h2>',
        "<dl>",
        "<dt>RTO</dt><dd>Recovery time: from fetching the snapshot’s manifest from the store to the last byte "
        "written, with every blob’s authentication tag, length and keyed id checked.</dd>",
        "<dt>RPO</dt><dd>Recovery point: how old the restored snapshot was when drilled, i.e. the changes that "
        "restoring from this store would lose.</dd>",
        "<dt>Live comparison</dt><dd>Files whose size and modification time are unchanged since the snapshot must be "
        "byte-identical to it (a difference is silent corruption and fails the drill); other files count as changed. "
        "A restored database must equal the live one when that is unchanged since the snapshot, and otherwise "
        "pass SQLite’s integrity check. A PostgreSQL registry’s dump is restored with pg_restore into a scratch "
        "database on its server (dropped afterwards) and every table’s rows must equal those counted in the dump’s "
        "own snapshot. A dump command’s output cannot be compared.</dd>",
        "</dl>",
        "</section>",
        "</main>",
        f"<footer>Generated {escape(_when_dt(generated) if generated else _when(run.time))} by embassy "
        f"{escape(__version__)} (<code>embassy drill --report</code>).</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(out) + "\n"


def _summary(run: DrillRun, stores: list[str], jurisdictions: Mapping[str, str]) -> str:
    rows = []
    for store in stores:
        results = [r for r in run.results if r.store == store]
        ok = all(r.ok for r in results)
        passed = [r for r in results if r.ok]
        rpos = [r.rpo_seconds for r in results if r.rpo_seconds is not None]
        rows.append(
            "<tr>"
            f'<th scope="row"><a href="#store-{escape(store)}">{escape(store)}</a></th>'
            f"<td>{escape(jurisdictions.get(store, '') or '—')}</td>"
            f"{_status_cell(ok)}"
            f'<td class="num">{len(passed)} / {len(results)}</td>'
            f'<td class="num">{human_duration(sum(r.seconds for r in passed)) if passed else "—"}</td>'
            f'<td class="num">{human_age(max(rpos)) if rpos else "—"}</td>'
            f'<td class="num">{human_size(sum(r.bytes for r in passed)) if passed else "—"}</td>'
            "</tr>"
        )
    return (
        '<section aria-labelledby="summary">\n<h2 id="summary">Summary by store</h2>\n<table>\n'
        "<caption>One row per store: registries restored and checked, time and data at stake</caption>\n"
        '<thead><tr><th scope="col">Store</th><th scope="col">Jurisdiction</th><th scope="col">Result</th>'
        '<th scope="col" class="num">Registries passed</th><th scope="col" class="num">Total RTO</th>'
        '<th scope="col" class="num">Oldest RPO</th><th scope="col" class="num">Restored</th></tr></thead>\n'
        f"<tbody>\n{chr(10).join(rows)}\n</tbody>\n</table>\n</section>"
    )


def _store_section(store: str, results: list[DrillResult], jurisdiction: str) -> str:
    rows = []
    for r in results:
        if r.ok:
            note = escape(r.compared or "—")
            if r.chain and r.chain != "ok":
                note += f'<br><span class="muted">snapshot chain {escape(r.chain)}</span>'
            note_cell = f'<td class="note">{note}{_row_counts(r)}</td>'
        else:
            note_cell = f'<td class="note fail">{escape(r.error or "failed")}{_row_counts(r)}</td>'
        snapshot = (
            f'<code>{escape(r.id[:12])}</code><br><span class="muted">{escape(_when(r.time))}</span>'
            if r.id and r.time
            else (f"<code>{escape(r.id[:12])}</code>" if r.id else "—")
        )
        size = (
            f'{human_size(r.bytes)}<br><span class="muted">{r.files} file{"" if r.files == 1 else "s"}</span>'
            if r.ok
            else "—"
        )
        rows.append(
            "<tr>"
            f'<th scope="row">{escape(r.registry)}</th>'
            f"{_status_cell(r.ok)}"
            f"<td>{snapshot}</td>"
            f'<td class="num">{human_duration(r.seconds) if r.ok else "—"}</td>'
            f'<td class="num">{human_age(r.rpo_seconds) if r.rpo_seconds is not None else "—"}</td>'
            f'<td class="num">{size}</td>'
            f"{note_cell}"
            "</tr>"
        )
    where = f" ({escape(jurisdiction)})" if jurisdiction else ""
    anchor = f"store-{escape(store)}"
    return (
        f'<section aria-labelledby="{anchor}">\n<h2 id="{anchor}">Store {escape(store)}{where}</h2>\n<table>\n'
        f"<caption>Registries restored from store {escape(store)} alone</caption>\n"
        '<thead><tr><th scope="col">Registry</th><th scope="col">Result</th><th scope="col">Snapshot</th>'
        '<th scope="col" class="num">RTO</th><th scope="col" class="num">RPO</th>'
        '<th scope="col" class="num">Size</th><th scope="col">Live comparison or error</th></tr></thead>\n'
        f"<tbody>\n{chr(10).join(rows)}\n</tbody>\n</table>\n</section>"
    )


def _row_counts(r: DrillResult) -> str:
    """A PostgreSQL registry's tables: rows the snapshot recorded and rows pg_restore gave back."""
    if not r.tables:
        return ""
    rows = "".join(
        f'<tr><th scope="row"><code>{escape(t.name)}</code></th>'
        f'<td class="num">{"—" if t.recorded is None else f"{t.recorded:,}"}</td>'
        f'<td class="num">{"—" if t.restored is None else f"{t.restored:,}"}</td>'
        f"{_status_cell(t.ok)}</tr>"
        for t in r.tables
    )
    return (
        f"<details><summary>Row counts of {len(r.tables)} tables</summary><table>"
        f"<caption>Rows per table: recorded in the snapshot, and found after pg_restore</caption>"
        '<thead><tr><th scope="col">Table</th><th scope="col" class="num">Recorded</th>'
        '<th scope="col" class="num">Restored</th><th scope="col">Result</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></details>"
    )


def _status_cell(ok: bool) -> str:
    return '<td class="status pass">✔ passed</td>' if ok else '<td class="status fail">✘ failed</td>'


def _history_section(history: list[DrillRun]) -> str:
    rows = []
    for run in reversed(history):
        per_store: dict[str, list[DrillResult]] = {}
        for r in run.results:
            per_store.setdefault(r.store, []).append(r)
        for store, results in per_store.items():
            ok = all(r.ok for r in results)
            rows.append(
                f'<tr><td>{escape(_when(run.time))}</td><th scope="row">{escape(store)}</th>{_status_cell(ok)}'
                f'<td class="num">{human_duration(sum(r.seconds for r in results))}</td>'
                f'<td class="num">{sum(1 for r in results if r.ok)} / {len(results)}</td></tr>'
            )
    return (
        '<section aria-labelledby="history">\n<h2 id="history">Drill durations over time</h2>\n'
        f"<figure>\n{duration_chart_svg(history)}"
        "<figcaption>Total restore time per store in each drill run (the sum of its registries’ RTO). "
        "A red cross marks a run in which a drill of that store failed.</figcaption>\n</figure>\n"
        "<details><summary>The same history as a table</summary>\n<table>\n"
        "<caption>Drill runs, newest first</caption>\n"
        '<thead><tr><th scope="col">Run</th><th scope="col">Store</th><th scope="col">Result</th>'
        '<th scope="col" class="num">Total RTO</th><th scope="col" class="num">Registries passed</th></tr></thead>\n'
        f"<tbody>\n{chr(10).join(rows)}\n</tbody>\n</table>\n</details>\n</section>"
    )


def duration_chart_svg(history: list[DrillRun]) -> str:
    """A line per store: total RTO per run over time; failed runs marked with a cross. No script."""
    stores = list(dict.fromkeys(r.store for run in history for r in run.results))
    points: dict[str, list[tuple[float, float, bool, str]]] = {s: [] for s in stores}
    times = [parse_time(run.time).timestamp() for run in history]
    for run, t in zip(history, times, strict=True):
        per_store: dict[str, list[DrillResult]] = {}
        for r in run.results:
            per_store.setdefault(r.store, []).append(r)
        for store, results in per_store.items():
            points[store].append((t, sum(r.seconds for r in results), all(r.ok for r in results), run.time))
    peak = max([0.0] + [p[1] for series in points.values() for p in series])
    step = _nice_step(peak)
    top = step * max(1, -(-peak // step))
    t0, t1 = (min(times), max(times)) if times else (0.0, 1.0)
    span = t1 - t0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (plot_w / 2 if span <= 0 else plot_w * (t - t0) / span)

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * v / top

    desc = _describe(history, points)
    parts = [
        # Inline in HTML the parser puts <svg> in the SVG namespace itself: no xmlns, so no URL at all.
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-labelledby="chart-title chart-desc" font-family="system-ui, sans-serif" font-size="12">',
        '<title id="chart-title">Drill durations over time, per store</title>',
        f'<desc id="chart-desc">{escape(desc)}</desc>',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
    ]
    v = 0.0
    while v <= top + 1e-9:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e1e4e8"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#3d4450">{_tick(v)}</text>')
        v += step
    parts.append(
        f'<text transform="translate(14 {TOP + plot_h / 2:.0f}) rotate(-90)" text-anchor="middle" fill="#3d4450">'
        "seconds</text>"
    )
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#6b7280"/>')
    ticks = _time_ticks(times)
    for i, (t, label) in enumerate(ticks):
        anchor = "middle" if len(ticks) == 1 or 0 < i < len(ticks) - 1 else ("start" if i == 0 else "end")
        parts.append(
            f'<text x="{x(t):.1f}" y="{TOP + plot_h + 18}" text-anchor="{anchor}" fill="#3d4450">{escape(label)}</text>'
        )
    for i, store in enumerate(stores):
        colour, dash = SERIES[i % len(SERIES)]
        series = points[store]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        passed = [p for p in series if p[2]]  # a failed run's time is no restore time: a cross, off the line
        if len(passed) > 1:
            coords = " ".join(f"{x(t):.1f},{y(s):.1f}" for t, s, _, _ in passed)
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2.5"{dash_attr}/>')
        for t, s, ok, when in series:
            cx, cy = x(t), y(s)
            tip = f"{store}, {_when(when)}: {human_duration(s)}{'' if ok else ', FAILED'}"
            if ok:
                parts.append(
                    f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{colour}"><title>{escape(tip)}</title></circle>'
                )
            else:
                parts.append(
                    f'<path d="M{cx - 5:.1f},{cy - 5:.1f}L{cx + 5:.1f},{cy + 5:.1f}M{cx - 5:.1f},{cy + 5:.1f}'
                    f'L{cx + 5:.1f},{cy - 5:.1f}" stroke="{FAIL_COLOUR}" stroke-width="3">'
                    f"<title>{escape(tip)}</title></path>"
                )
    lx, ly = LEFT, HEIGHT - 14
    for i, store in enumerate(stores):
        colour, dash = SERIES[i % len(SERIES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{lx}" x2="{lx + 24}" y1="{ly - 4}" y2="{ly - 4}" stroke="{colour}" stroke-width="2.5"{dash_attr}/>'
        )
        parts.append(f'<text x="{lx + 30}" y="{ly}" fill="#1a1a1a">store {escape(store)}</text>')
        lx += 40 + 7 * len(f"store {store}") + 16
    parts.append(
        f'<path d="M{lx:.0f},{ly - 9}L{lx + 10},{ly + 1}M{lx:.0f},{ly + 1}L{lx + 10},{ly - 9}" '
        f'stroke="{FAIL_COLOUR}" stroke-width="3"/>'
    )
    parts.append(f'<text x="{lx + 16}" y="{ly}" fill="#1a1a1a">failed</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _describe(history: list[DrillRun], points: Mapping[str, list[tuple[float, float, bool, str]]]) -> str:
    if not history:
        return "No drills recorded yet."
    bits = []
    for store, series in points.items():
        if series:
            secs = [s for _, s, _, _ in series]
            failed = sum(1 for p in series if not p[2])
            bits.append(
                f"store {store}: {len(series)} runs, {human_duration(min(secs))} to {human_duration(max(secs))}, "
                f"latest {human_duration(secs[-1])}" + (f", {failed} failed" if failed else "")
            )
    return (
        f"{len(history)} drill runs from {_when(history[0].time)} to {_when(history[-1].time)}. "
        + "; ".join(bits)
        + "."
    )


def _time_ticks(times: list[float]) -> list[tuple[float, str]]:
    if not times:
        return []
    first, last = min(times), max(times)
    same_day = _utc(first).date() == _utc(last).date()
    if last - first < 3600 and same_day:
        fmt = "%H:%M:%S"
    elif same_day:
        fmt = "%H:%M"
    else:
        fmt = "%d %b %H:%M" if last - first < 4 * 86400 else "%d %b"
    count = 1 if last == first else 5
    ticks = [first + (last - first) * i / max(1, count - 1) for i in range(count)]
    return [(t, _utc(t).strftime(fmt)) for t in ticks]


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _nice_step(peak: float) -> float:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200):
        if peak / step <= 5:
            return float(step)
    return float(10 ** len(str(int(peak))))


def _tick(v: float) -> str:
    return f"{v:.1f}" if v % 1 else f"{v:.0f}"


def _when(text: str | None) -> str:
    if not text:
        return "—"
    try:
        return _when_dt(parse_time(text))
    except ValueError:
        return text


def _when_dt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def human_duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def human_age(seconds: float) -> str:
    """An RPO for people: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


__all__ = ["duration_chart_svg", "human_age", "human_duration", "human_size", "render_report"]
