"""Governance charts count whole things: every tick of a count axis is a whole number
(usability review m11: ticks at 1.25, 2.5, 3.75)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from mash_hub.governance import charts


@pytest.mark.parametrize(("most", "ticks"), [(1, "0 1"), (2, "0 1 2"), (3, "0 1 2 3 4 5"),
                                             (7, "0 2 4 6 8 10"), (17, "0 5 10 15 20"),
                                             (40, "0 10 20 30 40 50")])  # fmt: skip
def test_count_axes_tick_whole_numbers(most, ticks):
    days = [date(2026, 11, 30) + timedelta(days=i) for i in range(3)]
    chart = charts.stacked_bars("Accesses", days, {"Health": [0, most, 1]})
    labels = re.findall(r'text-anchor="end" font-size="12">([^<]+)</text>', str(chart.svg))
    assert " ".join(labels) == ticks
