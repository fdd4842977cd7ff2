"""Home page per role. Each section is the user's work list for that role."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, Flask, render_template, url_for
from flask_login import current_user

from mash_hub import db, runtime
from mash_hub.authz import Permission, Role, current_principal, requires
from mash_hub.firewall import break_glass
from mash_hub.identity import services as identity
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
        counts = screening.queue_counts(db.session(), runtime.now())
        return Section(
            role,
            "Screening queue",
            "There are no contacts waiting to be screened.",
            columns=["Awaiting screening or in progress", "Past their decision deadline"],
            rows=[[str(counts.waiting), str(counts.overdue)]] if counts.waiting else [],
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
            links=[{"href": url_for("screening.queue"), "text": "Open the queue and sign-offs"}],
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
        principal = current_principal()
        grants = break_glass.review_queue(db.session(), principal) if principal else []
        return Section(
            role,
            "Emergency access to review",
            "There is no emergency access waiting for review.",
            columns=["Opened", "By", "Agency"],
            rows=[
                [g.opened_at.strftime("%d %b %Y %H:%M UTC"), g.user.display_name, g.agency]
                for g in grants
            ],
            links=[
                {"href": url_for("firewall.review_queue"), "text": "Review emergency access"},
                {"href": url_for("governance.workspace"), "text": "Open the governance workspace"},
                {"href": url_for("governance.audit_search"), "text": "Search the audit trail"},
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


@bp.route("/")
@requires(Permission.HOME_VIEW)
def index() -> str:
    agency = current_user.agency
    sections = [_section(role, agency.name) for role in sorted(current_user.roles)]
    return render_template(
        "home/index.html",
        title=f"Welcome, {current_user.display_name}",
        agency=agency,
        sections=sections,
    )
