"""Charts drawn on the server as inline SVG: no script, nothing from another origin, so they work
under the pages' CSP and in any browser. Each chart is an image with a title for screen readers;
the pages put the table of its figures beside it."""

from __future__ import annotations

from markupsafe import Markup, escape

COLOURS = ("#1d4e89", "#b5452b", "#1f6f43", "#8a5a00", "#6b3fa0", "#2f7f8f")
WIDTH, ROW, LABEL = 640, 26, 230


def _svg(title: str, height: int, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>")


def _text(x: float, y: float, value: str, anchor: str = "start", size: int = 13, fill: str = "#333") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-family="Arial, Helvetica, sans-serif" font-size="{size}" '
            f'text-anchor="{anchor}" fill="{fill}">{escape(value)}</text>')


def _short(label: str, limit: int = 34) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


def bar_chart(title: str, rows: list[tuple[str, float]], fmt=lambda v: f"{v:,.0f}") -> Markup:
    """Horizontal bars, one per (label, value), longest scaled to the width."""
    top = max((value for _, value in rows), default=0) or 1
    height = max(1, len(rows)) * ROW + 10
    body = []
    for index, (label, value) in enumerate(rows):
        y = 5 + index * ROW
        length = (WIDTH - LABEL - 80) * value / top
        body.append(_text(LABEL - 8, y + 17, _short(label), anchor="end"))
        body.append(f'<rect x="{LABEL}" y="{y + 4}" width="{max(length, 1):.1f}" height="{ROW - 8}" '
                    f'fill="{COLOURS[0]}" rx="2"/>')
        body.append(_text(LABEL + length + 6, y + 17, fmt(value)))
    if not rows:
        body.append(_text(10, 20, "Nothing to show yet.", fill="#666"))
    return _svg(title, height, body)


def line_chart(title: str, labels: list[str], series: list[tuple[str, list[float | None]]],
               fmt=lambda v: f"{v:,.0f}") -> Markup:
    """One line per series over `labels` (gaps where a value is None), with a legend."""
    height, left, right, top, bottom = 260, 60, 20, 34, 40
    values = [v for _, points in series for v in points if v is not None]
    high = max(values, default=0) or 1
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    step = plot_w / max(1, len(labels) - 1)

    def x(i: int) -> float:
        return left + i * step if len(labels) > 1 else left + plot_w / 2

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / high

    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{WIDTH - right}" y2="{top + plot_h}" stroke="#999"/>',
            _text(left - 6, top + 4, fmt(high), anchor="end", size=11),
            _text(left - 6, top + plot_h + 4, fmt(0), anchor="end", size=11)]
    every = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        if i % every == 0 or i == len(labels) - 1:
            body.append(_text(x(i), height - bottom + 18, _short(label, 12), anchor="middle", size=11))
    for n, (name, points) in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        runs, run = [], []
        for i, v in enumerate(points):
            if v is None:
                runs, run = (runs + [run] if run else runs), []
            else:
                run.append(f"{x(i):.1f},{y(v):.1f}")
        runs += [run] if run else []
        for run in runs:
            body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2.5" points="{" ".join(run)}"/>')
            if len(run) == 1:
                cx, cy = run[0].split(",")
                body.append(f'<circle cx="{cx}" cy="{cy}" r="3.5" fill="{colour}"/>')
        body.append(f'<rect x="{left + n * 150}" y="6" width="12" height="12" fill="{colour}"/>')
        body.append(_text(left + n * 150 + 17, 17, name, size=12))
    return _svg(title, height, body)


def percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"
