"""Break-glass pages: a MASH manager opens emergency access; a governance lead reviews it."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers.response import Response as BaseResponse

from mash_hub import db
from mash_hub.authz import Permission, acting_principal, requires
from mash_hub.break_glass import services as break_glass
from mash_hub.break_glass.forms import BreakGlassForm, ReviewForm
from mash_hub.firewall import records
from mash_hub.http.confirm import confirm

bp = Blueprint("firewall", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.route("/break-glass", methods=["GET", "POST"])
@requires(Permission.BREAK_GLASS_OPEN)
def open_emergency_access() -> BaseResponse | str:
    form = BreakGlassForm()
    if request.method == "GET" and request.args.get("reference"):
        # Offered from a closed contact's page: the reference filled in (checked on send).
        form.reference.data = request.args["reference"][:20]
    if form.validate_on_submit():
        contact_id = records.contact_id_by_reference(db.session(), form.reference.data or "")
        if contact_id is None:
            form.reference.errors = ["There is no contact with that reference"]
        else:
            try:
                break_glass.open_break_glass(
                    db.session(),
                    acting_principal(),
                    current_user,
                    contact_id,
                    form.reason.data or "",
                    form.code.data or "",
                )
            except break_glass.BreakGlassRefused as refused:
                form.code.errors = [str(refused)[:1].upper() + str(refused)[1:]]
            else:
                return redirect(url_for("casefile.show", contact_id=contact_id))
    return render_template(
        "firewall/break_glass.html", form=form, title="Open emergency access to a contact"
    )


@bp.route("/governance/break-glass")
@requires(Permission.BREAK_GLASS_REVIEW)
def review_queue() -> str:
    grants = break_glass.review_queue(db.session(), acting_principal())
    return render_template(
        "firewall/review_queue.html", grants=grants, title="Emergency access to review"
    )


@bp.route("/governance/break-glass/<grant_id>", methods=["GET", "POST"])
@requires(Permission.BREAK_GLASS_REVIEW)
def review(grant_id: str) -> BaseResponse | str:
    principal = acting_principal()
    grant = break_glass.grant_for_review(db.session(), principal, grant_id)
    if grant is None:
        abort(404)
    form = ReviewForm()
    if form.validate_on_submit():
        try:
            break_glass.record_review(
                db.session(), principal, grant, form.outcome.data or "", form.notes.data or ""
            )
        except break_glass.BreakGlassRefused as refused:
            form.outcome.errors = [str(refused).capitalize()]
        else:
            confirm(
                "Review of emergency access recorded",
                "It has left the list of emergency access waiting for review.",
            )
            return redirect(url_for("firewall.review_queue"))
    return render_template(
        "firewall/review.html", form=form, grant=grant, title="Review emergency access"
    )
