"""Offset paging of the API's lists: `cursor` and `limit` (shared/docs/api.md)."""

from __future__ import annotations

from collections.abc import Mapping

from mash_hub.http.errors import ApiError


def page_limit(args: Mapping[str, str], default: int, maximum: int) -> tuple[int, int]:
    """(limit, offset) from the query's `limit` and `cursor`, or a 422 naming each bad one."""
    raw_limit = args.get("limit", str(default))
    raw_cursor = args.get("cursor", "0") or "0"
    fields = {}
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not (1 <= int(raw_limit) <= maximum):
        fields["limit"] = f"must be a whole number from 1 to {maximum}"
    if not (raw_cursor.isascii() and raw_cursor.isdigit()) or len(raw_cursor) > 12:
        fields["cursor"] = "must be a next_cursor this list gave out"
    if fields:
        # The same answer as the audit list's: a validation failure naming each parameter.
        raise ApiError(422, "the paging parameters have problems", fields=fields)
    return int(raw_limit), int(raw_cursor)
