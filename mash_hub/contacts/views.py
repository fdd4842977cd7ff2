"""Contact endpoints of the JSON API: thin, parse, call the service, answer."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm.exc import StaleDataError

from mash_hub import db, runtime
from mash_hub.authz import Permission, acting_principal, requires
from mash_hub.contacts import services
from mash_hub.contacts.schemas import read_contact
from mash_hub.deadlines import RAG_RATINGS
from mash_hub.http.body import json_body
from mash_hub.http.errors import ApiError
from mash_hub.http.times import api_time
from mash_hub.http.validation import Reader, ValidationFailed

api_bp = Blueprint("contacts_api", __name__, url_prefix="/api/v1/contacts")


def init_app(app: Flask, csrf: CSRFProtect) -> None:
    csrf.exempt(api_bp)  # bearer tokens, never cookies
    app.register_blueprint(api_bp)


@api_bp.route("", methods=["POST"])
@requires(Permission.API_CONTACTS_WRITE)
def api_create() -> tuple[Response, int]:
    try:
        data = read_contact(json_body(), runtime.now(), runtime.settings().app.go_live_date)
    except ValidationFailed as failed:
        raise ApiError(422, "the contact has problems", fields=failed.fields) from failed
    contact = services.create_contact(db.session(), acting_principal(), data)
    return jsonify(
        {"id": str(contact.id), "reference": contact.reference, "status": contact.status}
    ), 201


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
        contact = services.rate_contact(
            db.session(), acting_principal(), contact_id, rag, rationale
        )
    except services.ContactLeftScreening as left:
        raise ApiError(409, "the contact has a decision and can no longer be rated") from left
    except StaleDataError as clash:
        raise ApiError(
            409, "the contact was changed by someone else at the same time: read it and retry"
        ) from clash
    assert contact.decision_due_at is not None  # noqa: S101 - set by rating
    return jsonify({"rag": contact.rag, "decision_due_at": api_time(contact.decision_due_at)})
