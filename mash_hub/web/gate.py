"""The gate: runs before every view and lets it run only for a principal holding its permission.

People need a session that has passed both password and TOTP; agency systems need a
bearer token with a scope that grants the permission. The API never accepts a cookie.
"""

from __future__ import annotations

import structlog
from flask import Flask, current_app, g, redirect, request, url_for
from flask_login import current_user
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers.response import Response as BaseResponse

from mash_hub import db
from mash_hub.authz.gate import Principal, declared_permission, is_public
from mash_hub.http.errors import ApiError
from mash_hub.identity import services as identity
from mash_hub.web.security import is_api_request

log = structlog.get_logger("mash_hub.gate")


def init_app(app: Flask) -> None:
    app.before_request(enforce)


def enforce() -> BaseResponse | None:
    endpoint = request.endpoint
    if endpoint is None:
        return None  # no route matched: the 404/405 handler answers
    view = current_app.view_functions[endpoint]
    if is_public(view):
        return None
    permission = declared_permission(view)
    if permission is None:  # create_app refuses this; belt and braces
        raise Forbidden()
    if is_api_request():
        principal = _api_principal()
        g.principal = principal
        db.rescope_request()
        if not principal.can(permission):
            raise ApiError(403, "the token's scopes do not allow this", code="insufficient_scope")
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("identity.sign_in"))
    principal = identity.principal_for_user(current_user)
    g.principal = principal
    db.rescope_request()
    if not principal.can(permission):
        raise Forbidden()
    return None


def _api_principal() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "send an access token from /oauth/token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": 'Bearer realm="mash-hub"'},
        )
    check = identity.principal_for_token(db.session(), token.strip())
    if check.principal is None:
        raise ApiError(
            401,
            check.problem,
            headers={"WWW-Authenticate": 'Bearer realm="mash-hub", error="invalid_token"'},
        )
    if check.client_pk is not None:
        rate = identity.take_rate_slot(check.client_pk)
        if not rate.allowed:
            log.info("api_rate_limited", client_id=check.principal.id, limit=rate.limit)
            raise ApiError(
                429,
                f"this client has made more than {rate.limit} calls in the current window; "
                f"try again in {rate.retry_after} seconds",
                headers={"Retry-After": str(rate.retry_after)},
            )
    return check.principal
