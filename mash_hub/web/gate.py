"""The gate: runs before every view and lets it run only for a principal holding its permission.

People need a session that has passed both password and TOTP; agency systems need a
bearer token with a scope that grants the permission. The API never accepts a cookie.
"""

from __future__ import annotations

import re
import uuid

import structlog
from flask import Flask, current_app, g, redirect, request, url_for
from flask_login import current_user
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers.response import Response as BaseResponse

from mash_hub import db
from mash_hub.audit.services import EventDraft, record_on_its_own
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
            _audit_refusal(principal, permission)
            raise ApiError(403, "the token's scopes do not allow this", code="insufficient_scope")
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("identity.sign_in"))
    principal = identity.principal_for_user(current_user)
    g.principal = principal
    db.rescope_request()
    if not principal.can(permission):
        _audit_refusal(principal, permission)
        raise Forbidden()
    return None


SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

# The record a path names, by its argument: what a refusal at the gate was aimed at.
PATH_OBJECTS = {
    "contact_id": "Contact",
    "request_id": "InfoRequest",
    "disclosure_id": "Disclosure",
    "grant_id": "BreakGlassGrant",
    "merge_id": "PersonMerge",
    "subject_id": "Subject",
    "review_id": "RetentionReview",
}


def _audit_refusal(principal: Principal, permission: str) -> None:
    """A refusal at the gate is in the audit trail, in a transaction of its own (the answer
    is an error and rolls back): who, the endpoint and permission, and the record id the
    path names if any (partners probing ids are visible to governance). Ids only."""
    args = request.view_args or {}
    name = next((arg for arg in PATH_OBJECTS if arg in args), None)
    object_id = str(args[name])[:64] if name is not None else None
    if object_id is not None and not SAFE_ID.fullmatch(object_id):
        object_id = "(not an id)"  # whatever was typed stays out of the trail
    contact_id = None
    if name == "contact_id" and object_id is not None:
        try:
            contact_id = str(uuid.UUID(object_id))
        except ValueError:
            contact_id = None
    db.rollback_request()
    record_on_its_own(
        EventDraft(
            kind="access.gate_refused",
            actor_type=principal.kind,
            actor_id=principal.id,
            agency=principal.agency,
            roles=tuple(sorted(role.value for role in principal.roles))
            or tuple(sorted(scope.value for scope in principal.scopes)),
            action=str(permission)[:48],
            object_type=PATH_OBJECTS[name] if name is not None else "Endpoint",
            object_id=object_id if name is not None else str(request.endpoint)[:64],
            contact_id=contact_id,
            decision="deny",
            reason=f"{request.endpoint} needs {permission}"[:255],
        )
    )


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
