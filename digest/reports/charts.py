"""Charts drawn on the server as inline SVG: no script, nothing from another origin, so they work
under the pages' CSP and in any browser. Each chart is an image with a title for screen readers;
the pages put the table of its figures beside it.

Colours come from the page: text and axes are currentColor (the page's ink, light or dark), and
each series names its class (s0, s1, ...), which the page's CSS colours for its scheme
(templates/web/editor_base.html); the fill and stroke attributes are the light scheme's, for an
SVG seen without the page."""

from __future__ import annotations

from markupsafe import Markup, escape

COLOURS = ("#1d4e89", "#b5452b", "#1f6f43", "#8a5a00", "#6b3fa0", "#2f7f8f")
# Narrow drawings with large type: on a 375 px phone they shrink little and stay legible.
BAR_WIDTH, BAR_ROW, LINE_WIDTH = 420, 44, 520


def _svg(title: str, width: int, height: int, body: list[str], kind: str) -> Markup:
    return Markup(
        f'<svg class="chart {kind}" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>")


def _text(x: float, y: float, value: str, anchor: str = "start", size: int = 13, faint: bool = False) -> str:
    style = ' fill-opacity="0.75"' if faint else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-family="Arial, Helvetica, sans-serif" font-size="{size}" '
            f'text-anchor="{anchor}" fill="currentColor"{style}>{escape(value)}</text>')


def _short(label: str, limit: int = 34) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


def bar_chart(title: str, rows: list[tuple[str, float]], fmt=lambda v: f"{v:,.0f}") -> Markup:
    """Horizontal bars, one per (label, value), each label above its bar so that long titles keep
    the whole width; the longest bar fills the width less room for its figure."""
    top = max((value for _, value in rows), default=0) or 1
    height = max(1, len(rows)) * BAR_ROW + 6
    body = []
    for index, (label, value) in enumerate(rows):
        y = 4 + index * BAR_ROW
        length = (BAR_WIDTH - 60) * value / top
        body.append(_text(0, y + 15, _short(label, 52), size=14))
        body.append(f'<rect class="s0" x="0" y="{y + 21}" width="{max(length, 1):.1f}" height="16" fill="{COLOURS[0]}" rx="2"/>')
        body.append(_text(length + 6, y + 34, fmt(value), size=14))
    if not rows:
        body.append(_text(0, 20, "Nothing to show yet.", size=14, faint=True))
    return _svg(title, BAR_WIDTH, height, body, "bars")


def line_chart(title: str, labels: list[str], series: list[tuple[str, list[float | None]]],
               fmt=lambda v: f"{v:,.0f}") -> Markup:
    """One line per series over `labels` (gaps where a value is None), with a legend."""
    width, height, left, right, top, bottom = LINE_WIDTH, 250, 56, 12, 40, 30
    values = [v for _, points in series for v in points if v is not None]
    high = max(values, default=0) or 1
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(1, len(labels) - 1)

    def x(i: int) -> float:
        return left + i * step if len(labels) > 1 else left + plot_w / 2

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / high

    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="currentColor" stroke-opacity="0.6"/>',
            f'<line x1="{left}" y1="{top}" x2="{width - right}" y2="{top}" stroke="currentColor" stroke-opacity="0.2"/>',
            _text(left - 6, top + 5, fmt(high), anchor="end", size=13),
            _text(left - 6, top + plot_h + 5, fmt(0), anchor="end", size=13)]
    every = max(1, len(labels) // 4)
    for i, label in enumerate(labels):
        if i % every == 0 or i == len(labels) - 1:
            # The first and last labels sit inside the frame rather than centred past its edges.
            anchor = "start" if i == 0 and len(labels) > 1 else "end" if i == len(labels) - 1 and i else "middle"
            body.append(_text(x(i), height - bottom + 18, _short(label, 12), anchor=anchor, size=13))
    for n, (name, points) in enumerate(series):
        colour, series_class = COLOURS[n % len(COLOURS)], f"s{n % len(COLOURS)}"
        runs, run = [], []
        for i, v in enumerate(points):
            if v is None:
                runs, run = (runs + [run] if run else runs), []
            else:
                run.append(f"{x(i):.1f},{y(v):.1f}")
        runs += [run] if run else []
        for run in runs:
            body.append(f'<polyline class="{series_class}" fill="none" stroke="{colour}" stroke-width="2.5" points="{" ".join(run)}"/>')
            if len(run) == 1:
                cx, cy = run[0].split(",")
                body.append(f'<circle class="{series_class}" cx="{cx}" cy="{cy}" r="3.5" fill="{colour}"/>')
        legend_x = n * (width // max(1, len(series)))
        body.append(f'<rect class="{series_class}" x="{legend_x}" y="6" width="13" height="13" fill="{colour}"/>')
        body.append(_text(legend_x + 18, 18, name, size=14))
    return _svg(title, width, height, body, "lines")


def percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"
