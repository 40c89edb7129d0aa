"""The daily chart as a standalone SVG: bars for views, a line for unique visitors, bots apart. No script."""

from html import escape

from embassy.analytics.report import Report

WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 40, 56


def daily_chart_svg(report: Report, title: str = "Page views and unique visitors per day") -> str:
    days = report.days
    peak = max([1] + [max(d.views, d.uniques, d.bot_views) for d in days])
    step = _nice_step(peak)
    top_value = step * -(-peak // step)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(days))
    bar = max(1.0, slot * 0.38)

    def y(v: int) -> float:
        return TOP + plot_h - plot_h * v / top_value

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-labelledby="t d" font-family="sans-serif" font-size="12">',
        f'<title id="t">{escape(title)}</title>',
        f'<desc id="d">{escape(_describe(report))}</desc>',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<text x="{LEFT}" y="22" font-size="15" fill="#1a1a1a">{escape(title)}, {report.since} – {report.until}</text>',
    ]
    for v in range(0, top_value + 1, step):
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#444">{v}</text>')
    points = []
    for i, d in enumerate(days):
        x = LEFT + slot * i + slot / 2
        parts.append(
            f'<rect x="{x - bar:.1f}" y="{y(d.views):.1f}" width="{bar:.1f}" height="{y(0) - y(d.views):.1f}" '
            f'fill="#1f5f99"><title>{d.day}: {d.views} views</title></rect>'
        )
        parts.append(
            f'<rect x="{x:.1f}" y="{y(d.bot_views):.1f}" width="{bar:.1f}" height="{y(0) - y(d.bot_views):.1f}" '
            f'fill="#b8b8b8"><title>{d.day}: {d.bot_views} bot views</title></rect>'
        )
        points.append(f"{x:.1f},{y(d.uniques):.1f}")
        if len(days) <= 14 or i % max(1, len(days) // 10) == 0 or i == len(days) - 1:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" fill="#444">{d.day[5:]}</text>'
            )
    parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#b35c00" stroke-width="2.5"/>')
    ly = HEIGHT - 16
    parts += [
        f'<rect x="{LEFT}" y="{ly - 10}" width="12" height="12" fill="#1f5f99"/>',
        f'<text x="{LEFT + 18}" y="{ly}" fill="#1a1a1a">views</text>',
        f'<rect x="{LEFT + 80}" y="{ly - 10}" width="12" height="12" fill="#b8b8b8"/>',
        f'<text x="{LEFT + 98}" y="{ly}" fill="#1a1a1a">bot views</text>',
        f'<line x1="{LEFT + 180}" x2="{LEFT + 200}" y1="{ly - 4}" y2="{ly - 4}" stroke="#b35c00" stroke-width="2.5"/>',
        f'<text x="{LEFT + 206}" y="{ly}" fill="#1a1a1a">unique visitors</text>',
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def _nice_step(peak: int) -> int:
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000):
        if peak / step <= 6:
            return step
    return int(10 ** len(str(peak)))


def _describe(report: Report) -> str:
    total = sum(d.views for d in report.days)
    uniques = sum(d.uniques for d in report.days)
    bots = sum(d.bot_views for d in report.days)
    return f"{total} page views, {uniques} daily unique visitors summed over the days, {bots} bot views."
