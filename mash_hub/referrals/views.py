"""The receiving service's pages (its referrals inbox, one referral with its decision) and
the onward-referral API. Thin: parse, call the service, render."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers import Response as BaseResponse

from mash_hub import db, runtime
from mash_hub.agencies import agency_name
from mash_hub.authz import Permission, acting_principal, requires
from mash_hub.http.body import json_body
from mash_hub.http.confirm import confirm
from mash_hub.http.errors import ApiError
from mash_hub.http.paging import page_limit
from mash_hub.http.times import api_time_or_none
from mash_hub.http.validation import ValidationFailed
from mash_hub.referrals import services
from mash_hub.referrals.forms import DecisionForm
from mash_hub.referrals.schemas import inbox_row_json, read_decision, referral_json

bp = Blueprint("referrals", __name__)
api_bp = Blueprint("referrals_api", __name__, url_prefix="/api/v1")

OUTCOME_NAMES = {
    "early_help": "Early help or step-down",
    "signpost": "Signpost to universal services",
}
ROLE_NAMES = {
    "child": "Child",
    "parent": "Parent",
    "carer": "Carer",
    "sibling": "Sibling",
    "household_member": "Household member",
    "alleged_perpetrator": "Alleged perpetrator",
}


def init_app(app: Flask, csrf: CSRFProtect) -> None:
    csrf.exempt(api_bp)  # bearer tokens, never cookies
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)


# --- pages -----------------------------------------------------------------------------


@bp.route("/referrals")
@requires(Permission.REFERRALS_DECIDE)
def inbox() -> str:
    principal = acting_principal()
    rows = services.inbox(db.session(), principal)
    return render_template(
        "referrals/inbox.html",
        rows=rows,
        now=runtime.now(),
        title=f"Families referred to {agency_name(principal.agency)}",
    )


@bp.route("/referrals/<referral_id>", methods=["GET", "POST"])
@requires(Permission.REFERRALS_DECIDE)
def show(referral_id: str) -> str | BaseResponse | tuple[str, int]:
    principal = acting_principal()
    form = DecisionForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            decided = services.decide(
                db.session(),
                principal,
                referral_id,
                form.decision.data or "",
                form.reason.data,
            )
        except services.ReferralConflict as refused:
            message = str(refused)
            return render_template(
                "referrals/closed.html",
                message=message[:1].upper() + message[1:],
                title="This referral can no longer be decided",
            ), 409
        except services.ReferralRefused as refused:
            target = form.reason if refused.field == "reason" else form.decision
            message = str(refused)
            target.errors = [message[:1].upper() + message[1:]]
        else:
            if decided.status == "accepted":
                confirm(
                    f"Referral {decided.contact_reference} accepted",
                    "The MASH has been told. You can see the family's details here until "
                    "the date shown below.",
                )
            else:
                confirm(
                    f"Referral {decided.contact_reference} declined",
                    "The MASH has been told, with your reason.",
                )
            return redirect(url_for("referrals.show", referral_id=referral_id))
    view = services.get_referral_for(db.session(), principal, referral_id)
    return render_template(
        "referrals/show.html",
        view=view,
        form=form,
        outcome_names=OUTCOME_NAMES,
        role_names=ROLE_NAMES,
        now=runtime.now(),
        title=f"Referral {view.contact_reference}",
    )


# --- JSON API --------------------------------------------------------------------------


@api_bp.route("/referrals")
@requires(Permission.API_REFERRALS_READ)
def api_inbox() -> Response:
    api = runtime.settings().api
    limit, offset = page_limit(request.args, api.page_limit_default, api.page_limit_max)
    rows = services.inbox(db.session(), acting_principal())
    page = rows[offset : offset + limit]
    more = offset + limit < len(rows)
    return jsonify(
        {
            "referrals": [inbox_row_json(row) for row in page],
            "next_cursor": str(offset + limit) if more else None,
        }
    )


@api_bp.route("/referrals/<referral_id>")
@requires(Permission.API_REFERRALS_READ)
def api_show(referral_id: str) -> Response:
    view = services.get_referral_for(db.session(), acting_principal(), referral_id)
    return jsonify(referral_json(view))


@api_bp.route("/referrals/<referral_id>/decision", methods=["POST"])
@requires(Permission.API_REFERRALS_DECIDE)
def api_decide(referral_id: str) -> Response:
    try:
        decision, reason = read_decision(json_body())
    except ValidationFailed as failed:
        raise ApiError(422, "the decision has problems", fields=failed.fields) from failed
    decided = services.decide(db.session(), acting_principal(), referral_id, decision, reason)
    return jsonify(
        {
            "id": str(decided.id),
            "status": decided.status,
            "decided_at": api_time_or_none(decided.decided_at),
        }
    )
