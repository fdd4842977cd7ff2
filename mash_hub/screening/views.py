"""The screening team's pages (intake, queue, rating, decision) and the decision API."""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers.response import Response as BaseResponse

from mash_hub import db, firewall, runtime, uktime
from mash_hub.agencies import AGENCIES, AGENCY_CODES, agency_name
from mash_hub.authz import Permission, Role, acting_principal, requires
from mash_hub.contacts import amendments
from mash_hub.contacts import services as contacts
from mash_hub.contacts.schemas import read_contact
from mash_hub.deadlines import RAG_RATINGS
from mash_hub.http.body import json_body
from mash_hub.http.confirm import confirm
from mash_hub.http.errors import ApiError
from mash_hub.http.times import api_time
from mash_hub.http.validation import ValidationFailed
from mash_hub.screening import services
from mash_hub.screening.forms import (
    AcknowledgementForm,
    AddPersonForm,
    ClaimForm,
    CorrectionForm,
    IntakeForm,
    NoteForm,
    ProposalForm,
    RatingForm,
    ReviewForm,
    fold_dates,
)
from mash_hub.screening.schemas import read_decision

bp = Blueprint("screening", __name__)
api_bp = Blueprint("screening_api", __name__, url_prefix="/api/v1/contacts")


def init_app(app: Flask, csrf: CSRFProtect) -> None:
    csrf.exempt(api_bp)  # bearer tokens, never cookies
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)
    app.jinja_env.globals.update(
        outcome_labels=services.OUTCOME_LABELS, method_labels=services.METHOD_LABELS
    )


# -- presentation helpers --------------------------------------------------------------


def _local_moment(day_text: str, time_text: str) -> datetime | None:
    """A UK wall-clock date and time, as UTC; None if either part is not a real one."""
    return uktime.wall_clock(day_text, time_text, runtime.calendar().zone)


def _iso_day(text: str) -> str | None:
    match = uktime.DAY_RE.match(text or "")
    if match is None:
        return None
    return f"{match.group(3)}-{int(match.group(2)):02d}-{int(match.group(1)):02d}"


# -- intake ----------------------------------------------------------------------------

INTAKE_FIELDS = {
    "received_at": "received_date",
    "source.type": "referrer_type",
    "source.agency": "source_agency",
    "source.profession": "referrer_profession",
    "source.organisation": "referrer_organisation",
    "source.phone": "referrer_phone",
    "source.email": "referrer_email",
    "source.referrer_name": "referrer_name",
    "source.referrer_role": "referrer_role",
    "concern": "concern",
    "consent.status": "consent_status",
    "consent.reason": "consent_reason",
    "presenting_issues": "presenting_issues",
}
# A subject's field, or one of their equality answers (`subjects[0].equality.sex`).
SUBJECT_PATH = re.compile(r"^subjects\[(\d+)\]\.(?:equality\.)?(\w+)$")
ISSUE_PATH = re.compile(r"^presenting_issues\[\d+\]$")


def _intake_body(form: IntakeForm, errors: dict[str, str]) -> dict[str, Any]:
    """The API's contact body from the page's fields; unreadable dates go to `errors`."""
    received: str | None = None
    if not (form.received_date.data or "").strip():
        errors["received_date"] = "Enter the date the contact was received"
    elif not (form.received_time.data or "").strip():
        errors["received_time"] = "Enter the time the contact was received"
    else:
        moment = _local_moment(form.received_date.data or "", form.received_time.data or "")
        if moment is None:
            errors["received_date"] = "Enter a real date and time, like 30/11/2026 and 09:15"
        else:
            received = moment.isoformat()
    subjects = []
    for index, entry in enumerate(form.subjects.entries):
        sub = entry.form
        born: str | None = None
        if (sub.date_of_birth.data or "").strip():
            born = _iso_day(sub.date_of_birth.data or "")
            if born is None:
                errors[f"subjects[{index}].date_of_birth"] = (
                    "Date of birth must be a real date, like 02/04/2015"
                )
        subjects.append(
            {
                "role": sub.role.data or None,
                "given_name": sub.given_name.data,
                "family_name": sub.family_name.data,
                "date_of_birth": born,
                "address": sub.address.data,
                "nhs_number": sub.nhs_number.data,
                "upn": sub.upn.data,
                "equality": {
                    "sex": sub.sex.data or None,
                    "ethnicity": sub.ethnicity.data or None,
                    "disability": sub.disability.data or None,
                    "first_language": sub.first_language.data,
                },
            }
        )
    # The page asks for at least one (the API keeps them optional, as v1 had none): a
    # contact recorded with none cannot be counted or checked against programme criteria.
    if not form.presenting_issues.data:
        errors["presenting_issues"] = (
            "Select at least one presenting issue, or select Something not listed here"
        )
    return {
        "received_at": received,
        "source": _source(form),
        "concern": form.concern.data,
        "presenting_issues": form.presenting_issues.data or [],
        "consent": {"status": form.consent_status.data, "reason": form.consent_reason.data},
        "subjects": subjects,
    }


def _source(form: IntakeForm) -> dict[str, Any]:
    """The referrer as the API takes it. A field the chosen kind of referrer does not use
    (revealed under another choice) is not sent, as GOV.UK conditional fields work."""
    kind = form.referrer_type.data or None
    source: dict[str, Any] = {
        "type": kind,
        "referrer_name": form.referrer_name.data,
        "referrer_role": form.referrer_role.data,
        "phone": form.referrer_phone.data,
        "email": form.referrer_email.data,
    }
    if kind == "agency":
        source["agency"] = form.source_agency.data or None
    if kind == "professional":
        source["profession"] = form.referrer_profession.data or None
        source["organisation"] = form.referrer_organisation.data
    if kind == "anonymous" and not (form.referrer_name.data or "").strip():
        source.pop("referrer_name")
    return source


def _show_intake_errors(form: IntakeForm, errors: dict[str, str]) -> None:
    """Put each problem on its field, for the error summary and the field itself."""
    for path, message in errors.items():
        match = SUBJECT_PATH.match(path)
        if match is not None:
            index, name = int(match.group(1)), match.group(2)
            if index < len(form.subjects.entries) and name in form.subjects.entries[index].form:
                field = form.subjects.entries[index].form[name]
                field.errors = [_sentence(name, field.label.text, message)]
            continue
        if ISSUE_PATH.match(path):
            path = "presenting_issues"
        if path == "subjects":
            field = form.subjects.entries[0].form["role"]
            field.errors = [PEOPLE_PROBLEMS.get(message, f"People named: {message}")]
            continue
        name = INTAKE_FIELDS.get(path, path)
        if name in form:
            form[name].errors = [_sentence(name, form[name].label.text, message)]
    for entry in form.subjects.entries:
        entry.form._errors = None  # noqa: SLF001 - WTForms caches errors per form
    form.subjects.errors = [entry.errors for entry in form.subjects.entries]
    form._errors = None  # noqa: SLF001


# What the page asks for when a field is missing or not one of its choices, in the GOV.UK
# style ("Enter...", "Select..."): the API's messages name its codes, which mean nothing here.
MISSING = {
    "referrer_type": "Select who made the contact",
    "source_agency": "Select the agency the contact came from",
    "referrer_profession": "Select the referrer's profession",
    "referrer_organisation": "Enter the referrer's organisation",
    "referrer_name": "Enter the referrer's name",
    "referrer_role": "Enter the referrer's role",
    "concern": "Enter the concern",
    "consent_status": "Select whether the family consented to information being shared",
    "consent_reason": "Enter why you are going ahead without consent",
    "role": "Select the person's role",
    "given_name": "Enter the person's given name",
    "family_name": "Enter the person's family name",
    "presenting_issues": "Select presenting issues from the list",
    "sex": "Select the person's sex, or Prefer not to say",
    "ethnicity": "Select the person's ethnic group from the list",
    "disability": "Select whether the person has a disability, or Prefer not to say",
}
PEOPLE_PROBLEMS = {
    "must include at least one child": "Name at least one child: choose Child as a role",
    "must list at least one subject": "Name at least one child",
}
REPHRASED = {
    "must be a presenting issue code from the published list "
    "(PresentingIssue in the OpenAPI document)": "Select presenting issues from the list",
    "must be a valid 10-digit NHS number": "Enter a 10-digit NHS number, like 943 476 5919",
    "must be a valid 13-character unique pupil number": (
        "Enter the unique pupil number as the school gives it: a letter and 12 more "
        "letters or numbers"
    ),
    "must not be in the future": "{label} must be today or in the past",
    "must be a single line": "{label} must be on one line",
    "must not contain control characters": "{label} must not contain hidden characters",
    "must be valid Unicode text": "{label} must not contain hidden characters",
    "must be text": "{label} must be text",
    "must be a telephone number, like 020 7946 0000": (
        "Enter a telephone number, like 020 7946 0000"
    ),
    "must be an email address, like name@example.com": (
        "Enter an email address, like name@example.com"
    ),
    "must be left out for an anonymous contact": (
        "Remove the referrer's name, or choose who made the contact"
    ),
}


def _sentence(name: str, label: str, message: str) -> str:
    """The page's sentence for the API's `message` about field `name`."""
    if message[:1].isupper():
        return message
    label = label.replace(" (optional)", "")
    if message == "is required" or message.startswith("must be one of"):
        return MISSING.get(name, f"Enter {label[:1].lower()}{label[1:]}")
    if message in REPHRASED:
        return REPHRASED[message].format(label=label)
    return f"{label} {message}"


@bp.route("/contacts/new", methods=["GET", "POST"])
@requires(Permission.CONTACTS_CREATE)
def intake() -> BaseResponse | str:
    form = IntakeForm()
    if request.method == "POST":
        csrf_ok = form.validate_on_submit() or not form.csrf_token.errors
        if csrf_ok and form.add_subject.data:
            if len(form.subjects.entries) < form.subjects.max_entries:  # type: ignore[operator]
                form.subjects.append_entry()
            _clear_errors(form)
        elif csrf_ok:
            fold_dates(form)
            errors: dict[str, str] = {}
            body = _intake_body(form, errors)
            try:
                data = read_contact(body, runtime.now(), runtime.settings().app.go_live_date)
            except ValidationFailed as failed:
                errors = {**failed.fields, **errors}
            else:
                if not errors:
                    try:
                        contact = contacts.create_contact(db.session(), acting_principal(), data)
                    except firewall.AccessDenied:
                        abort(403)  # outside the MASH side: never a contact's author
                    confirm(
                        f"Contact {contact.reference} recorded",
                        "Next, check the people named against the register and rate the contact.",
                    )
                    return redirect(url_for("casefile.show", contact_id=str(contact.id)))
            _clear_errors(form)
            _show_intake_errors(form, errors)
    return render_template("screening/intake.html", form=form, title="Record a new contact")


def _clear_errors(form: IntakeForm) -> None:
    for field in form:
        if field.name != "csrf_token":
            field.errors = []
    for entry in form.subjects.entries:
        for field in entry.form:
            field.errors = []
        entry.form._errors = None  # noqa: SLF001
    form.subjects.errors = []
    form._errors = None  # noqa: SLF001


# -- queue -----------------------------------------------------------------------------


@bp.route("/queue")
@requires(Permission.SCREENING_QUEUE_VIEW)
def queue() -> str:
    principal = acting_principal()
    rag = request.args.get("rating") or None
    agency = request.args.get("agency") or None
    assignee = request.args.get("assignee") or None
    filters = services.QueueFilters(
        rag=rag if rag in (*RAG_RATINGS, "unrated") else None,
        agency=agency if agency in AGENCY_CODES else None,
        assignee=assignee[:64] if assignee else None,
    )
    session = db.session()
    manager = Role.MASH_MANAGER in principal.roles
    try:
        pending = services.awaiting_approval(session, principal) if manager else []
        to_tell = services.awaiting_acknowledgement(session, principal) if manager else []
        rows = services.queue(session, principal, filters)
    except services.QueueRefused:
        abort(404)
    return render_template(
        "screening/queue.html",
        title="Screening queue",
        rows=rows,
        pending=pending,
        to_tell=to_tell,
        manager=manager,
        filters=filters,
        agencies=AGENCIES,
        staff=services.screening_users(session, principal),
        now=runtime.now(),
        limit=services.QUEUE_LIMIT,
    )


@bp.route("/contacts/<contact_id>/claim", methods=["POST"])
@requires(Permission.SCREENING_QUEUE_VIEW)
def claim(contact_id: str) -> BaseResponse:
    form = ClaimForm()
    if not form.validate_on_submit():
        abort(400)
    # Taken already, or left screening: the queue shows who has it now.
    with contextlib.suppress(services.StateConflict):
        services.claim(db.session(), acting_principal(), contact_id)
    return redirect(url_for("screening.queue", assignee="me"))


# -- rating ----------------------------------------------------------------------------


def _rating_page(view: contacts.ContactView, form: RatingForm, conflict: bool = False) -> str:
    names = services.display_names(db.session(), [r.rated_by for r in view.ratings])
    return render_template(
        "screening/rating.html",
        title=f"Rate {view.reference}",
        contact=view,
        form=form,
        names=names,
        conflict=conflict,
    )


@bp.route("/contacts/<contact_id>/rating", methods=["GET", "POST"])
@requires(Permission.CONTACTS_RATE)
def rate(contact_id: str) -> BaseResponse | str:
    principal = acting_principal()
    view = contacts.get_contact_for(db.session(), principal, contact_id)
    if view.status not in services.SCREENING_STATUSES:
        abort(409)
    form = RatingForm()
    if request.method == "GET":
        form.seen_ratings.data = str(len(view.ratings))
        return _rating_page(view, form)
    if not form.validate_on_submit():
        return _rating_page(view, form)
    if form.seen_ratings.data != str(len(view.ratings)):
        # Someone rated since this screener loaded the page: show them that rating, keep
        # their own words in the form, and take theirs only when they submit again.
        form.seen_ratings.data = str(len(view.ratings))
        return _rating_page(view, form, conflict=True)
    try:
        contacts.rate_contact(
            db.session(),
            principal,
            contact_id,
            form.rag.data or "",
            form.rationale.data or "",
            ratings_seen=len(view.ratings),
        )
    except contacts.RatingRefused as refused:
        form.rationale.errors = [str(refused).capitalize()]
        return _rating_page(view, form)
    except (StaleDataError, contacts.RatedMeanwhile):
        # Rated since this page read the contact (a flush that failed leaves the session
        # unusable until it is rolled back).
        db.rollback_request()
        fresh = contacts.get_contact_for(db.session(), principal, contact_id)
        form.seen_ratings.data = str(len(fresh.ratings))
        return _rating_page(fresh, form, conflict=True)
    rag = (form.rag.data or "").capitalize()
    confirm(
        f"Contact {view.reference} rated {rag}",
        RATED_NEXT.get(form.rag.data or "", ""),
    )
    return redirect(url_for("screening.rate", contact_id=contact_id))


RATED_NEXT = {
    "red": "The decision is due 4 working hours after the contact was received: ask partner "
    "agencies what they know (they have 2 hours to answer) and propose a decision.",
    "amber": "The decision is due 24 working hours after the contact was received: ask partner "
    "agencies what they know (they have 6 hours to answer) and propose a decision.",
    "green": "The decision is due 72 hours after the contact was received. Any open requests "
    "to partner agencies have been withdrawn.",
}


# -- amending a contact during screening (#13, usability review D8) ----------------------

PERSON_FIELDS = ("given_name", "family_name", "date_of_birth", "address", "nhs_number", "upn")
AMEND_MISSING = {
    "reason": "Enter why you are making this change",
    "note": "Enter the case note",
    "role": "Select the person's role",
}
AMENDED_MEANWHILE = (
    "Someone else changed this contact while you were working on it: check it below and save again"
)


def _person_body(form: CorrectionForm | AddPersonForm, errors: dict[str, str]) -> dict[str, Any]:
    """The person's details as the reader takes them; a date it cannot read goes to
    `errors` (and is passed on as typed, so the reader refuses it too)."""
    typed = (form.date_of_birth.data or "").strip()
    born: str | None = None
    if typed:
        born = _iso_day(typed)
        if born is None:
            errors["date_of_birth"] = "Date of birth must be a real date, like 02/04/2015"
            born = typed
    body: dict[str, Any] = {name: form[name].data for name in PERSON_FIELDS}
    body["date_of_birth"] = born
    if isinstance(form, AddPersonForm):
        body["role"] = form.role.data or None
    return body


def _show_amend_errors(form: Any, errors: dict[str, str]) -> None:
    for name, message in errors.items():
        if name not in form:
            continue
        field = form[name]
        label = field.label.text
        missing = message == "is required" or message.startswith("must be one of")
        if missing and name in AMEND_MISSING:
            field.errors = [AMEND_MISSING[name]]
        else:
            field.errors = [_sentence(name, label, message)]
    form._errors = None  # noqa: SLF001 - WTForms caches errors per form


def _amend_page(
    template: str, view: contacts.ContactView, form: Any, title: str, **extra: Any
) -> str:
    return render_template(f"screening/{template}", contact=view, form=form, title=title, **extra)


def _subject(view: contacts.ContactView, subject_id: str) -> contacts.SubjectView:
    found = next((s for s in view.subjects if s.id == subject_id), None)
    if found is None:
        abort(404)
    return found


def _csrf_ok(form: Any) -> bool:
    """The form came from this page (its CSRF token holds); its fields are the reader's
    to check, so every problem is listed at once."""
    return bool(form.validate_on_submit() or not form.csrf_token.errors)


def _day_text(born: Any) -> str:
    return f"{born.day:02d}/{born.month:02d}/{born.year}" if born else ""


@bp.route("/contacts/<contact_id>/amend/people/<subject_id>", methods=["GET", "POST"])
@requires(Permission.CONTACTS_AMEND)
def correct_subject(contact_id: str, subject_id: str) -> BaseResponse | str:
    principal = acting_principal()
    view = contacts.get_contact_for(db.session(), principal, contact_id)
    subject = _subject(view, subject_id)
    form = CorrectionForm()
    title = f"Correct details: {view.reference}"
    if request.method == "GET":
        form.process(
            data={
                "given_name": subject.given_name,
                "family_name": subject.family_name,
                "date_of_birth": _day_text(subject.date_of_birth),
                "address": subject.address or "",
                "nhs_number": subject.nhs_number or "",
                "upn": subject.upn or "",
                "seen": str(len(view.amendments)),
            }
        )
        return _amend_page("correct.html", view, form, title, subject=subject)
    if not _csrf_ok(form):
        abort(400)  # no CSRF token: the form was not this page's
    errors: dict[str, str] = {}
    body = _person_body(form, errors)
    try:
        amendments.correct_subject(
            db.session(),
            principal,
            contact_id,
            subject_id,
            body,
            form.reason.data,
            seen=int(form.seen.data) if (form.seen.data or "").isdigit() else -1,
        )
    except ValidationFailed as failed:
        _show_amend_errors(form, {**failed.fields, **errors})
        return _amend_page("correct.html", view, form, title, subject=subject)
    except (StaleDataError, amendments.AmendedMeanwhile):
        db.rollback_request()
        view = contacts.get_contact_for(db.session(), principal, contact_id)
        subject = _subject(view, subject_id)
        form.seen.data = str(len(view.amendments))
        _show_amend_errors(form, {"given_name": AMENDED_MEANWHILE})
        return _amend_page("correct.html", view, form, title, subject=subject)
    confirm(
        f"Details corrected on {view.reference}",
        "The correction is in the contact's amendments, with your reason. Partner agencies "
        "asked about this contact see the corrected details.",
    )
    return redirect(url_for("casefile.show", contact_id=view.id, _anchor="amendments"))


@bp.route("/contacts/<contact_id>/amend/add-person", methods=["GET", "POST"])
@requires(Permission.CONTACTS_AMEND)
def add_person(contact_id: str) -> BaseResponse | str:
    principal = acting_principal()
    view = contacts.get_contact_for(db.session(), principal, contact_id)
    form = AddPersonForm()
    title = f"Add a person: {view.reference}"
    if request.method == "GET":
        form.seen.data = str(len(view.amendments))
        return _amend_page("add_person.html", view, form, title)
    if not _csrf_ok(form):
        abort(400)
    errors: dict[str, str] = {}
    body = _person_body(form, errors)
    try:
        amendments.add_subject(
            db.session(),
            principal,
            contact_id,
            body,
            form.reason.data,
            seen=int(form.seen.data) if (form.seen.data or "").isdigit() else -1,
        )
    except ValidationFailed as failed:
        _show_amend_errors(form, {**failed.fields, **errors})
        return _amend_page("add_person.html", view, form, title)
    except (StaleDataError, amendments.AmendedMeanwhile):
        db.rollback_request()
        view = contacts.get_contact_for(db.session(), principal, contact_id)
        form.seen.data = str(len(view.amendments))
        _show_amend_errors(form, {"role": AMENDED_MEANWHILE})
        return _amend_page("add_person.html", view, form, title)
    confirm(
        f"Person added to {view.reference}",
        "Next, check them against the register on the contact's people page.",
    )
    return redirect(url_for("casefile.show", contact_id=view.id, _anchor="amendments"))


@bp.route("/contacts/<contact_id>/amend/note", methods=["GET", "POST"])
@requires(Permission.CONTACTS_AMEND)
def add_note(contact_id: str) -> BaseResponse | str:
    principal = acting_principal()
    view = contacts.get_contact_for(db.session(), principal, contact_id)
    form = NoteForm()
    title = f"Add a case note: {view.reference}"
    if request.method == "GET":
        return _amend_page("note.html", view, form, title)
    if not _csrf_ok(form):
        abort(400)
    try:
        amendments.add_note(db.session(), principal, contact_id, form.note.data)
    except ValidationFailed as failed:
        _show_amend_errors(form, failed.fields)
        return _amend_page("note.html", view, form, title)
    except (StaleDataError, amendments.AmendedMeanwhile):
        db.rollback_request()
        _show_amend_errors(form, {"note": AMENDED_MEANWHILE})
        return _amend_page("note.html", view, form, title)
    confirm(
        f"Case note added to {view.reference}",
        "Case notes are for MASH staff only: they are never shared with partner agencies.",
    )
    return redirect(url_for("casefile.show", contact_id=view.id, _anchor="amendments"))


# -- decision --------------------------------------------------------------------------


def _decision_page(
    contact_id: str,
    *,
    proposal: ProposalForm | None = None,
    review: ReviewForm | None = None,
    told: AcknowledgementForm | None = None,
    conflict: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    principal = acting_principal()
    view = services.decisions_for(db.session(), principal, contact_id)
    proposal = proposal or ProposalForm(formdata=None)
    review = review or ReviewForm(formdata=None)
    told = told or AcknowledgementForm(formdata=None)
    if view.pending is not None:
        review.decision_id.data = view.pending.id
    may_approve = principal.can(Permission.DECISIONS_APPROVE)
    ack_due = (
        view.approved.review.acknowledgement_due_at
        if view.approved and view.approved.review
        else None
    )
    form = next((f for f in (proposal, review, told) if f.errors), None)
    receiver = services.refers_onward(view.pending.outcome) if view.pending else None
    # Requests still open and answers received, so a sign-off sees them (#13, review m23).
    requests = services.requests_shown(db.session(), principal, view)
    return render_template(
        "screening/decision.html",
        title=f"Decision on {view.reference}",
        view=view,
        proposal=proposal,
        review=review,
        told=told,
        form=form,
        may_approve=may_approve,
        me=principal.id,
        ack_due=ack_due,
        requests=requests,
        conflict=conflict,
        now=runtime.now(),
        receiver=receiver,
    ), status


def _pending_outcome(contact_id: str) -> str:
    """The outcome just approved: the latest decision on the contact."""
    view = services.decisions_for(db.session(), acting_principal(), contact_id)
    return view.decisions[-1].outcome if view.decisions else ""


@bp.route("/contacts/<contact_id>/decision", methods=["GET"])
@requires(Permission.CONTACTS_VIEW)
def decision(contact_id: str) -> tuple[str, int]:
    return _decision_page(contact_id)


@bp.route("/contacts/<contact_id>/decision", methods=["POST"])
@requires(Permission.DECISIONS_PROPOSE)
def propose(contact_id: str) -> BaseResponse | tuple[str, int]:
    form = ProposalForm()
    if form.validate_on_submit():
        try:
            services.propose(
                db.session(),
                acting_principal(),
                contact_id,
                form.outcome.data or "",
                form.rationale.data or "",
            )
        except services.ScreeningRefused as refused:
            form.rationale.errors = [str(refused).capitalize()]
        except services.StateConflict as clash:
            return _decision_page(contact_id, proposal=form, conflict=str(clash), status=409)
        else:
            confirm(
                "Decision proposed",
                "A MASH manager will sign it off or return it to you with a reason.",
            )
            return redirect(url_for("screening.decision", contact_id=contact_id))
    return _decision_page(contact_id, proposal=form)


@bp.route("/contacts/<contact_id>/decision/review", methods=["POST"])
@requires(Permission.DECISIONS_APPROVE)
def review(contact_id: str) -> BaseResponse | tuple[str, int]:
    form = ReviewForm()
    if form.validate_on_submit():
        try:
            services.review(
                db.session(),
                acting_principal(),
                contact_id,
                form.decision_id.data or "",
                form.verdict.data or "",
                form.reason.data,
                form.referral_reason.data,
            )
        except firewall.AccessDenied:
            abort(403)
        except services.ScreeningRefused as refused:
            fields = {"reason": form.reason, "referral_reason": form.referral_reason}
            target = fields.get(refused.field, form.verdict)
            message = str(refused)
            target.errors = [message[:1].upper() + message[1:]]
        except services.StateConflict as clash:
            return _decision_page(contact_id, review=form, conflict=str(clash), status=409)
        else:
            if form.verdict.data == "approved":
                receiver = services.refers_onward(_pending_outcome(contact_id))
                confirm(
                    "Decision signed off",
                    "Next, the referrer must be told the outcome by the time shown below."
                    + (
                        f" The family has been referred to {agency_name(receiver)}."
                        if receiver
                        else ""
                    ),
                )
            else:
                confirm(
                    "Decision returned to the screener",
                    "It is flagged as returned on their queue until they propose again.",
                )
            return redirect(url_for("screening.decision", contact_id=contact_id))
    return _decision_page(contact_id, review=form)


@bp.route("/contacts/<contact_id>/acknowledgement", methods=["POST"])
@requires(Permission.DECISIONS_PROPOSE)
def acknowledge(contact_id: str) -> BaseResponse | tuple[str, int]:
    form = AcknowledgementForm()
    if form.validate_on_submit():
        told_at = _local_moment(form.told_date.data or "", form.told_time.data or "")
        if told_at is None:
            form.told_date.errors = [
                "Enter the date and time the referrer was told, like 30/11/2026 and 14:30"
            ]
        else:
            try:
                services.acknowledge(
                    db.session(), acting_principal(), contact_id, form.method.data or "", told_at
                )
            except services.ScreeningRefused as refused:
                target = form.method if refused.field == "method" else form.told_date
                target.errors = [str(refused).capitalize()]
            except services.StateConflict as clash:
                return _decision_page(contact_id, told=form, conflict=str(clash), status=409)
            else:
                confirm(
                    "The referrer has been told the outcome",
                    "The contact is closed and any open requests to agencies are withdrawn.",
                )
                return redirect(url_for("screening.queue"))
    return _decision_page(contact_id, told=form)


# -- API -------------------------------------------------------------------------------


@api_bp.route("/<contact_id>/decision", methods=["POST"])
@requires(Permission.API_CONTACTS_DECIDE)
def api_decide(contact_id: str) -> tuple[Response, int]:
    principal = acting_principal()
    try:
        outcome, rationale = read_decision(json_body())
    except ValidationFailed as failed:
        raise ApiError(422, "the decision has problems", fields=failed.fields) from failed
    proposed = services.propose(db.session(), principal, contact_id, outcome, rationale)
    return jsonify(
        {
            "id": str(proposed.id),
            "contact_id": str(proposed.contact_id),
            "outcome": proposed.outcome,
            "status": "awaiting_approval",
            "proposed_at": api_time(proposed.proposed_at),
        }
    ), 201
