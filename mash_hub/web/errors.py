"""Error answers: GOV.UK pages for people, the contract's JSON for the API.

No stack trace ever leaves the hub; a correlation id links the page to the log line.
"""

from __future__ import annotations

import structlog
from flask import Flask, Response, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from mash_hub.db import rollback_request
from mash_hub.errors import Conflict, NotFound, Refused
from mash_hub.http.errors import ApiError, error_response, from_api_error
from mash_hub.web.security import is_api_request, request_id

log = structlog.get_logger("mash_hub.errors")

PAGE_TITLES = {
    400: "There is a problem with your request",
    403: "You do not have permission to see this page",
    404: "Page not found",
    405: "That action is not allowed here",
    409: "That cannot be done now",
    413: "What you sent is too large",
    500: "Sorry, there is a problem with the service",
}

API_MESSAGES = {
    400: "the request is malformed",
    403: "this client may not do this",
    404: "no such record",
    405: "method not allowed on this path",
    413: "the request body is larger than 1 MB",
    415: "send the body as application/json",
    500: "the hub could not complete the request",
}


def _page(status: int, title: str | None = None, detail: str | None = None) -> Response:
    template = f"errors/{status}.html" if status in (403, 404, 500) else "errors/generic.html"
    html = render_template(
        template,
        status=status,
        title=title or PAGE_TITLES.get(status, "There is a problem"),
        detail=detail,
        correlation_id=request_id(),
    )
    return Response(html, status=status, mimetype="text/html")


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(err: ApiError) -> Response:
        rollback_request()
        return from_api_error(err)

    # The one error vocabulary (mash_hub.errors): a view lets these through and they are
    # answered alike everywhere, with the request's writes rolled back.
    @app.errorhandler(NotFound)
    def _not_found(_err: NotFound) -> Response:
        rollback_request()
        if is_api_request():
            return error_response(404, API_MESSAGES[404])
        return _page(404)

    @app.errorhandler(Conflict)
    def _conflict(err: Conflict) -> Response:
        rollback_request()
        message = str(err) or "the record has changed: read it again"
        if is_api_request():
            return error_response(409, message)
        return _page(409, detail=message[:1].upper() + message[1:] + ".")

    @app.errorhandler(Refused)
    def _refused(_err: Refused) -> Response:
        rollback_request()
        if is_api_request():
            return error_response(403, API_MESSAGES[403])
        return _page(403)

    @app.errorhandler(CSRFError)
    def _csrf(err: CSRFError) -> Response:
        rollback_request()
        log.info("csrf_refused", request_id=request_id())
        if is_api_request():
            return error_response(400, "missing or invalid CSRF token")
        return _page(
            400,
            "Your form could not be sent",
            "The page had been open too long, or came from somewhere else. Go back, reload "
            "the page and try again.",
        )

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response:
        rollback_request()
        status = err.code or 500
        if is_api_request():
            return error_response(status, API_MESSAGES.get(status, "request refused"))
        response = _page(status)
        if status == 405 and err.get_response().headers.get("Allow"):
            response.headers["Allow"] = err.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        rollback_request()
        log.error("unhandled_error", request_id=request_id(), error_type=type(err).__name__)
        if is_api_request():
            return error_response(500, API_MESSAGES[500])
        return _page(InternalServerError.code)
