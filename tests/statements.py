"""Count the SQL statements a piece of work sends to the database.

Every statement on the app's engine is counted, whichever connection or transaction
issues it: the request's unit of work, and the units of work of their own (an audited
refusal, an API client's rate-limit slot, a sign-in session).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import event

from mash_hub.db import Database


class Statements:
    """The statements seen so far, in order."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def __len__(self) -> int:
        return len(self.sql)

    def __str__(self) -> str:
        return "\n".join(f"{n:3d}  {' '.join(s.split())[:160]}" for n, s in enumerate(self.sql, 1))

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.sql.append(statement)


@contextmanager
def counting(app: Flask) -> Iterator[Statements]:
    """Count what runs inside the block on `app`'s engine."""
    database: Database = app.extensions["mash.db"]
    seen = Statements()
    event.listen(database.engine, "before_cursor_execute", seen._seen)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", seen._seen)
