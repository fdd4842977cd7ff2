"""Small, strict readers for JSON payloads. Each problem is collected against its field's
path, so one 422 answer lists everything that needs fixing."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class ValidationFailed(Exception):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("validation failed")
        self.fields = fields


class Reader:
    """Reads fields out of a JSON object, recording a message per bad field."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path, message)

    def check(self) -> None:
        if self.errors:
            raise ValidationFailed(dict(sorted(self.errors.items())))

    def obj(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path or "body", "must be a JSON object")
            return {}
        return value

    def text(
        self,
        source: dict[str, Any],
        key: str,
        path: str,
        *,
        max_length: int,
        required: bool = True,
        multiline: bool = False,
    ) -> str | None:
        value = source.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(path, "is required")
            return None
        if not isinstance(value, str):
            self.fail(path, "must be text")
            return None
        if len(value) > max_length:
            self.fail(path, f"must be {max_length} characters or fewer")
            return None
        cleaned = value.replace("\r\n", "\n")
        if not _encodable(cleaned):  # a lone surrogate ("\ud800") is no character at all
            self.fail(path, "must be valid Unicode text")
            return None
        if _CONTROL.search(cleaned):  # NUL and friends; PostgreSQL refuses NUL outright
            self.fail(path, "must not contain control characters")
            return None
        if not multiline and ("\n" in cleaned or "\r" in cleaned):
            self.fail(path, "must be a single line")
            return None
        return cleaned.strip()

    def choice(
        self, source: dict[str, Any], key: str, path: str, options: tuple[str, ...]
    ) -> str | None:
        value = source.get(key)
        if value not in options:
            self.fail(path, f"must be one of: {', '.join(options)}")
            return None
        return str(value)

    def moment(self, source: dict[str, Any], key: str, path: str) -> datetime | None:
        value = source.get(key)
        if not isinstance(value, str) or len(value) > 40:
            self.fail(path, "must be an RFC 3339 time with an offset, e.g. 2026-11-29T09:15:00Z")
            return None
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            self.fail(path, "must be an RFC 3339 time with an offset, e.g. 2026-11-29T09:15:00Z")
            return None
        if moment.tzinfo is None:
            self.fail(path, "must include a time zone offset, e.g. Z or +01:00")
            return None
        return moment

    def day(self, source: dict[str, Any], key: str, path: str, *, required: bool) -> date | None:
        value = source.get(key)
        if value is None:
            if required:
                self.fail(path, "is required")
            return None
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            self.fail(path, "must be a date like 2015-04-02")
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(path, "must be a real date")
            return None
