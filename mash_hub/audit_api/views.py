"""The audit trail over the API: GET /api/v1/audit/events for governance tools (SIEM).

The read is itself decided by the firewall and audited: a governance client reads its own
agency's trail (policy governance-lead-read-own-audit).
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify, request
from flask_wtf.csrf import CSRFProtect

from mash_hub import db, firewall, runtime
from mash_hub.audit import services
from mash_hub.audit_api import schemas
from mash_hub.authz import Permission, acting_principal, requires
from mash_hub.firewall import duties
from mash_hub.http.errors import ApiError
from mash_hub.http.validation import ValidationFailed
from mash_hub.policy.types import Action

api_bp = Blueprint("audit_api", __name__, url_prefix="/api/v1/audit")


def init_app(app: Flask, csrf: CSRFProtect) -> None:
    csrf.exempt(api_bp)  # bearer tokens, never cookies
    app.register_blueprint(api_bp)


@api_bp.route("/events")
@requires(Permission.API_AUDIT_READ)
def api_events() -> Response:
    principal = acting_principal()
    settings = runtime.settings().api
    try:
        wanted = schemas.read_filter(
            request.args.to_dict(),
            principal.agency,
            settings.page_limit_default,
            settings.page_limit_max,
        )
    except ValidationFailed as failed:
        raise ApiError(422, "the search has problems", fields=failed.fields) from failed
    try:
        firewall.require(principal, Action.AUDIT_READ, duties.audit_log(wanted.agency))
    except firewall.AccessDenied as refused:
        raise ApiError(403, "this client may not read that agency's audit trail") from refused
    events, last = services.search(db.session(), wanted)
    return jsonify(
        {
            "events": [schemas.event_json(e) for e in events],
            "next_cursor": None if last is None else schemas.encode_cursor(last),
        }
    )
