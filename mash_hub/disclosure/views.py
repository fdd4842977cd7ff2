"""Disclosure pages: a MASH manager starts, completes and prints a disclosure; an
originating agency's governance lead approves or refuses releasing its restricted items."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers.response import Response as BaseResponse

from mash_hub import db, runtime
from mash_hub.agencies import agency_name
from mash_hub.authz import Permission, acting_principal, requires
from mash_hub.disclosure import services
from mash_hub.disclosure.forms import OUTSIDE, ApprovalForm, CompleteForm, DisclosureForm

bp = Blueprint("disclosure", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _item_label(candidate: services.Candidate) -> str:
    if candidate.key == services.CONCERN:
        return f"The concern narrative: {candidate.text}"
    restricted = f" (restricted by {candidate.agency_name})" if candidate.restricted else ""
    return f"{candidate.agency_name}, {candidate.kind}{restricted}: {candidate.text}"


@bp.route("/contacts/<contact_id>/disclosures/new", methods=["GET", "POST"])
@requires(Permission.DISCLOSURES_MAKE)
def start(contact_id: str) -> BaseResponse | str:
    """Step one: who receives it, why and what; step two: the lawful basis, offered only
    from the recipient's agreements. Step two carries step one's answers in the form and
    checks them again, so nothing is kept between the two pages."""
    principal = acting_principal()
    try:
        prepared = services.prepare(db.session(), principal, contact_id)
    except services.DisclosureNotFound:
        abort(404)
    contact = prepared.contact
    form = DisclosureForm()
    form.items.choices = {c.key: _item_label(c) for c in prepared.offered}
    agency = form.recipient_agency.data
    recipient_agency = None if agency in (None, "", OUTSIDE) else agency
    bases = services.lawful_bases(runtime.now(), recipient_agency)
    form.lawful_basis.choices = {b.key: b.label for b in bases}
    second_step = False
    valid = form.validate_on_submit()
    if request.method == "POST" and _recipient_named(form) and valid:
        # A post that names a basis is the second step, whichever button sent it.
        second_step = not form.change.data
        if second_step and form.lawful_basis.data is not None:
            if form.lawful_basis.data not in form.lawful_basis.choices:  # type: ignore[operator]
                form.lawful_basis.errors = [
                    "Choose the lawful basis for the disclosure from those offered"
                ]
            else:
                try:
                    disclosure = services.start_disclosure(
                        db.session(),
                        principal,
                        prepared,
                        recipient=services.Recipient(
                            _organisation(form), form.recipient_person.data or "", recipient_agency
                        ),
                        purpose=form.purpose.data or "",
                        basis_key=form.lawful_basis.data,
                        item_keys=list(form.items.data or []),
                    )
                except services.DisclosureRefused as refused:
                    # Refused before any write: the page's audited reads stand with it.
                    form.lawful_basis.errors = [str(refused).capitalize()]
                else:
                    return redirect(url_for("disclosure.show", disclosure_id=str(disclosure.id)))
        elif second_step and form.step.data == "2":
            form.lawful_basis.errors = ["Choose the lawful basis for the disclosure"]
    form._errors = None  # noqa: SLF001 - errors set after validation join the summary
    if second_step:
        form.step.data = "2"
        chosen = set(form.items.data or [])
        return render_template(
            "disclosure/basis.html",
            form=form,
            contact=contact,
            recipient=_organisation(form),
            chosen=[label for key, label in form.items.choices.items() if key in chosen],  # type: ignore[union-attr]
            title="Choose the lawful basis",
        )
    form.step.data = "1"
    return render_template(
        "disclosure/start.html",
        form=form,
        contact=contact,
        title=f"Disclose information from {contact.reference}",
    )


def _recipient_named(form: DisclosureForm) -> bool:
    if form.recipient_agency.data == OUTSIDE and not form.recipient_organisation.data:
        form.recipient_organisation.errors = ["Enter the organisation receiving the information"]
        return False
    return True


def _organisation(form: DisclosureForm) -> str:
    if form.recipient_agency.data == OUTSIDE:
        return form.recipient_organisation.data or ""
    return agency_name(form.recipient_agency.data)


def _manager_view(disclosure_id: str) -> tuple[Any, services.DisclosureView]:
    try:
        return services.disclosure_for_manager(db.session(), acting_principal(), disclosure_id)
    except services.DisclosureNotFound:
        abort(404)


@bp.route("/disclosures/<disclosure_id>", methods=["GET", "POST"])
@requires(Permission.DISCLOSURES_MAKE)
def show(disclosure_id: str) -> BaseResponse | str:
    disclosure, view = _manager_view(disclosure_id)
    form = CompleteForm()
    if form.validate_on_submit():
        try:
            services.complete(
                db.session(), acting_principal(), current_user, disclosure, form.code.data or ""
            )
        except services.DisclosureRefused as refused:
            form.code.errors = [str(refused)[:1].upper() + str(refused)[1:]]
        else:
            return redirect(url_for("disclosure.show", disclosure_id=view.id))
    return render_template(
        "disclosure/show.html", form=form, d=view, title=f"Disclosure {view.reference}"
    )


@bp.route("/disclosures/<disclosure_id>/print")
@requires(Permission.DISCLOSURES_MAKE)
def print_view(disclosure_id: str) -> str:
    _disclosure, view = _manager_view(disclosure_id)
    if view.status != "completed":
        abort(404)
    return render_template("disclosure/print.html", d=view, title=f"Disclosure {view.reference}")


@bp.route("/disclosures/approvals")
@requires(Permission.DISCLOSURES_APPROVE)
def approvals() -> str:
    pending = services.pending_approvals(db.session(), acting_principal())
    return render_template(
        "disclosure/approvals.html", pending=pending, title="Disclosures waiting for your decision"
    )


@bp.route("/disclosures/<disclosure_id>/approval", methods=["GET", "POST"])
@requires(Permission.DISCLOSURES_APPROVE)
def approval(disclosure_id: str) -> BaseResponse | str:
    principal = acting_principal()
    try:
        disclosure, view, _access = services.approval_for(db.session(), principal, disclosure_id)
    except services.DisclosureNotFound:
        abort(404)
    form = ApprovalForm()
    if view.decision is None and form.validate_on_submit():
        try:
            services.record_decision(
                db.session(),
                principal,
                current_user,
                disclosure,
                form.decision.data or "",
                form.reason.data or "",
            )
        except services.DisclosureRefused as refused:
            field = form.reason if "reason" in str(refused) else form.decision
            field.errors = [str(refused).capitalize()]
            form._errors = None  # noqa: SLF001 - errors set after validation join the summary
        else:
            return redirect(url_for("disclosure.approvals"))
    return render_template(
        "disclosure/approval.html", form=form, p=view, title=f"Disclosure {view.reference}"
    )
