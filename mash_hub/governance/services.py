"""Reading the audit trail for governance leads: search, presets, reports and chart data.

What a lead may see is clause 8.3 of the core agreement: the audit of access by and to
their own agency. "By" is every event whose actor belongs to the agency. "To" is, for the
MASH core agencies (children's social care and police, who hold the contacts jointly),
every event on a contact. Every read here is itself decided and audited by the caller
through the firewall (`audit:read` on the agency's `AuditLog`).

Queries are keyset-paged on `seq` (newest first) so a page costs the same on the ten
millionth event as on the first.
"""

from __future__ import annotations

import statistics
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from mash_hub import uktime
from mash_hub.agencies import AGENCIES
from mash_hub.audit.models import AuditEvent
from mash_hub.audit.services import trail_of, within
from mash_hub.authz.gate import Principal
from mash_hub.deadlines import WorkingCalendar
from mash_hub.firewall import Access, duties
from mash_hub.firewall.decisions import decide_within, require
from mash_hub.identity.models import ApiClient, User
from mash_hub.people import services as people
from mash_hub.policy.register import Agreement, Register
from mash_hub.policy.types import Action

PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# An actor is flagged when they touched at least this many contacts...
ANOMALY_FLOOR = 10
# ...and at least this many times the median of their agency's peers.
ANOMALY_FACTOR = 3.0
REVIEW_SOON = timedelta(days=90)


CORE_AGENCIES = tuple(agency.code for agency in AGENCIES if agency.mash_core)
# What a governance lead's own look at the trail is audited as.
TRAIL_READS = ("audit:read", "audit:find_contact", "audit:find_child", "audit:linked_children")


@dataclass(frozen=True)
class AuditFilters:
    """What the lead searches by. Every field is optional; all given ones must match."""

    contact_ids: tuple[str, ...] = ()
    # "Who accessed this child": events on the person's register record itself.
    person_ids: tuple[str, ...] = ()
    actor: str | None = None
    agency: str | None = None
    action: str | None = None
    decision: str | None = None
    isa: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    break_glass: bool = False
    # Refused access without the routine: a MASH screener's page withholding a restricted
    # item (contribution:read refused to MASH core staff) is the rules working, not a probe.
    hide_routine: bool = False
    # The lead's own reads of the trail (each search is audited) are left out unless asked
    # for: otherwise they pile up at the top of every search.
    hide_reads_of: str | None = None

    def describe(self) -> str:
        """The filters as ids and codes only (safe for the audit trail's reason field)."""
        parts = []
        if self.contact_ids:
            parts.append(f"contacts={','.join(self.contact_ids)}")
        if self.person_ids:
            parts.append(f"persons={','.join(self.person_ids)}")
        for name in ("actor", "agency", "action", "decision", "isa"):
            value = getattr(self, name)
            if value:
                parts.append(f"{name}={value}")
        if self.since:
            parts.append(f"since={self.since.isoformat()}")
        if self.until:
            parts.append(f"until={self.until.isoformat()}")
        if self.break_glass:
            parts.append("break_glass")
        if self.hide_routine:
            parts.append("without_routine_withholding")
        if self.hide_reads_of:
            parts.append("without_own_searches")
        return " ".join(parts) or "all"


def contact_in_trail(db: Session, agency: str, contact_id: str) -> bool:
    """Whether any event in `agency`'s trail is on this contact."""
    found = db.scalar(
        select(AuditEvent.seq)
        .where(trail_of(agency), AuditEvent.contact_id == contact_id[:64])
        .limit(1)
    )
    return found is not None


def contacts_in_trail(db: Session, agency: str, contact_ids: Iterable[str]) -> frozenset[str]:
    """Those of `contact_ids` that some event in `agency`'s trail is on."""
    wanted = sorted({contact_id[:64] for contact_id in contact_ids})
    if not wanted:
        return frozenset()
    rows = db.scalars(
        select(AuditEvent.contact_id)
        .where(trail_of(agency), AuditEvent.contact_id.in_(wanted))
        .distinct()
    )
    return frozenset(contact_id for contact_id in rows if contact_id is not None)


@dataclass(frozen=True)
class Page:
    events: Sequence[AuditEvent]
    next_cursor: str | None


def _filtered(db: Session, agency: str, filters: AuditFilters) -> Select[AuditEvent]:
    conditions: list[ColumnElement[bool]] = [trail_of(agency)]
    if filters.contact_ids or filters.person_ids:
        conditions.append(
            or_(
                AuditEvent.contact_id.in_(filters.contact_ids),
                and_(
                    AuditEvent.object_type == "Person",
                    AuditEvent.object_id.in_(filters.person_ids),
                ),
            )
        )
    if filters.actor:
        conditions.append(AuditEvent.actor_id == filters.actor)
    if filters.agency:
        conditions.append(AuditEvent.agency == filters.agency)
    if filters.action:
        conditions.append(AuditEvent.action == filters.action)
    if filters.decision:
        conditions.append(AuditEvent.decision == filters.decision)
    if filters.isa:
        conditions.append(AuditEvent.isa_ids.contains(filters.isa, autoescape=True))
    conditions += within(db, filters.since or None, filters.until or None)
    if filters.break_glass:
        conditions.append(AuditEvent.break_glass.is_(True))
    if filters.hide_reads_of:
        conditions.append(
            or_(
                AuditEvent.actor_id != filters.hide_reads_of,
                AuditEvent.action.not_in(TRAIL_READS),
            )
        )
    if filters.hide_routine:
        conditions.append(
            or_(
                AuditEvent.action != "contribution:read",
                AuditEvent.decision != "deny",
                AuditEvent.agency.is_(None),
                AuditEvent.agency.not_in(CORE_AGENCIES),
            )
        )
    return select(AuditEvent).where(and_(*conditions))


def parse_cursor(cursor: str | None) -> int | None:
    """A cursor is the `seq` to continue below; anything else starts from the newest."""
    if cursor is None or not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 19:
        return None
    return int(cursor)


def search(
    db: Session,
    agency: str,
    filters: AuditFilters,
    *,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """One page of matching events, newest first."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    query = _filtered(db, agency, filters)
    below = parse_cursor(cursor)
    if below is not None:
        query = query.where(AuditEvent.seq < below)
    rows = list(db.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, str(rows[-1].seq) if more and rows else None)


def iterate(
    db: Session, agency: str, filters: AuditFilters, batch: int = 1000
) -> Iterable[AuditEvent]:
    """Every matching event, newest first, fetched in keyset batches (for exports)."""
    cursor: str | None = None
    while True:
        page = search(db, agency, filters, cursor=cursor, limit=batch)
        yield from page.events
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


@dataclass(frozen=True)
class Actor:
    label: str
    kind: str
    email: str


def actor_labels(db: Session, actors: Iterable[tuple[str, str]]) -> dict[str, Actor]:
    """Names for (actor_type, actor_id) pairs: the events hold only ids."""
    ids: dict[str, set[uuid.UUID]] = defaultdict(set)
    for actor_type, actor_id in actors:
        try:
            ids[actor_type].add(uuid.UUID(actor_id))
        except ValueError:
            continue
    labels: dict[str, Actor] = {}
    if ids.get("user"):
        for user_id, name, email in db.execute(
            select(User.id, User.display_name, User.email).where(User.id.in_(ids["user"]))
        ):
            labels[str(user_id)] = Actor(name, "user", email)
    if ids.get("client"):
        for client_id, name in db.execute(
            select(ApiClient.id, ApiClient.name).where(ApiClient.id.in_(ids["client"]))
        ):
            labels[str(client_id)] = Actor(f"API client {name}", "client", "")
    return labels


# Out-of-hours access ----------------------------------------------------------------


def out_of_hours(
    db: Session,
    agency: str,
    calendar: WorkingCalendar,
    since: datetime,
    until: datetime,
    limit: int = 500,
) -> list[AuditEvent]:
    """Allowed accesses to contacts outside the working-hours calendar, newest first."""
    query = (
        _filtered(db, agency, AuditFilters(decision="allow", since=since, until=until))
        .where(AuditEvent.contact_id.is_not(None))
        .order_by(AuditEvent.seq.desc())
    )
    found: list[AuditEvent] = []
    for event in db.scalars(query.execution_options(yield_per=1000)):
        if not calendar.is_working_time(event.at):
            found.append(event)
            if len(found) >= limit:
                break
    return found


# Anomalies -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Anomaly:
    actor_id: str
    actor_type: str
    agency: str
    contacts: int
    peer_median: float
    peers: int


def volume_anomalies(db: Session, agency: str, since: datetime, until: datetime) -> list[Anomaly]:
    """Actors who read far more distinct contacts than the peers of their agency did over
    the same period: at least ANOMALY_FLOOR contacts and ANOMALY_FACTOR times the median."""
    rows = db.execute(
        select(
            AuditEvent.actor_id,
            AuditEvent.actor_type,
            AuditEvent.agency,
            func.count(func.distinct(AuditEvent.contact_id)),
        )
        .where(
            trail_of(agency),
            AuditEvent.decision == "allow",
            AuditEvent.action == "contact:read",
            AuditEvent.contact_id.is_not(None),
            AuditEvent.at >= since,
            AuditEvent.at < until,
        )
        .group_by(AuditEvent.actor_id, AuditEvent.actor_type, AuditEvent.agency)
    ).all()
    by_agency: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for actor_id, actor_type, actor_agency, count in rows:
        by_agency[actor_agency or ""].append((actor_id, actor_type, int(count)))
    flagged: list[Anomaly] = []
    for actor_agency, actors in by_agency.items():
        for actor_id, actor_type, count in actors:
            peers = [c for a, _, c in actors if a != actor_id]
            median = statistics.median(peers) if peers else 0.0
            if count >= ANOMALY_FLOOR and count >= ANOMALY_FACTOR * max(median, 1.0):
                flagged.append(
                    Anomaly(actor_id, actor_type, actor_agency, count, float(median), len(peers))
                )
    return sorted(flagged, key=lambda a: -a.contacts)


# Agreement register ----------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementStatus:
    agreement: Agreement
    state: str  # in_force, review_due, not_in_force
    label: str


def agreement_register(register: Register, now: datetime) -> list[AgreementStatus]:
    today = uktime.uk(now).date()
    rows = []
    for _, agreement in sorted(register.agreements.items()):
        if not agreement.in_force(now):
            state, label = "not_in_force", "Not in force"
            if agreement.status == "active" and agreement.in_force_until < today:
                label = "Expired"
        elif agreement.review_by - today <= REVIEW_SOON:
            state = "review_due"
            label = "Review overdue" if agreement.review_overdue(today) else "Review due"
        else:
            state, label = "in_force", "In force"
        rows.append(AgreementStatus(agreement, state, label))
    return rows


# Charts ---------------------------------------------------------------------------------------


@dataclass
class DailySeries:
    """Counts per day, per series (agency or a single total), over a run of days."""

    days: list[date]
    series: dict[str, list[int]] = field(default_factory=dict)


def _days(since: datetime, until: datetime) -> list[date]:
    first, last = uktime.uk(since).date(), uktime.uk(until - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _daily(
    db: Session, agency: str, since: datetime, until: datetime, decision: str, by_agency: bool
) -> DailySeries:
    days = _days(since, until)
    index = {day: i for i, day in enumerate(days)}
    totals: Counter[tuple[str, date]] = Counter()
    query = (
        select(AuditEvent.at, AuditEvent.agency)
        .where(
            trail_of(agency),
            AuditEvent.kind.in_(("access.decision", "access.break_glass")),
            AuditEvent.decision == decision,
            AuditEvent.contact_id.is_not(None),
            AuditEvent.at >= since,
            AuditEvent.at < until,
        )
        .execution_options(yield_per=5000)
    )
    for at, actor_agency in db.execute(query):
        totals[(actor_agency or "" if by_agency else "all", uktime.uk(at).date())] += 1
    names = sorted({name for name, _ in totals}) or ([] if by_agency else ["all"])
    result = DailySeries(days, {name: [0] * len(days) for name in names})
    for (name, day), count in totals.items():
        if day in index:
            result.series[name][index[day]] = count
    return result


# Both charts count decisions on case records (events naming a contact), so a lead's own
# reading of the trail does not inflate them.


def accesses_per_day(db: Session, agency: str, since: datetime, until: datetime) -> DailySeries:
    return _daily(db, agency, since, until, "allow", by_agency=True)


def refusals_per_day(db: Session, agency: str, since: datetime, until: datetime) -> DailySeries:
    return _daily(db, agency, since, until, "deny", by_agency=False)


# --- the firewall's decisions on a lead's look at the trail ------------------------------


def open_trail(principal: Principal) -> Access:
    """Decide (and audit) this look at the lead's own agency's trail (`audit:read`);
    AccessDenied (answered 403) if the firewall says no."""
    return require(principal, Action.AUDIT_READ, duties.audit_log(principal.agency))


def find_contact(
    db: Session, principal: Principal, typed: str, contact_id: str | None
) -> str | None:
    """The contact the lead named, if the firewall lets them find it (`audit:find_contact`):
    a partner's lead finds only a contact already in its own trail, and any other answers
    exactly as one that does not exist. The look-up is audited under what the lead typed,
    never under the contact's internal id."""
    in_trail = contact_id is not None and contact_in_trail(db, principal.agency, contact_id)
    resource = duties.trail_contact(typed, principal.agency, in_trail=in_trail)
    if decide_within(principal, Action.AUDIT_FIND_CONTACT, resource) is None:
        return None
    return contact_id


def find_child(db: Session, principal: Principal, found: people.IdentityFootprint) -> bool:
    """Whether the firewall lets the lead find this child (`audit:find_child`, clause 8.8):
    the core agencies' leads, whose side holds the subjects' index. Audited under the
    identifier's keyed hash, never what was typed; a child nobody may find answers as one
    the hub does not hold."""
    in_trail = bool(contacts_in_trail(db, principal.agency, found.contact_ids))
    resource = duties.trail_contact(f"child:{found.key}", principal.agency, in_trail=in_trail)
    return decide_within(principal, Action.AUDIT_FIND_CHILD, resource) is not None


@dataclass(frozen=True)
class AccessSummary:
    """Who touched a set of records, in one agency's trail: events by agency, and by person
    or system (allowed and refused)."""

    total: int
    by_agency: list[tuple[str, int, int]]  # agency code, allowed, refused
    by_actor: list[tuple[str, str, str, int, int]]  # type, id, agency, allowed, refused


def summarise(db: Session, agency: str, filters: AuditFilters, limit: int = 100) -> AccessSummary:
    """Counts of the matching events grouped by agency and by actor, most first."""
    matching = _filtered(db, agency, filters).subquery()
    allowed = func.sum(case((matching.c.decision == "allow", 1), else_=0))
    refused = func.sum(case((matching.c.decision == "deny", 1), else_=0))
    agencies = db.execute(
        select(matching.c.agency, allowed, refused)
        .group_by(matching.c.agency)
        .order_by(func.count().desc(), matching.c.agency)
    ).all()
    actors = db.execute(
        select(matching.c.actor_type, matching.c.actor_id, matching.c.agency, allowed, refused)
        .group_by(matching.c.actor_type, matching.c.actor_id, matching.c.agency)
        .order_by(func.count().desc(), matching.c.actor_id)
        .limit(limit)
    ).all()
    return AccessSummary(
        total=sum(int(a or 0) + int(r or 0) for _code, a, r in agencies),
        by_agency=[(code or "", int(a or 0), int(r or 0)) for code, a, r in agencies],
        by_actor=[
            (kind, actor, code or "", int(a or 0), int(r or 0))
            for kind, actor, code, a, r in actors
        ],
    )


def linked_children(
    db: Session, principal: Principal, typed: str, contact_id: str
) -> list[uuid.UUID]:
    """The children on the contact linked to the person register, for the leads the
    firewall lets see them (`audit:linked_children`); none for anyone else."""
    resource = duties.trail_contact(typed, principal.agency, in_trail=True)
    if decide_within(principal, Action.AUDIT_LINKED_CHILDREN, resource) is None:
        return []
    try:
        return people.linked_children(db, uuid.UUID(contact_id))
    except ValueError:  # a contact_id that is no id matches nothing, and has no children
        return []
