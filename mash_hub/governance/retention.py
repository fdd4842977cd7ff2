"""The retention review in the governance workspace: contacts past their retention
period, legal holds, deletion (crypto-shredding) and the tombstones left behind.

Only governance leads of the MASH core agencies (csc, police) see it; anyone else gets
404, as for a record on the other side of the firewall.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers.response import Response as BaseResponse

from mash_hub import db
from mash_hub.authz import Permission, acting_principal, requires
from mash_hub.identity import services as identity
from mash_hub.retention import services as retention
from mash_hub.retention.forms import DeleteForm, HoldForm, LiftForm

bp = Blueprint("retention", __name__, url_prefix="/governance/retention")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _row(review_id: str) -> retention.ReviewRow:
    try:
        rows = retention.reviews(db.session(), acting_principal())
    except retention.ReviewNotFound:
        abort(404)
    for row in rows:
        if str(row.review.id) == review_id:
            return row
    abort(404)


@bp.route("")
@requires(Permission.GOVERNANCE_VIEW)
def review_list() -> str:
    try:
        rows = retention.reviews(db.session(), acting_principal())
    except retention.ReviewNotFound:
        abort(404)
    return render_template(
        "governance/retention.html",
        title="Retention review",
        due=[r for r in rows if r.review.status == "due"],
        held=[r for r in rows if r.review.status == "held"],
        deleted=[r for r in rows if r.review.status == "deleted"],
        lift_form=LiftForm(),
    )


@bp.route("/<review_id>/delete", methods=["GET", "POST"])
@requires(Permission.GOVERNANCE_VIEW)
def delete(review_id: str) -> BaseResponse | str:
    row = _row(review_id)
    form = DeleteForm()
    if form.validate_on_submit():
        refusal = identity.step_up_refusal(
            db.session(), current_user, form.code.data or "", "retention:delete"
        )
        if refusal is not None:
            form.code.errors = [refusal]
        else:
            try:
                retention.delete_contact(
                    db.session(), acting_principal(), review_id, form.reason.data or ""
                )
            except retention.ReviewNotFound:
                abort(404)
            except retention.RetentionRefused as refused:
                (form.reason.errors if refused.field else form.code.errors).append(str(refused))
            else:
                return redirect(url_for("retention.review_list"))
    return render_template(
        "governance/retention_delete.html", title=f"Delete {row.reference}", row=row, form=form
    )


@bp.route("/<review_id>/hold", methods=["GET", "POST"])
@requires(Permission.GOVERNANCE_VIEW)
def hold(review_id: str) -> BaseResponse | str:
    row = _row(review_id)
    form = HoldForm()
    if form.validate_on_submit():
        try:
            retention.place_hold(
                db.session(), acting_principal(), review_id, form.reason.data or ""
            )
        except retention.ReviewNotFound:
            abort(404)
        except retention.RetentionRefused as refused:
            form.reason.errors = [str(refused)]
        else:
            return redirect(url_for("retention.review_list"))
    return render_template(
        "governance/retention_hold.html",
        title=f"Place a legal hold on {row.reference}",
        row=row,
        form=form,
    )


@bp.route("/<review_id>/lift", methods=["POST"])
@requires(Permission.GOVERNANCE_VIEW)
def lift(review_id: str) -> BaseResponse:
    _row(review_id)
    if not LiftForm().validate_on_submit():
        abort(400)
    try:
        retention.lift_hold(db.session(), acting_principal(), review_id)
    except retention.ReviewNotFound:
        abort(404)
    except retention.RetentionRefused:
        abort(409)
    return redirect(url_for("retention.review_list"))
