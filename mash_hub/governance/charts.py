"""Server-rendered SVG charts. Each comes with the same figures as a table, so nothing is
shown only as a picture, and nothing needs JavaScript.

Colours are drawn from the GOV.UK palette and each series also has a text label in the
legend and the table; colour is never the only way to tell series apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

from mash_hub import uktime

PALETTE = ("#1d70b8", "#f47738", "#00703c", "#912b88", "#d4351c", "#505a5f", "#28a197")
WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 56


@dataclass(frozen=True)
class Chart:
    title: str
    svg: Markup
    columns: list[str]
    rows: list[list[str]]


def _nice_ceiling(value: float) -> int:
    """A round axis maximum at or above `value` (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _divisions(top: int) -> int:
    """How many steps the count axis takes so that every tick is a whole number: 4 or 5
    where the top divides, else one per unit (a top of 1 or 2)."""
    for steps in (4, 5):
        if top % steps == 0:
            return steps
    return top


def stacked_bars(
    title: str, days: list[date], series: dict[str, list[int]], unit: str = "accesses"
) -> Chart:
    """One bar per day, stacked by series."""
    names = list(series)
    totals = [sum(series[name][i] for name in names) for i in range(len(days))]
    top = _nice_ceiling(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar = max(slot * 0.7, 1.0)
    parts: list[str] = []
    divisions = _divisions(top)
    for tick in range(divisions + 1):
        value = top * tick // divisions  # counts: whole numbers only
        y = TOP + plot_h - plot_h * tick / divisions
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#b1b4b6" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12">'
            f"{value}</text>"
        )
    label_every = max(1, len(days) // 10)
    for i, day in enumerate(days):
        x = LEFT + slot * i + (slot - bar) / 2
        base = float(TOP + plot_h)
        for s, name in enumerate(names):
            count = series[name][i]
            if not count:
                continue
            height = plot_h * count / top
            base -= height
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(name)}, '
                f"{day.isoformat()}: {count} {unit}</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" '
                f'font-size="12">{uktime.short_day(day)}</text>'
            )
    for s, name in enumerate(names):
        x = LEFT + 130 * s
        y = HEIGHT - 14
        parts.append(
            f'<rect x="{x}" y="{y - 10}" width="12" height="12" '
            f'fill="{PALETTE[s % len(PALETTE)]}"/>'
            f'<text x="{x + 18}" y="{y}" font-size="12">{escape(name)}</text>'
        )
    # Every value put in the markup is a number we computed or passed through escape().
    svg = Markup(  # noqa: S704
        f'<svg class="hub-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-{_slug(title)}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-{_slug(title)}">{escape(title)}</title>{"".join(parts)}</svg>'
    )
    columns = ["Day", *names, "Total"] if len(names) > 1 else ["Day", unit.capitalize()]
    rows = []
    for i, day in enumerate(days):
        counts = [str(series[name][i]) for name in names]
        rows.append(
            [f"{day:%A} {uktime.day(day)}", *counts, str(totals[i])]
            if len(names) > 1
            else [f"{day:%A} {uktime.day(day)}", *(counts or ["0"])]
        )
    return Chart(title, svg, columns, rows)


def share_bars(title: str, rows: list[tuple[str, float | None, str]]) -> Chart:
    """One horizontal bar per (label, share from 0 to 1 or None, detail for the table)."""
    bar_h, gap, label_w = 22, 10, 180
    height = TOP + len(rows) * (bar_h + gap) + 24
    plot_w = WIDTH - label_w - RIGHT - 56
    parts: list[str] = []
    for i, (label, share, _detail) in enumerate(rows):
        y = TOP + i * (bar_h + gap)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end" '
            f'font-size="13">{escape(label)}</text>'
        )
        if share is None:
            parts.append(
                f'<text x="{label_w}" y="{y + bar_h * 0.7:.1f}" font-size="13">'
                "no requests closed</text>"
            )
            continue
        width = max(plot_w * share, 1.0)
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{width:.1f}" height="{bar_h}" '
            f'fill="{PALETTE[0]}"><title>{escape(label)}: {share:.0%}</title></rect>'
            f'<text x="{label_w + width + 6:.1f}" y="{y + bar_h * 0.7:.1f}" '
            f'font-size="13">{share:.0%}</text>'
        )
    # Every value put in the markup is a number we computed or passed through escape().
    svg = Markup(  # noqa: S704
        f'<svg class="hub-chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="chart-{_slug(title)}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-{_slug(title)}">{escape(title)}</title>{"".join(parts)}</svg>'
    )
    table = [
        [label, f"{share:.0%}" if share is not None else "None closed", detail]
        for label, share, detail in rows
    ]
    return Chart(title, svg, ["Agency", "Answered in time", "Answered, expired, open"], table)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower())
