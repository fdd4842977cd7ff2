"""The contact page and the API's contact: thin, open the case file once, render it."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify, render_template
from flask_wtf.csrf import CSRFProtect

from mash_hub import db
from mash_hub.authz import Permission, acting_principal, requires
from mash_hub.casefile import services
from mash_hub.casefile.schemas import contact_json
from mash_hub.http.errors import ApiError

bp = Blueprint("casefile", __name__, url_prefix="/contacts")
api_bp = Blueprint("casefile_api", __name__, url_prefix="/api/v1/contacts")


def init_app(app: Flask, csrf: CSRFProtect) -> None:
    csrf.exempt(api_bp)  # bearer tokens, never cookies
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)


@bp.route("/<contact_id>")
@requires(Permission.CONTACTS_VIEW)
def show(contact_id: str) -> str | tuple[str, int]:
    principal = acting_principal()
    try:
        case = services.case_file(db.session(), principal, contact_id)
    except services.ContactDeleted as deleted:
        # 200: the page shows what is left (the firewall's allow stays in the audit).
        return render_template("contacts/deleted.html", contact=deleted, title=deleted.reference)
    except services.ContactNotFound:
        # MASH staff may know that a contact exists and has closed (its history); they are
        # told so, and how to reach it, instead of "Page not found" (usability review D2).
        closed = services.closed_for(db.session(), principal, contact_id)
        if closed is None:
            raise
        return render_template(
            "contacts/closed.html",
            contact=closed,
            can_break_glass=principal.can(Permission.BREAK_GLASS_OPEN),
            title=f"{closed.reference} is closed",
        ), 404
    return render_template(
        "contacts/show.html", case=case, contact=case.contact, title=case.contact.reference
    )


@api_bp.route("/<contact_id>")
@requires(Permission.API_CONTACTS_READ)
def api_show(contact_id: str) -> Response:
    try:
        found = services.api_contact(db.session(), acting_principal(), contact_id)
    except (services.ContactNotFound, services.ContactDeleted) as missing:
        # api.md has no 410: a contact deleted under retention is no longer a record.
        raise ApiError(404, "no such record") from missing
    return jsonify(contact_json(found))
