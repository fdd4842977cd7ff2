"""The API's JSON error shape: {"error": "<code>", "message": "<text>"} (+ "fields" on 422)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

STATUS_CODES = {
    400: "bad_request",
    401: "invalid_token",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "server_error",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or STATUS_CODES.get(status, "error")
        self.message = message
        self.fields = fields
        self.headers = headers or {}


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"error": code or STATUS_CODES.get(status, "error"), "message": message}
    if fields is not None:
        body["fields"] = fields
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_api_error(err: ApiError) -> Response:
    return error_response(
        err.status, err.message, code=err.code, fields=err.fields, headers=err.headers
    )


def token_refusal(
    status: int, error: str, description: str, *, retry_after: int | None = None
) -> Response:
    """The token endpoint's refusals, in RFC 6749's shape (`error`, `error_description`),
    with Retry-After when the caller is to come back later."""
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response
