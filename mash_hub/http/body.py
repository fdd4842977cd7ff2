"""The JSON body of an API request."""

from __future__ import annotations

from typing import Any

from flask import request

from mash_hub.http.errors import ApiError


def json_body() -> Any:
    if not request.is_json:
        raise ApiError(415, "send the body as application/json")
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "the body is not valid JSON")
    return body
