"""The reports' charts: one horizontal bar per category, drawn as inline SVG on the
server (no JavaScript, nothing the content security policy forbids). Each chart has its
table beside it on the page, with the same figures and the periods; a figure that is
not shown (a small number) has no bar and says so in words."""

from __future__ import annotations

from markupsafe import Markup, escape

from mash_hub.reports.services import ChartSpec

WIDTH = 720
LABEL_W, VALUE_W, RIGHT, TOP = 220, 110, 8, 8
BAR_H, GAP = 20, 10
COLOUR = "#1d70b8"  # GOV.UK blue; the value is written beside each bar as well


def _nice_ceiling(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 5 x 10^n)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def bars(spec: ChartSpec, ident: str) -> Markup:
    """The chart as SVG; `ident` makes its title's id unique on the page."""
    values = [bar.value for bar in spec.bars if bar.value is not None]
    top = 1.0 if spec.unit == "share" else _nice_ceiling(max(values, default=0) or 1)
    plot_w = WIDTH - LABEL_W - VALUE_W - RIGHT
    height = TOP * 2 + len(spec.bars) * (BAR_H + GAP)
    parts: list[str] = []
    for i, bar in enumerate(spec.bars):
        y = TOP + i * (BAR_H + GAP)
        text_y = y + BAR_H * 0.7
        parts.append(
            f'<text x="{LABEL_W - 8}" y="{text_y:.1f}" text-anchor="end" font-size="13">'
            f"{escape(bar.label)}</text>"
        )
        width = 0.0 if bar.value is None else plot_w * bar.value / top
        if width > 0:
            parts.append(
                f'<rect x="{LABEL_W}" y="{y}" width="{max(width, 1.0):.1f}" height="{BAR_H}" '
                f'fill="{COLOUR}"/>'
            )
        parts.append(
            f'<text x="{LABEL_W + width + 6:.1f}" y="{text_y:.1f}" font-size="13">'
            f"{escape(bar.text)}</text>"
        )
    # Every value put in the markup is a number we computed or passed through escape().
    return Markup(  # noqa: S704
        f'<svg class="hub-chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="chart-{escape(ident)}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-{escape(ident)}">{escape(spec.title)}</title>{"".join(parts)}</svg>'
    )
