"""`/healthz` and `/readyz`: for a load balancer or an orchestrator, public and free of
data (no case content, no counts, no ids; nothing to audit).

- `/healthz`: the process answers. 200 whenever it can answer at all.
- `/readyz`: this worker can serve: the database answers (as the role the hub runs as),
  the policy set is loaded, and the master key opens the agency keys (checked at start,
  or now if the database was away then). 200, or 503 naming what is not ready.

Both answer at any Host: a probe uses the server's own address, not the public one.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from mash_hub.authz import public

bp = Blueprint("operations", __name__)
log = structlog.get_logger("mash_hub.operations")


def init_app(app: Flask, keys_verified: Callable[[Flask], bool]) -> None:
    app.extensions["mash.keys_verified_check"] = keys_verified
    app.register_blueprint(bp)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/healthz")
@public  # a probe carries no credentials, and the answer holds nothing
def healthz() -> Response:
    return _no_store(jsonify(status="ok"))


@bp.route("/readyz")
@public  # a probe carries no credentials; the answer names checks, never data
def readyz() -> Response:
    checks = {
        "database": _database(),
        "policies": "ok" if current_app.extensions.get("mash.pdp") is not None else "not loaded",
        "keys": _keys(),
    }
    ready = all(state == "ok" for state in checks.values())
    if not ready:
        log.warning("not_ready", **checks)
    response = jsonify(status="ready" if ready else "not ready", checks=checks)
    response.status_code = 200 if ready else 503
    return _no_store(response)


def _database() -> str:
    try:
        with current_app.extensions["mash.db"].transaction() as db:
            db.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return "unreachable"
    return "ok"


def _keys() -> str:
    verified: Callable[[Flask], bool] = current_app.extensions["mash.keys_verified_check"]
    try:
        return "ok" if verified(current_app._get_current_object()) else "not verified"  # type: ignore[attr-defined]
    except SQLAlchemyError:
        return "not verified"
