"""Contact endpoints of the JSON API: thin, parse, call the service, answer."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, jsonify, render_template
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm.exc import StaleDataError

from mash_hub import db, runtime
from mash_hub.authz import Permission, current_principal, requires
from mash_hub.authz.gate import Principal
from mash_hub.contacts import services
from mash_hub.contacts.hooks import hooks
from mash_hub.contacts.schemas import read_contact
from mash_hub.deadlines import RAG_RATINGS
from mash_hub.http.body import json_body
from mash_hub.http.errors import ApiError
from mash_hub.http.validation import Reader, ValidationFailed

bp = Blueprint("contacts", __name__, url_prefix="/contacts")
api_bp = Blueprint("contacts_api", __name__, url_prefix="/api/v1/contacts")


def init_app(app: Flask, csrf: CSRFProtect) -> None:
    csrf.exempt(api_bp)  # bearer tokens, never cookies
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)


def _principal() -> Principal:
    principal = current_principal()
    if principal is None:  # the gate always sets it for a declared endpoint
        raise ApiError(401, "no principal")
    return principal


@api_bp.route("", methods=["POST"])
@requires(Permission.API_CONTACTS_WRITE)
def api_create() -> tuple[Response, int]:
    try:
        data = read_contact(json_body(), runtime.now())
    except ValidationFailed as failed:
        raise ApiError(422, "the contact has problems", fields=failed.fields) from failed
    contact = services.create_contact(db.session(), _principal(), data)
    return jsonify(
        {"id": str(contact.id), "reference": contact.reference, "status": contact.status}
    ), 201


@api_bp.route("/<contact_id>")
@requires(Permission.API_CONTACTS_READ)
def api_show(contact_id: str) -> Response:
    try:
        view = services.get_contact_for(db.session(), _principal(), contact_id)
    except services.ContactNotFound as missing:
        raise ApiError(404, "no such record") from missing
    except services.ContactDeleted as deleted:
        # api.md has no 410: a contact deleted under retention is no longer a record.
        raise ApiError(404, "no such record") from deleted
    return jsonify(
        {
            "id": view.id,
            "reference": view.reference,
            "received_at": view.received_at.isoformat(),
            "status": view.status,
            "rag": view.rag,
            "decision_due_at": view.decision_due_at.isoformat() if view.decision_due_at else None,
            "rating_history": [
                {
                    "rag": r.rag,
                    "previous_rag": r.previous_rag,
                    "rationale": r.rationale,
                    "rated_at": r.rated_at.isoformat(),
                    "rated_by": r.rated_by,
                    "decision_due_at": r.decision_due_at.isoformat(),
                }
                for r in view.ratings
            ],
            "source": {
                "agency": view.source_agency,
                "referrer_name": view.referrer_name,
                "referrer_role": view.referrer_role,
            },
            "concern": view.concern,
            "warnings": hooks().warnings(db.session(), _principal(), view.id),
            "consent": {"status": view.consent_status, "reason": view.consent_reason},
            "subjects": [
                {
                    "id": s.id,
                    "role": s.role,
                    "given_name": s.given_name,
                    "family_name": s.family_name,
                    "date_of_birth": s.date_of_birth.isoformat() if s.date_of_birth else None,
                    "address": s.address,
                    "nhs_number": s.nhs_number,
                    "upn": s.upn,
                }
                for s in view.subjects
            ],
            "requests": hooks().requests(view.id),
        }
    )


@bp.route("/<contact_id>")
@requires(Permission.CONTACTS_VIEW)
def show(contact_id: str) -> str:
    try:
        view = services.get_contact_for(db.session(), _principal(), contact_id)
    except services.ContactNotFound:
        abort(404)
    except services.ContactDeleted as deleted:
        # 200: the page shows what is left (the firewall's allow stays in the audit).
        return render_template("contacts/deleted.html", contact=deleted, title=deleted.reference)
    return render_template("contacts/show.html", contact=view, title=view.reference)


@api_bp.route("/<contact_id>/rating", methods=["POST"])
@requires(Permission.API_CONTACTS_RATE)
def api_rate(contact_id: str) -> Response:
    body = json_body()
    reader = Reader()
    root = reader.obj(body, "")
    rag = reader.choice(root, "rag", "rag", RAG_RATINGS)
    rationale = reader.text(root, "rationale", "rationale", max_length=5000, multiline=True)
    try:
        reader.check()
    except ValidationFailed as failed:
        raise ApiError(422, "the rating has problems", fields=failed.fields) from failed
    assert rag is not None and rationale is not None  # noqa: S101 - checked above
    try:
        contact = services.rate_contact(db.session(), _principal(), contact_id, rag, rationale)
    except services.ContactNotFound as missing:
        raise ApiError(404, "no such record") from missing
    except services.ContactLeftScreening as left:
        raise ApiError(409, "the contact has a decision and can no longer be rated") from left
    except StaleDataError as clash:
        raise ApiError(
            409, "the contact was changed by someone else at the same time: read it and retry"
        ) from clash
    assert contact.decision_due_at is not None  # noqa: S101 - set by rating
    return jsonify({"rag": contact.rag, "decision_due_at": contact.decision_due_at.isoformat()})
