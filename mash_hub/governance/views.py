"""The governance workspace: audit search, presets, reports, charts and the CSV export.

Every page reads the audit of the lead's own agency through the firewall first
(`audit:read`), so each look at the trail is itself a line in it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Flask,
    Response,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers.response import Response as BaseResponse

from mash_hub import db, runtime, uktime
from mash_hub.agencies import agency_name
from mash_hub.audit.services import EventDraft, record
from mash_hub.authz import Permission, acting_principal, requires
from mash_hub.firewall import records
from mash_hub.firewall.decisions import Access
from mash_hub.governance import charts, exports
from mash_hub.governance import retention as retention_views
from mash_hub.governance import services as governance
from mash_hub.governance.forms import AuditSearchForm, ChildLookupForm, ExportForm
from mash_hub.identity import services as identity
from mash_hub.people import services as people
from mash_hub.sharing import services as sharing

bp = Blueprint("governance", __name__, url_prefix="/governance")

REPORT_DAYS = 14
CHILD_EVENTS = 100  # the newest events shown under a child's summary
EXPORT_LIMIT = 100_000


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    retention_views.init_app(app)


def _read_audit() -> Access:
    return governance.open_trail(acting_principal())


def _named_contact(form: AuditSearchForm) -> str:
    """What the lead typed to name one contact: a reference, else a contact id."""
    return (form.reference.data or request.args.get("contact_id", ""))[:64]


def _filters(form: AuditSearchForm) -> governance.AuditFilters | None:
    """The form's filters; None when a contact reference or id names no contact the lead
    may find (then nothing matches). A person stands for every contact their records are
    linked to, merges followed, and for their own register record: "who accessed this
    child"."""
    principal = acting_principal()
    contact_ids: tuple[str, ...] = ()
    person_ids: tuple[str, ...] = ()
    if form.reference.data:
        named = governance.find_contact(
            db.session(),
            principal,
            _named_contact(form),
            records.contact_id_by_reference(db.session(), form.reference.data),
        )
        if named is None:
            return None
        contact_ids = (named,)
    contact_id = request.args.get("contact_id", "")
    if contact_id and not contact_ids:
        named = governance.find_contact(db.session(), principal, contact_id[:64], contact_id[:64])
        if named is None:
            return None
        contact_ids = (named,)
    if form.person.data:
        found = people.footprint(db.session(), uuid.UUID(form.person.data))
        person_ids = tuple(sorted(found.person_ids))
        # Only the child's contacts that appear in the lead's own trail: the others match
        # nothing, and naming them (in the export's audit event) would reveal them.
        seen = governance.contacts_in_trail(db.session(), principal.agency, found.contact_ids)
        contact_ids = tuple(sorted(set(contact_ids) | seen))
    return governance.AuditFilters(
        contact_ids=contact_ids,
        person_ids=person_ids,
        actor=form.actor.data or None,
        agency=form.agency.data or None,
        action=form.action.data or None,
        decision=form.decision.data or None,
        isa=form.isa.data or None,
        since=form.since_moment,
        until=form.until_moment,
        break_glass=request.args.get("break_glass") == "1",
        # Refused access shows genuine refusals unless the lead asks for the routine too.
        hide_routine=form.decision.data == "deny" and request.args.get("routine") != "1",
        hide_reads_of=principal.id if _hiding_own_searches(form) else None,
    )


def _hiding_own_searches(form: AuditSearchForm) -> bool:
    """The lead's own searches are left out unless asked for, or searched for by action
    or by actor. A search by contact or child has none of them to leave out: they name
    no contact."""
    asked = (form.action.data, form.actor.data, form.reference.data, form.person.data)
    return request.args.get("own") != "1" and not any(asked) and not request.args.get("contact_id")


def _search_form() -> AuditSearchForm:
    form = AuditSearchForm(formdata=request.args if request.args else None)
    return form


def _window(days: int = REPORT_DAYS) -> tuple[datetime, datetime]:
    # UK days: from the start of the UK day `days - 1` days ago to the end of today.
    today = uktime.uk(runtime.now()).date()
    end = datetime.combine(today + timedelta(days=1), time(0), tzinfo=uktime.UK)
    start = datetime.combine(today - timedelta(days=days - 1), time(0), tzinfo=uktime.UK)
    return start.astimezone(UTC), end.astimezone(UTC)


@bp.route("")
@requires(Permission.GOVERNANCE_VIEW)
def workspace() -> str:
    _read_audit()
    principal = acting_principal()
    since, until = _window()
    accesses = governance.accesses_per_day(db.session(), principal.agency, since, until)
    refusals = governance.refusals_per_day(db.session(), principal.agency, since, until)
    # Counts and times only, no case content: each agency's answers to requests, for the
    # agencies whose performance the firewall lets this lead see (`performance:read`).
    scorecard = sharing.response_performance_for(db.session(), principal, days=REPORT_DAYS)
    return render_template(
        "governance/workspace.html",
        title="Governance",
        charts=[
            charts.stacked_bars(
                f"Accesses allowed per day by agency, last {REPORT_DAYS} days",
                accesses.days,
                {agency_name(code): counts for code, counts in accesses.series.items()},
            ),
            charts.stacked_bars(
                f"Refused accesses per day, last {REPORT_DAYS} days",
                refusals.days,
                refusals.series,
                unit="refusals",
            ),
            charts.share_bars(
                f"Share of requests answered in time, by agency, last {REPORT_DAYS} days",
                [
                    (
                        row.agency_name,
                        row.answered_in_time_share,
                        f"{row.answered} answered, {row.expired} expired, {row.open} open",
                    )
                    for row in scorecard
                ],
            ),
        ],
        agreements=governance.agreement_register(runtime.pdp().register, runtime.now()),
    )


@bp.route("/audit")
@requires(Permission.GOVERNANCE_VIEW)
def audit_search() -> str:
    _read_audit()
    principal = acting_principal()
    form = _search_form()
    page: governance.Page | None = None
    filters: governance.AuditFilters | None = None
    searched = bool(request.args)
    if not searched or form.validate():
        filters = _filters(form)
        if filters is None:
            page = governance.Page([], None)
        else:
            page = governance.search(
                db.session(), principal.agency, filters, cursor=request.args.get("cursor")
            )
    children: list[uuid.UUID] = []
    if filters is not None and len(filters.contact_ids) == 1 and not filters.person_ids:
        children = governance.linked_children(
            db.session(), principal, _named_contact(form), filters.contact_ids[0]
        )
    return render_template(
        "governance/audit.html",
        title=_search_title(),
        children=children,
        form=form,
        page=page,
        actors=governance.actor_labels(
            db.session(), [(e.actor_type, e.actor_id) for e in (page.events if page else [])]
        ),
        next_url=_page_url(page.next_cursor) if page and page.next_cursor else None,
        export_url=url_for("governance.export", **_args_without("cursor")),
        routine_on={**_args_without("cursor", "routine"), "routine": "1"},
        routine_off=_args_without("cursor", "routine"),
        own_hidden=_hiding_own_searches(form),
        own_on={**_args_without("cursor", "own"), "own": "1"},
        own_off=_args_without("cursor", "own"),
    )


def _search_title() -> str:
    if request.args.get("decision") == "deny" and set(request.args) <= {"decision", "routine"}:
        return "Refused access"
    if request.args.get("break_glass") == "1":
        return "Emergency (break-glass) access"
    if request.args.get("person"):
        return "Who accessed this child"
    if request.args.get("reference") or request.args.get("contact_id"):
        return "Who accessed this contact"
    if request.args.get("actor"):
        return "Activity of one user or system"
    return "Search the audit trail"


def _args_without(*names: str) -> dict[str, Any]:
    return {k: v for k, v in request.args.items() if k not in names}


def _page_url(cursor: str) -> str:
    return url_for("governance.audit_search", **_args_without("cursor"), cursor=cursor)


@bp.route("/children", methods=["GET", "POST"])
@requires(Permission.GOVERNANCE_VIEW)
def children() -> str:
    """Who accessed this child: found by NHS number, or name and date of birth, through
    keyed hashes; a summary by agency and person, then the events, in the lead's trail."""
    _read_audit()
    principal = acting_principal()
    form = ChildLookupForm()
    result: dict[str, Any] | None = None
    if form.validate_on_submit():
        found = people.identity_footprint(
            db.session(),
            nhs_number=form.nhs_number.data or None,
            given_name=form.given_name.data or "",
            family_name=form.family_name.data or "",
            date_of_birth=form.birth_day(),
        )
        contacts: frozenset[str] = frozenset()
        persons: tuple[str, ...] = ()
        if found is not None and governance.find_child(db.session(), principal, found):
            contacts = governance.contacts_in_trail(
                db.session(), principal.agency, found.contact_ids
            )
            persons = tuple(sorted(found.person_ids))
        filters = governance.AuditFilters(contact_ids=tuple(sorted(contacts)), person_ids=persons)
        if contacts or persons:
            summary = governance.summarise(db.session(), principal.agency, filters)
            page = governance.search(db.session(), principal.agency, filters, limit=CHILD_EVENTS)
        else:
            summary, page = governance.AccessSummary(0, [], []), governance.Page([], None)
        actors = governance.actor_labels(
            db.session(),
            [(e.actor_type, e.actor_id) for e in page.events]
            + [(kind, actor) for kind, actor, _a, _n, _r in summary.by_actor],
        )
        result = {
            "contacts": sorted(contacts),
            "persons": persons,
            "summary": summary,
            "events": page.events,
            "more": page.next_cursor is not None,
            "actors": actors,
        }
    return render_template(
        "governance/children.html", title="Who accessed this child", form=form, result=result
    )


@bp.route("/audit/export", methods=["GET", "POST"])
@requires(Permission.GOVERNANCE_EXPORT)
def export() -> BaseResponse | str | tuple[str, int]:
    principal = acting_principal()
    search = AuditSearchForm(formdata=MultiDict(request.args))
    if request.args and not search.validate():
        # The same problems the search page names, each linking back to its field there.
        query = urlencode(list(request.args.items(multi=True)))
        back = f"{url_for('governance.audit_search')}?{query}"
        problems = [
            {"text": message, "href": f"{back}#{name}"}
            for name, messages in search.errors.items()
            for message in messages
        ]
        return render_template(
            "governance/export_refused.html",
            title="There is a problem with the search to export",
            problems=problems,
            back=back,
        ), 400
    form = ExportForm()
    if form.validate_on_submit():
        refusal = identity.step_up_refusal(
            db.session(), current_user, form.code.data or "", "audit:export"
        )
        if refusal is not None:
            form.code.errors = [refusal]
        else:
            access = _read_audit()
            filters = _filters(search) if request.args else governance.AuditFilters()
            events = (
                list(governance.iterate(db.session(), principal.agency, filters))[:EXPORT_LIMIT]
                if filters is not None
                else []
            )
            record(
                db.session(),
                EventDraft(
                    kind="audit.exported",
                    actor_type=principal.kind,
                    actor_id=principal.id,
                    agency=principal.agency,
                    roles=tuple(sorted(r.value for r in principal.roles)),
                    action="audit:export",
                    object_type="AuditLog",
                    object_id=principal.agency,
                    decision="allow",
                    isa_ids=access.decision.isa_ids,
                    clauses=access.decision.clauses,
                    policy_ids=access.decision.policy_ids,
                    reason=f"{len(events)} events; {filters.describe() if filters else 'none'}",
                ),
            )
            stamp = runtime.now().strftime("%Y%m%dT%H%M%SZ")
            filename = f"audit-{principal.agency}-{stamp}.csv"
            return Response(
                "".join(exports.csv_lines(events)),
                mimetype="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
    return render_template(
        "governance/export.html",
        title="Export the audit search as CSV",
        form=form,
        filters=_filters(search) if request.args else governance.AuditFilters(),
        limit=EXPORT_LIMIT,
    )


@bp.route("/out-of-hours")
@requires(Permission.GOVERNANCE_VIEW)
def out_of_hours() -> str:
    _read_audit()
    principal = acting_principal()
    since, until = _window()
    events = governance.out_of_hours(
        db.session(), principal.agency, runtime.calendar(), since, until
    )
    return render_template(
        "governance/out_of_hours.html",
        title="Access outside working hours",
        events=events,
        actors=governance.actor_labels(db.session(), [(e.actor_type, e.actor_id) for e in events]),
        days=REPORT_DAYS,
    )


@bp.route("/anomalies")
@requires(Permission.GOVERNANCE_VIEW)
def anomalies() -> str:
    _read_audit()
    principal = acting_principal()
    since, until = _window(30)
    flagged = governance.volume_anomalies(db.session(), principal.agency, since, until)
    labels = governance.actor_labels(db.session(), [(a.actor_type, a.actor_id) for a in flagged])
    return render_template(
        "governance/anomalies.html",
        title="Unusual access",
        flagged=flagged,
        actors=labels,
        floor=governance.ANOMALY_FLOOR,
        factor=governance.ANOMALY_FACTOR,
    )


@bp.route("/agreements")
@requires(Permission.GOVERNANCE_VIEW)
def agreements() -> str:
    _read_audit()
    return render_template(
        "governance/agreements.html",
        title="Information-sharing agreements",
        agreements=governance.agreement_register(runtime.pdp().register, runtime.now()),
    )
