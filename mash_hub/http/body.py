"""The JSON body of an API request."""

from __future__ import annotations

from typing import Any

from flask import request

from mash_hub.http.errors import ApiError

# Deeper than any payload of the contract (api.md) nests: a contact is four levels deep.
MAX_DEPTH = 32


def json_body() -> Any:
    if not request.is_json:
        raise ApiError(415, "send the body as application/json")
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # the parser's own limit, far past MAX_DEPTH
        body = None
        too_deep = True
    else:
        too_deep = body is not None and _depth_over(body, MAX_DEPTH)
    if too_deep:
        raise ApiError(400, f"the body is nested more than {MAX_DEPTH} levels deep")
    if body is None:
        raise ApiError(400, "the body is not valid JSON")
    return body


def _depth_over(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` deep (iteratively: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False
