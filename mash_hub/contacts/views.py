"""Contact endpoints of the JSON API: thin, parse, call the service, answer."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm.exc import StaleDataError

from mash_hub import db, runtime
from mash_hub.authz import Permission, acting_principal, requires
from mash_hub.contacts import amendments, services
from mash_hub.contacts.hooks import StepUpRefused
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
    try:
        contact = services.create_contact(db.session(), acting_principal(), data)
    except StepUpRefused as refused:
        raise ApiError(
            422, "the contact has problems", fields={"stepped_up_from_referral": str(refused)}
        ) from refused
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


# The kinds an agency system names (shared/docs/api.md), and the hub's own for each.
API_AMENDMENT_KINDS = {
    "subject_corrected": "subject_corrected",
    "subject_added": "subject_added",
    "note": "note_added",
}


@api_bp.route("/<contact_id>/amendments", methods=["POST"])
@requires(Permission.API_CONTACTS_RATE)
def api_amend(contact_id: str) -> tuple[Response, int]:
    """Correct a subject, add a person or add a case note: screening work, append-only."""
    body = json_body()
    reader = Reader()
    root = reader.obj(body, "")
    kind = reader.choice(root, "kind", "kind", tuple(API_AMENDMENT_KINDS))
    subject_id = None
    if kind == "subject_corrected":
        subject_id = reader.text(root, "subject_id", "subject_id", max_length=64)
    try:
        reader.check()
    except ValidationFailed as failed:
        raise ApiError(422, "the amendment has problems", fields=failed.fields) from failed
    principal, session = acting_principal(), db.session()
    try:
        if kind == "note":
            made = amendments.add_note(session, principal, contact_id, root.get("text"))
        elif kind == "subject_added":
            made = amendments.add_subject(
                session, principal, contact_id, root.get("subject"), root.get("reason")
            )
        else:
            made = amendments.correct_subject(
                session,
                principal,
                contact_id,
                subject_id or "",
                root.get("subject"),
                root.get("reason"),
            )
    except ValidationFailed as failed:
        fields = {_api_field(name): message for name, message in failed.fields.items()}
        raise ApiError(422, "the amendment has problems", fields=fields) from failed
    except amendments.SubjectNotFound as missing:
        raise ApiError(
            422,
            "the amendment has problems",
            fields={"subject_id": "is not a person on this contact"},
        ) from missing
    except (StaleDataError, amendments.AmendedMeanwhile) as clash:
        raise ApiError(
            409, "the contact was amended by someone else at the same time: read it and retry"
        ) from clash
    return jsonify(
        {
            "id": str(made.id),
            "kind": kind,
            "sequence": made.sequence,
            "subject_id": str(made.subject_id) if made.subject_id else None,
            "made_at": api_time(made.made_at),
        }
    ), 201


def _api_field(name: str) -> str:
    """The body's name for a field the service names (a person's fields sit in `subject`)."""
    if name in ("reason", "subject"):
        return name
    if name == "note":
        return "text"
    if name == "body":
        return "subject"
    return f"subject.{name}"
