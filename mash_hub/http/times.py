"""Times in the JSON API: RFC 3339 in UTC, written with "Z" (2026-11-29T09:15:00Z), as
shared/docs/api.md shows them. Pages show UK time instead (mash_hub.uktime)."""

from __future__ import annotations

from datetime import UTC, datetime


def api_time(moment: datetime) -> str:
    """`moment` as the API writes times; a naive moment is taken as UTC, as stored."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def api_time_or_none(moment: datetime | None) -> str | None:
    return api_time(moment) if moment is not None else None
