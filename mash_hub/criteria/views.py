"""The criteria check page of a contact: what the family appears to meet, and the checks
recorded. Thin: the service opens the contact through the firewall."""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, render_template, url_for
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers.response import Response as BaseResponse

from mash_hub import db, runtime
from mash_hub.authz import Permission, acting_principal, requires
from mash_hub.criteria import services
from mash_hub.criteria.forms import RecordForm
from mash_hub.http.confirm import confirm

bp = Blueprint("criteria", __name__)


def init_app(app: Flask, csrf: CSRFProtect) -> None:
    app.register_blueprint(bp)


def _page(contact_id: str, form: RecordForm | None = None, status: int = 200) -> tuple[str, int]:
    view = services.current(db.session(), acting_principal(), contact_id)
    return render_template(
        "criteria/check.html",
        title=f"Early-help programme criteria for {view.reference}",
        view=view,
        form=form or RecordForm(formdata=None),
        now=runtime.now(),
    ), status


@bp.route("/contacts/<contact_id>/criteria", methods=["GET"])
@requires(Permission.CONTACTS_VIEW)
def show(contact_id: str) -> tuple[str, int]:
    return _page(contact_id)


@bp.route("/contacts/<contact_id>/criteria", methods=["POST"])
@requires(Permission.DECISIONS_PROPOSE)
def record(contact_id: str) -> BaseResponse | tuple[str, int]:
    form = RecordForm()
    if not form.validate_on_submit():
        return _page(contact_id, form, 400)
    try:
        services.record_check(db.session(), acting_principal(), contact_id)
    except services.NothingToCheck as nothing:
        form.submit.errors = [f"There is nothing to record: {nothing}"]
        return _page(contact_id, form, 409)
    confirm(
        "Criteria check recorded",
        "It is kept with the contact, with the version of each programme's criteria.",
    )
    return redirect(url_for("criteria.show", contact_id=contact_id))
