"""Breach log pages: the list, recording a breach, one breach with its clocks, each step
of following it up, and the fields for the ICO's report."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, abort, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers.response import Response as BaseResponse

from mash_hub import db, runtime, uktime
from mash_hub.authz import Permission, acting_principal, requires
from mash_hub.breaches import services
from mash_hub.breaches.forms import (
    NO_NAMES,
    ContainmentForm,
    DecisionForm,
    LinkForm,
    RecordForm,
    ReportForm,
    ToldForm,
)
from mash_hub.http.confirm import confirm

bp = Blueprint("breaches", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _count(text: str | None) -> int | None | str:
    """A typed count: None if blank, the number, or the text back if it is not one."""
    text = (text or "").strip().replace(",", "")
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) <= 9 else text


def _mark(form: Any, refused: services.BreachRefused, fallback: str) -> None:
    target = getattr(form, refused.field, None) or getattr(form, fallback)
    target.errors = [str(refused)]


@bp.route("/governance/breaches")
@requires(Permission.BREACHES_MANAGE)
def index() -> str:
    principal = acting_principal()
    return render_template(
        "breaches/index.html",
        title="Personal data breaches",
        breaches=services.breaches_for(db.session(), principal),
        may_record=services.may_record(principal),
        is_lead=services.may_link(principal),
        agency_names=services.AGENCY_NAMES,
    )


@bp.route("/governance/breaches/new", methods=["GET", "POST"])
@requires(Permission.BREACHES_MANAGE)
def record() -> BaseResponse | str:
    form = RecordForm()
    if form.validate_on_submit():
        discovered = uktime.wall_clock(
            form.discovered_date.data or "", form.discovered_time.data or ""
        )
        occurred = None
        occurred_typed = (form.occurred_date.data or "").strip() or (
            form.occurred_time.data or ""
        ).strip()
        people, records = _count(form.people_affected.data), _count(form.records_affected.data)
        if discovered is None:
            form.discovered_date.errors = [
                "Enter the date and time it was discovered, like 30/11/2026 and 14:30"
            ]
        elif (
            occurred_typed
            and (
                occurred := uktime.wall_clock(
                    form.occurred_date.data or "", form.occurred_time.data or ""
                )
            )
            is None
        ):
            form.occurred_date.errors = [
                "Enter the date and time it happened, like 28/11/2026 and 09:00, "
                "or leave both blank"
            ]
        elif isinstance(people, str):
            form.people_affected.errors = ["Enter a whole number, like 12, or leave it blank"]
        elif isinstance(records, str):
            form.records_affected.errors = ["Enter a whole number, like 40, or leave it blank"]
        else:
            try:
                breach = services.record_breach(
                    db.session(),
                    acting_principal(),
                    current_user.display_name,
                    services.NewBreach(
                        what_happened=form.what_happened.data or "",
                        how_discovered=form.how_discovered.data or "",
                        discovered_at=discovered,
                        occurred_at=occurred,
                        agencies=form.agencies.data or [],
                        record_types=form.record_types.data or [],
                        subject_kinds=form.subject_kinds.data or [],
                        people_affected=people,
                        records_affected=records,
                        consequences=form.consequences.data or "",
                        containment=form.containment.data or "",
                    ),
                )
            except services.BreachRefused as refused:
                _mark(form, refused, "what_happened")
            else:
                confirm(
                    f"Breach {breach.reference} recorded",
                    f"Tell the other parties by {uktime.when(breach.partner_due_at)} and decide "
                    "whether to report it to the Information Commissioner by "
                    f"{uktime.when(breach.ico_due_at)} (UK time).",
                )
                return redirect(url_for("breaches.show", breach_id=breach.id))
    return render_template(
        "breaches/new.html", form=form, title="Record a personal data breach", no_names=NO_NAMES
    )


def _breach(breach_id: str) -> services.BreachView:
    """The breach, decided and audited; BreachNotFound (a 404 page) if missing or refused."""
    return services.breach_for(db.session(), acting_principal(), breach_id)


@bp.route("/governance/breaches/<breach_id>")
@requires(Permission.BREACHES_MANAGE)
def show(breach_id: str) -> str:
    view = _breach(breach_id)
    principal = acting_principal()
    return render_template(
        "breaches/show.html",
        title=f"Breach {view.breach.reference}",
        view=view,
        events=services.linked_events(db.session(), principal, view),
        agency_names=services.AGENCY_NAMES,
        record_types=services.RECORD_TYPES,
        subject_kinds=services.SUBJECT_KINDS,
        decisions=services.DECISIONS,
        may_link=services.may_link(principal),
    )


# Each follow-up step: its form, heading, confirmation and what it records.
STEPS: dict[str, tuple[type[Any], str, str]] = {
    "containment": (ContainmentForm, "Add a containment action", "Containment action added"),
    "evidence": (LinkForm, "Link audit events as evidence", "Audit events linked"),
    "told": (ToldForm, "Record that the other parties were told", "Parties told recorded"),
    "decision": (DecisionForm, "Decide whether to report it", "Decision recorded"),
    "report": (ReportForm, "Record the report to the ICO", "Report to the ICO recorded"),
}


@bp.route("/governance/breaches/<breach_id>/<step>", methods=["GET", "POST"])
@requires(Permission.BREACHES_MANAGE)
def follow_up(breach_id: str, step: str) -> BaseResponse | str:
    if step not in STEPS:
        abort(404)
    view = _breach(breach_id)
    form_class, heading, done = STEPS[step]
    form = form_class()
    if step == "told":
        form.agencies.choices = {
            code: services.AGENCY_NAMES.get(code, code) for code in view.parties_to_tell
        }
    if request.method == "POST" and form.validate_on_submit():
        try:
            _apply(step, form, breach_id)
        except services.BreachRefused as refused:
            _mark(form, refused, _first_field(step))
        except _Mistyped as mistyped:
            getattr(form, mistyped.field).errors = [str(mistyped)]
        else:
            confirm(done, _next_step(step))
            return redirect(url_for("breaches.show", breach_id=breach_id))
    return render_template(
        f"breaches/step_{step}.html",
        form=form,
        title=heading,
        view=view,
        no_names=NO_NAMES,
    )


class _Mistyped(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _first_field(step: str) -> str:
    return {
        "containment": "detail",
        "evidence": "seqs",
        "told": "agencies",
        "decision": "outcome",
        "report": "ico_reference",
    }[step]


def _moment(day: str | None, clock: str | None, field: str, what: str) -> Any:
    moment = uktime.wall_clock(day or "", clock or "")
    if moment is None:
        raise _Mistyped(f"Enter the date and time {what}, like 30/11/2026 and 14:30", field)
    return moment


def _apply(step: str, form: Any, breach_id: str) -> None:
    session, principal, name = db.session(), acting_principal(), current_user.display_name
    if step == "containment":
        services.add_containment(session, principal, name, breach_id, form.detail.data or "")
    elif step == "evidence":
        services.link_audit_events(
            session, principal, name, breach_id, form.seqs.data or "", form.detail.data or ""
        )
    elif step == "told":
        told_at = _moment(form.told_date.data, form.told_time.data, "told_date", "they were told")
        services.record_parties_told(
            session,
            principal,
            name,
            breach_id,
            form.agencies.data or [],
            told_at,
            form.detail.data or "",
        )
    elif step == "decision":
        services.decide_reportable(
            session, principal, name, breach_id, form.outcome.data or "", form.detail.data or ""
        )
    else:
        reported_at = _moment(
            form.reported_date.data, form.reported_time.data, "reported_date", "it was reported"
        )
        services.record_ico_report(
            session,
            principal,
            name,
            breach_id,
            reported_at,
            form.ico_reference.data or "",
            form.late_reason.data or "",
        )


def _next_step(step: str) -> str:
    return {
        "containment": "It is in the breach's history.",
        "evidence": "The events are listed on the breach as evidence.",
        "told": "The clock for telling the other parties stops once every party is told.",
        "decision": "If it is reportable, report it to the ICO and record the report here.",
        "report": "The clock for the ICO has stopped. Download the report fields to keep.",
    }[step]


@bp.route("/governance/breaches/<breach_id>/ico-report.csv")
@requires(Permission.BREACHES_MANAGE)
def ico_report(breach_id: str) -> Response:
    name, text = services.ico_report(
        db.session(), acting_principal(), breach_id, runtime.settings().app.organisation
    )
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
