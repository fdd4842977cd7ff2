"""Home page per role. Each section is the user's work list for that role."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, render_template, url_for
from flask_login import current_user

from mash_hub import db, runtime, uktime
from mash_hub.authz import Permission, Role, acting_principal, public, requires
from mash_hub.authz.gate import Principal
from mash_hub.breaches import services as breaches
from mash_hub.break_glass import services as break_glass
from mash_hub.disclosure import services as disclosure
from mash_hub.identity import services as identity
from mash_hub.notifications.services import MESSAGES
from mash_hub.referrals import services as referrals
from mash_hub.reports import services as reports
from mash_hub.screening import services as screening
from mash_hub.sharing import services as sharing

bp = Blueprint("home", __name__)


@dataclass
class Section:
    role: str
    heading: str
    empty: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    links: list[dict[str, str]] = field(default_factory=list)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _section(role: Role, agency_name: str) -> Section:
    if role is Role.SCREENER:
        counts = screening.queue_counts(db.session(), runtime.now(), proposer=acting_principal().id)
        return Section(
            role,
            "Screening queue",
            "There are no contacts waiting to be screened.",
            columns=[
                "Awaiting screening or in progress",
                "Past their decision deadline",
                "Decisions returned to you",
            ],
            rows=[[str(counts.waiting), str(counts.overdue), str(counts.returned_to_you)]]
            if counts.waiting
            else [],
            links=[{"href": url_for("screening.queue"), "text": "Open the screening queue"}],
        )
    if role is Role.MASH_MANAGER:
        counts = screening.queue_counts(db.session(), runtime.now())
        return Section(
            role,
            "Decisions to sign off",
            "There are no decisions waiting for your sign-off.",
            columns=["Decisions awaiting sign-off", "Contacts on the queue", "Overdue"],
            rows=[[str(counts.awaiting_approval), str(counts.waiting), str(counts.overdue)]]
            if counts.awaiting_approval or counts.waiting
            else [],
            links=[
                {"href": url_for("screening.queue"), "text": "Open the queue and sign-offs"},
                {
                    "href": url_for("firewall.open_emergency_access"),
                    "text": "Open emergency access to a closed contact",
                },
                *_reports_link(),
            ],
        )
    if role is Role.AGENCY_RESEARCHER and (
        current_user.agency.code in runtime.settings().referrals.receivers.values()
    ):
        # A receiving service (early help): the families the MASH refers to it.
        waiting = referrals.open_count(db.session(), acting_principal())
        return Section(
            role,
            f"Families referred to {agency_name}",
            f"{agency_name} has no referrals waiting for a decision.",
            columns=["Referrals waiting for your decision"],
            rows=[[str(waiting)]] if waiting else [],
            links=[{"href": url_for("referrals.inbox"), "text": "Open your referrals"}],
        )
    if role is Role.AGENCY_RESEARCHER:
        waiting = sharing.open_request_count(db.session(), current_user.agency.code, runtime.now())
        return Section(
            role,
            f"Information requests for {agency_name}",
            f"{agency_name} has no open information requests.",
            columns=["Open requests"],
            rows=[[str(waiting)]] if waiting else [],
            links=[{"href": url_for("sharing.inbox"), "text": "Open the requests inbox"}],
        )
    if role is Role.GOVERNANCE_LEAD:
        grants = break_glass.review_queue(db.session(), acting_principal())
        return Section(
            role,
            "Emergency access to review",
            "There is no emergency access waiting for review.",
            columns=["Opened", "By", "Agency"],
            rows=[[uktime.when(g.opened_at), g.user.display_name, g.agency] for g in grants],
            links=[
                {"href": url_for("firewall.review_queue"), "text": "Review emergency access"},
                {"href": url_for("governance.workspace"), "text": "Open the governance workspace"},
                {"href": url_for("governance.audit_search"), "text": "Search the audit trail"},
                *_reports_link(),
            ],
        )
    accounts = identity.user_counts_by_agency(db.session())
    return Section(
        role,
        "Accounts by agency",
        "There are no user accounts yet.",
        columns=["Agency", "Active users", "Disabled users"],
        rows=[[name, str(active), str(disabled)] for name, active, disabled in accounts],
        links=[{"href": url_for("identity.users"), "text": "See every user"}],
    )


def _reports_link() -> list[dict[str, str]]:
    """The MASH's performance reports, for those whose role and agency may see them."""
    if not reports.may_read(acting_principal()):
        return []
    return [{"href": url_for("reports.index"), "text": "See the MASH's performance reports"}]


def _escalations(principal: Principal) -> list[dict[str, Any]]:
    """Requests escalated to this person's role. Managers get a link to the contact;
    others only the agency and what happened."""
    return [
        {
            "at": item.at,
            "agency_name": sharing.AGENCY_NAMES.get(item.agency, item.agency),
            "message": MESSAGES[item.kind],
            "contact_href": url_for("casefile.show", contact_id=item.contact_id) + "#requests"
            if principal.can(Permission.CONTACTS_VIEW)
            else None,
        }
        for item in sharing.escalations_for(db.session(), principal)
    ]


def _disclosure_summary(principal: Principal) -> dict[str, Any] | None:
    """A governance lead's count of disclosures waiting for their agency's decision; a
    manager's disclosures an originator has decided on."""
    if principal.can(Permission.DISCLOSURES_APPROVE):
        return {"pending": len(disclosure.pending_approvals(db.session(), principal))}
    if principal.can(Permission.DISCLOSURES_MAKE):
        return {"decided": disclosure.decided_notifications(db.session(), principal.agency)}
    return None


def _breach_summary(principal: Principal) -> dict[str, Any] | None:
    """Open breaches by or about the person's agency, and the breach clocks' messages, for
    those who follow breaches up (governance leads, MASH managers)."""
    if not principal.can(Permission.BREACHES_MANAGE):
        return None
    session = db.session()
    return {
        "open": [view for view in breaches.breaches_for(session, principal) if view.open],
        "messages": [
            (at, MESSAGES[kind], breach_id)
            for at, kind, breach_id in breaches.messages_for(session, principal)
        ],
        "may_record": breaches.may_record(principal),
    }


@bp.route("/")
@requires(Permission.HOME_VIEW)
def index() -> str:
    principal = acting_principal()
    agency = current_user.agency
    sections = [_section(role, agency.name) for role in sorted(current_user.roles)]
    return render_template(
        "home/index.html",
        title=f"Welcome, {current_user.display_name}",
        agency=agency,
        sections=sections,
        escalations=_escalations(principal),
        # Partners' response performance, for MASH managers (counts and times only).
        performance=(
            sharing.response_performance_for(db.session(), principal)
            if Role.MASH_MANAGER in principal.roles
            else None
        ),
        disclosure_summary=_disclosure_summary(principal),
        breach_summary=_breach_summary(principal),
        step_up_notices=identity.step_up_notices(db.session(), principal),
        failed_sign_ins=identity.failed_sign_ins_before(db.session(), current_user),
    )


# -- the footer's pages: open to everyone, signed in or not, and holding no case data --


@bp.route("/accessibility")
@public
def accessibility() -> str:
    return render_template("home/accessibility.html", title="Accessibility statement")


@bp.route("/privacy")
@public
def privacy() -> str:
    return render_template("home/privacy.html", title="Privacy notice")
