"""CSV cells safe to open in a spreadsheet: a cell starting with one of these characters
is run as a formula by Excel and LibreOffice (CSV injection), so it gets a leading quote.
Every CSV the hub writes (the audit export, the breach report, the performance figures)
passes its cells through `safe_cell`."""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
