"""CSV export of an audit search. Spreadsheet programs run a cell that begins with
= + - @ (or a tab or carriage return) as a formula, so such cells are prefixed with an
apostrophe: the text is kept and nothing runs when an investigator opens the file."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from mash_hub.audit.chain import FIELDS
from mash_hub.audit.models import AuditEvent
from mash_hub.http.spreadsheets import safe_cell

# Every column the hash chain covers, then the chain itself, so an investigator's copy can
# be checked against the trail event by event.
COLUMNS = (*FIELDS, "prev_hash", "hash")


def _cells(event: AuditEvent) -> list[str]:
    values: list[object] = []
    for column in COLUMNS:
        value = getattr(event, column)
        if column == "at":
            value = value.isoformat()
        elif column == "break_glass":
            value = "yes" if value else "no"
        values.append(value)
    return [safe_cell(v) for v in values]


def csv_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    """The CSV text, a row at a time (header first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for event in events:
        writer.writerow(_cells(event))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()
