"""Recording and following up suspected personal data breaches. Services never commit.

A breach starts two clocks at its discovery: the other parties of the agreements it
concerns must be told within the shortest of those agreements' breach notification periods
(`breach_notification_hours` in policies/isa/*.toml), and the Information Commissioner
within 72 hours (UK GDPR Art. 33) unless the breach is decided not reportable. The
scheduler escalates each clock once when it is close and once when it has run out, through
the hub's messages to the governance leads (and, for the core agencies, the MASH managers)
of every agency concerned.

Who may record, read and follow up a breach is decided by the policy (`breach:record`,
`breach:read`, `breach:update`, clause 8.11 of the core agreement) and audited; on
PostgreSQL row-level security keeps each breach to the agencies it concerns.
"""

from __future__ import annotations

import csv
import io
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mash_hub import runtime, uktime
from mash_hub.agencies import AGENCIES
from mash_hub.audit.models import AuditEvent
from mash_hub.audit.services import EventDraft, record, trail_of
from mash_hub.authz.gate import Principal
from mash_hub.authz.permissions import Role
from mash_hub.breaches.models import Breach, BreachEntry
from mash_hub.errors import NotFound
from mash_hub.firewall import duties
from mash_hub.firewall.decisions import AccessDenied, decide_many, require
from mash_hub.http.spreadsheets import safe_cell
from mash_hub.notifications.models import Notification
from mash_hub.notifications.services import notify
from mash_hub.policy.register import Agreement
from mash_hub.policy.types import Action

ICO_HOURS = 72
# A clock is escalated as "due soon" this long before it runs out.
DUE_SOON = {"partners": timedelta(hours=12), "ico": timedelta(hours=24)}
TEXT_MAX = 5000
SHORT_MAX = 500
COUNT_MAX = 10_000_000
MAX_LINKED_EVENTS = 100

AGENCY_NAMES = {agency.code: agency.name for agency in AGENCIES}
CORE = frozenset(agency.code for agency in AGENCIES if agency.mash_core)

RECORD_TYPES = {
    "contacts": "Contacts and their concerns",
    "people": "The person register (names, dates of birth, addresses)",
    "requests": "Information requests to agencies",
    "answers": "Agencies' answers to requests",
    "disclosures": "Disclosures out of the MASH",
    "audit": "The audit trail",
    "accounts": "User accounts",
}
SUBJECT_KINDS = {
    "children": "Children",
    "parents": "Parents or carers",
    "adults": "Other adults named in contacts",
    "staff": "Staff of an agency",
}
DECISIONS = {
    "reportable": "Reportable to the Information Commissioner",
    "not_reportable": "Not reportable to the Information Commissioner",
}
CLOCKS = {"partners": "Tell the other parties", "ico": "Report to the Information Commissioner"}
STAGES = {"due_soon": "is close to its deadline", "overdue": "has run out"}


class BreachRefused(ValueError):
    """What was asked cannot be recorded; the message is for the page, `field` names the
    form field to mark."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class BreachNotFound(NotFound):
    """No breach the principal may see has this id (missing and refused look the same)."""


# ------------------------------------------------------------------------ codes


def _codes(values: Iterable[str]) -> str:
    """Codes kept as ",a,b," (see the models)."""
    return "," + ",".join(sorted(set(values))) + "," if values else ","


def codes_of(stored: str | None) -> tuple[str, ...]:
    return tuple(code for code in (stored or "").split(",") if code)


def _seqs(stored: str | None) -> tuple[int, ...]:
    return tuple(int(seq) for seq in (stored or "").split(",") if seq.isdigit())


# ---------------------------------------------------------------- the agreements


def concerned_agreements(
    agreements: Iterable[Agreement], agencies: Iterable[str]
) -> list[Agreement]:
    """The agreements a breach of these agencies' data concerns: the core agreement for the
    core agencies' data, and each partner's own agreement for that partner's data. Every
    agreement that has started counts, in force or not: data shared under it is still held."""
    wanted = set(agencies)
    concerned = []
    for agreement in agreements:
        if agreement.status == "draft":
            continue
        owners = {party for party in agreement.parties if party not in CORE} or set(CORE)
        if owners & wanted:
            concerned.append(agreement)
    return sorted(concerned, key=lambda a: a.id)


def _agreements() -> list[Agreement]:
    return list(runtime.pdp().register.agreements.values())


# ------------------------------------------------------------------------ state


@dataclass(frozen=True)
class Clock:
    name: str  # partners | ico
    label: str
    due_at: datetime
    stopped_at: datetime | None  # when it was met, or None while running
    stopped_by: str  # what met it, in words
    late: bool  # met (or still running) after its deadline

    def running(self) -> bool:
        return self.stopped_at is None


@dataclass(frozen=True)
class BreachView:
    breach: Breach
    agencies: tuple[str, ...]
    record_types: tuple[str, ...]
    subject_kinds: tuple[str, ...]
    isa_ids: tuple[str, ...]
    parties_to_tell: tuple[str, ...]
    clocks: tuple[Clock, ...]
    decision: BreachEntry | None
    told: tuple[str, ...]  # the parties told so far
    linked_seqs: tuple[int, ...]
    entries: tuple[BreachEntry, ...] = field(default=())

    @property
    def open(self) -> bool:
        return any(clock.running() for clock in self.clocks)


def _view(breach: Breach) -> BreachView:
    entries = tuple(breach.entries)
    decision = next((e for e in reversed(entries) if e.kind == "decision"), None)
    reported = next((e for e in entries if e.kind == "ico_reported"), None)
    told: set[str] = set()
    told_at: datetime | None = None
    to_tell = set(codes_of(breach.parties_to_tell))
    for entry in entries:
        if entry.kind == "partners_told":
            told |= set(codes_of(entry.agencies))
            if to_tell <= told and told_at is None:
                told_at = entry.happened_at or entry.at
    partners = Clock(
        "partners",
        CLOCKS["partners"],
        breach.partner_due_at,
        told_at,
        "every party told" if told_at else "",
        (told_at or runtime.now()) > breach.partner_due_at,
    )
    if reported is not None:
        ico_stop: datetime | None = reported.happened_at or reported.at
        ico_by = "reported"
    elif decision is not None and decision.outcome == "not_reportable":
        ico_stop, ico_by = decision.at, "decided not reportable"
    else:
        ico_stop, ico_by = None, ""
    ico = Clock(
        "ico",
        CLOCKS["ico"],
        breach.ico_due_at,
        ico_stop,
        ico_by,
        (ico_stop or runtime.now()) > breach.ico_due_at,
    )
    linked: list[int] = []
    for entry in entries:
        linked += [seq for seq in _seqs(entry.audit_seqs) if seq not in linked]
    return BreachView(
        breach=breach,
        agencies=codes_of(breach.agencies),
        record_types=codes_of(breach.record_types),
        subject_kinds=codes_of(breach.subject_kinds),
        isa_ids=codes_of(breach.isa_ids),
        parties_to_tell=codes_of(breach.parties_to_tell),
        clocks=(partners, ico),
        decision=decision,
        told=tuple(sorted(told)),
        linked_seqs=tuple(linked),
        entries=entries,
    )


# ------------------------------------------------------------------- decisions


def may_record(principal: Principal) -> bool:
    """Whether the principal's role could record a breach at all (for offering the link;
    the recording itself is decided and audited)."""
    return principal.kind == "user" and (
        Role.GOVERNANCE_LEAD in principal.roles
        or (Role.MASH_MANAGER in principal.roles and principal.agency in CORE)
    )


def may_link(principal: Principal) -> bool:
    """Only a governance lead reads an audit trail, so only they link its events."""
    return Role.GOVERNANCE_LEAD in principal.roles


def _load(db: Session, principal: Principal, breach_id: str, action: Action) -> Breach:
    """The breach, decided (and audited) for `action`; BreachNotFound if there is none or
    the policy refuses."""
    try:
        ident = uuid.UUID(breach_id)
    except ValueError:
        ident = None
    breach = db.get(Breach, ident) if ident is not None else None
    resource = duties.breach(breach) if breach is not None else duties.missing_breach(breach_id)
    try:
        require(principal, action, resource)
    except AccessDenied as refused:
        raise BreachNotFound(breach_id) from refused
    assert breach is not None  # the stand-in is always refused
    return breach


def breach_for(db: Session, principal: Principal, breach_id: str) -> BreachView:
    """One breach as its page shows it: decided and audited as `breach:read`."""
    return _view(_load(db, principal, breach_id, Action.BREACH_READ))


def breaches_for(db: Session, principal: Principal, limit: int = 200) -> list[BreachView]:
    """The breaches the principal may follow up, open ones first, then newest. Each row
    shown is decided (and audited) on its own; the query's cut mirrors the policy and
    PostgreSQL's row-level security."""
    mine = f"%,{principal.agency},%"
    rows = list(
        db.scalars(
            select(Breach)
            .where((Breach.recorded_by_agency == principal.agency) | Breach.agencies.like(mine))
            .order_by(Breach.discovered_at.desc())
            .limit(limit)
        )
    )
    allowed = decide_many(
        principal, Action.BREACH_READ, [(duties.breach(row), None) for row in rows]
    )
    views = [_view(row) for row, access in zip(rows, allowed, strict=True) if access]
    return sorted(views, key=lambda v: (not v.open, -v.breach.discovered_at.timestamp()))


# ------------------------------------------------------------------- recording


@dataclass(frozen=True)
class NewBreach:
    what_happened: str
    how_discovered: str
    discovered_at: datetime
    occurred_at: datetime | None
    agencies: Sequence[str]
    record_types: Sequence[str]
    subject_kinds: Sequence[str]
    people_affected: int | None
    records_affected: int | None
    consequences: str
    containment: str


def _text(value: str | None, field_name: str, empty: str, limit: int = TEXT_MAX) -> str:
    value = (value or "").strip()
    if not value:
        raise BreachRefused(empty, field_name)
    if len(value) > limit:
        raise BreachRefused(f"Keep this to {limit} characters or fewer", field_name)
    return value


def _optional_text(value: str | None, field_name: str) -> str | None:
    value = (value or "").strip()
    if len(value) > TEXT_MAX:
        raise BreachRefused(f"Keep this to {TEXT_MAX} characters or fewer", field_name)
    return value or None


def _count(value: int | None, field_name: str) -> int | None:
    if value is not None and not 0 <= value <= COUNT_MAX:
        raise BreachRefused("Enter a number from 0 to 10,000,000", field_name)
    return value


def _chosen(
    values: Sequence[str], allowed: Iterable[str], field_name: str, empty: str
) -> list[str]:
    allowed = set(allowed)
    chosen = [value for value in values if value]
    if not chosen:
        raise BreachRefused(empty, field_name)
    if any(value not in allowed for value in chosen):
        raise BreachRefused("Choose from the options shown", field_name)
    return sorted(set(chosen))


# References name no agency and count nothing: each agency sees only its own breaches, so
# a running number would either clash or tell one agency how many others have.
_REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def _new_reference(year: int) -> str:
    code = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(6))
    return f"BR-{year}-{code}"


def record_breach(db: Session, principal: Principal, user_name: str, new: NewBreach) -> Breach:
    """Record a suspected breach, its clocks and (if given) its first containment: decided
    as `breach:record` on the recorder's agency's log and audited."""
    require(principal, Action.BREACH_RECORD, duties.breach_log(principal.agency))
    now = runtime.now()
    what = _text(new.what_happened, "what_happened", "Enter what happened")
    how = _text(new.how_discovered, "how_discovered", "Enter how the breach was discovered")
    if new.discovered_at > now:
        raise BreachRefused("The time it was discovered must be in the past", "discovered_at")
    if new.discovered_at < now - timedelta(days=3 * 365):
        raise BreachRefused(
            "The time it was discovered must be within the last 3 years", "discovered_at"
        )
    if new.occurred_at is not None and new.occurred_at > new.discovered_at:
        raise BreachRefused(
            "The time it happened must be the same as or before the time it was discovered",
            "occurred_at",
        )
    agencies = _chosen(
        new.agencies, AGENCY_NAMES, "agencies", "Select the agencies whose data it concerns"
    )
    record_types = _chosen(
        new.record_types, RECORD_TYPES, "record_types", "Select the kinds of record involved"
    )
    subject_kinds = _chosen(
        new.subject_kinds, SUBJECT_KINDS, "subject_kinds", "Select whose data it is"
    )
    people = _count(new.people_affected, "people_affected")
    records = _count(new.records_affected, "records_affected")
    consequences = _optional_text(new.consequences, "consequences")
    containment = _optional_text(new.containment, "containment")

    concerned = concerned_agreements(_agreements(), agencies)
    hours = min((a.breach_notification_hours for a in concerned), default=ICO_HOURS)
    parties = sorted(
        {party for a in concerned for party in a.parties} - {principal.agency}
        | (set(agencies) - {principal.agency})
    )
    breach = Breach(
        id=uuid.uuid4(),
        recorded_at=now,
        recorded_by=principal.id,
        recorded_by_name=user_name,
        recorded_by_agency=principal.agency,
        discovered_at=new.discovered_at,
        occurred_at=new.occurred_at,
        what_happened=what,
        how_discovered=how,
        agencies=_codes(agencies),
        record_types=_codes(record_types),
        subject_kinds=_codes(subject_kinds),
        people_affected=people,
        records_affected=records,
        consequences=consequences,
        isa_ids=_codes(a.id for a in concerned),
        parties_to_tell=_codes(parties),
        partner_hours=hours,
        partner_due_at=new.discovered_at + timedelta(hours=hours),
        ico_due_at=new.discovered_at + timedelta(hours=ICO_HOURS),
    )
    breach.reference = _new_reference(uktime.uk(now).year)
    db.add(breach)
    db.flush()
    if containment:
        _add_entry(db, principal, user_name, breach, kind="containment", detail=containment)
    _audit(db, principal, "breach.recorded", "breach:record", breach, "recorded")
    for agency in sorted(set(agencies) | {principal.agency}):
        _tell(db, agency, "breach.recorded", breach)
    db.refresh(breach)
    return breach


def _add_entry(
    db: Session,
    principal: Principal | None,
    user_name: str,
    breach: Breach,
    **values: object,
) -> BreachEntry:
    entry = BreachEntry(
        breach_id=breach.id,
        at=runtime.now(),
        by=principal.id if principal is not None else "system",
        by_name=user_name,
        by_agency=principal.agency if principal is not None else None,
        **values,
    )
    db.add(entry)
    db.flush()
    return entry


def _audit(
    db: Session, principal: Principal, kind: str, action: str, breach: Breach, why: str
) -> None:
    record(
        db,
        EventDraft(
            kind=kind,
            actor_type=principal.kind,
            actor_id=principal.id,
            agency=principal.agency,
            roles=tuple(sorted(r.value for r in principal.roles)),
            action=action,
            object_type="Breach",
            object_id=str(breach.id),
            decision="allow",
            reason=why,
        ),
    )


def _tell(db: Session, agency: str, kind: str, breach: Breach) -> None:
    """A message to the agency's governance leads, and to the MASH managers of the core."""
    notify(
        db,
        agency=agency,
        role=Role.GOVERNANCE_LEAD,
        kind=kind,
        object_type="Breach",
        object_id=str(breach.id),
    )
    if agency in CORE:
        notify(
            db,
            agency=agency,
            role=Role.MASH_MANAGER,
            kind=kind,
            object_type="Breach",
            object_id=str(breach.id),
        )


# ------------------------------------------------------------------- follow-up


def _for_update(db: Session, principal: Principal, breach_id: str) -> Breach:
    return _load(db, principal, breach_id, Action.BREACH_UPDATE)


def add_containment(
    db: Session, principal: Principal, user_name: str, breach_id: str, action: str
) -> Breach:
    breach = _for_update(db, principal, breach_id)
    detail = _text(action, "detail", "Enter what was done to contain the breach")
    _add_entry(db, principal, user_name, breach, kind="containment", detail=detail)
    _audit(db, principal, "breach.updated", "breach:containment", breach, "containment")
    return breach


def link_audit_events(
    db: Session, principal: Principal, user_name: str, breach_id: str, typed: str, why: str
) -> Breach:
    """Link events of the linker's own audit trail (by their numbers, as the audit search
    shows them) as evidence. Only a governance lead reads a trail; each number must be an
    event in it, or nothing is linked."""
    breach = _for_update(db, principal, breach_id)
    if Role.GOVERNANCE_LEAD not in principal.roles:
        raise BreachRefused("Only a governance lead can link audit events", "seqs")
    parts = [part for part in typed.replace(",", " ").replace("#", " ").split() if part]
    if not parts:
        raise BreachRefused("Enter the numbers of the audit events to link", "seqs")
    if not all(part.isdigit() and len(part) <= 18 for part in parts):
        raise BreachRefused(
            "Enter event numbers as the audit search shows them, like 1204, 1207", "seqs"
        )
    wanted = sorted({int(part) for part in parts})
    if len(wanted) > MAX_LINKED_EVENTS:
        raise BreachRefused(f"Link at most {MAX_LINKED_EVENTS} events at a time", "seqs")
    found = set(
        db.scalars(
            select(AuditEvent.seq).where(AuditEvent.seq.in_(wanted), trail_of(principal.agency))
        )
    )
    missing = [seq for seq in wanted if seq not in found]
    if missing:
        raise BreachRefused(
            "These are not events of your agency's audit trail: "
            + ", ".join(str(seq) for seq in missing),
            "seqs",
        )
    reason = _text(why, "detail", "Enter why these events are evidence", SHORT_MAX)
    _add_entry(
        db,
        principal,
        user_name,
        breach,
        kind="audit_link",
        detail=reason,
        audit_seqs=",".join(str(seq) for seq in wanted),
    )
    _audit(db, principal, "breach.updated", "breach:link_audit", breach, f"{len(wanted)} events")
    return breach


def record_parties_told(
    db: Session,
    principal: Principal,
    user_name: str,
    breach_id: str,
    agencies: Sequence[str],
    told_at: datetime,
    how: str,
) -> Breach:
    breach = _for_update(db, principal, breach_id)
    parties = codes_of(breach.parties_to_tell)
    chosen = _chosen(agencies, parties, "agencies", "Select the parties you told")
    _moment_since_discovery(breach, told_at, "happened_at")
    detail = _text(how, "detail", "Enter how and by whom they were told", SHORT_MAX)
    _add_entry(
        db,
        principal,
        user_name,
        breach,
        kind="partners_told",
        agencies=_codes(chosen),
        happened_at=told_at,
        detail=detail,
    )
    _audit(db, principal, "breach.updated", "breach:parties_told", breach, ",".join(chosen))
    return breach


def decide_reportable(
    db: Session, principal: Principal, user_name: str, breach_id: str, outcome: str, reasons: str
) -> Breach:
    """Decide whether the breach is reportable to the ICO, with reasons. A later decision
    supersedes an earlier one (both are kept); once reported, it cannot be undone."""
    breach = _for_update(db, principal, breach_id)
    if outcome not in DECISIONS:
        raise BreachRefused("Select whether the breach is reportable", "outcome")
    if any(entry.kind == "ico_reported" for entry in breach.entries):
        raise BreachRefused("The breach has already been reported to the ICO", "outcome")
    detail = _text(reasons, "detail", "Enter the reasons for the decision")
    _add_entry(db, principal, user_name, breach, kind="decision", outcome=outcome, detail=detail)
    _audit(db, principal, "breach.updated", "breach:decide", breach, outcome)
    return breach


def record_ico_report(
    db: Session,
    principal: Principal,
    user_name: str,
    breach_id: str,
    reported_at: datetime,
    ico_reference: str,
    late_reason: str,
) -> Breach:
    breach = _for_update(db, principal, breach_id)
    view = _view(breach)
    if view.decision is None or view.decision.outcome != "reportable":
        raise BreachRefused(
            "Record the decision that the breach is reportable before recording the report",
            "ico_reference",
        )
    if any(entry.kind == "ico_reported" for entry in breach.entries):
        raise BreachRefused("The report to the ICO is already recorded", "ico_reference")
    _moment_since_discovery(breach, reported_at, "happened_at")
    reference = _text(ico_reference, "ico_reference", "Enter the ICO's reference", 64)
    late = (late_reason or "").strip()
    if reported_at > breach.ico_due_at and not late:
        raise BreachRefused(
            "The report was made more than 72 hours after discovery: enter the reason for "
            "the delay, as the ICO asks",
            "late_reason",
        )
    if len(late) > TEXT_MAX:
        raise BreachRefused(f"Keep this to {TEXT_MAX} characters or fewer", "late_reason")
    detail = reference if not late else f"{reference}\nReason for the delay: {late}"
    _add_entry(
        db,
        principal,
        user_name,
        breach,
        kind="ico_reported",
        outcome=reference,
        happened_at=reported_at,
        detail=detail,
    )
    _audit(db, principal, "breach.updated", "breach:ico_reported", breach, "reported")
    return breach


def _moment_since_discovery(breach: Breach, moment: datetime, field_name: str) -> None:
    if moment > runtime.now():
        raise BreachRefused("The time must be in the past", field_name)
    if moment < breach.discovered_at:
        raise BreachRefused("The time must be after the breach was discovered", field_name)


# ------------------------------------------------------------------- the clocks


def escalate_clocks(db: Session) -> int:
    """Job: escalate each running clock once when it is close to its deadline and once
    when it has run out, to every agency the breach concerns; each escalation is an entry
    of the breach and an audit event of the system."""
    now = runtime.now()
    soonest = now + max(DUE_SOON.values())
    candidates = db.scalars(
        select(Breach).where((Breach.partner_due_at <= soonest) | (Breach.ico_due_at <= soonest))
    ).all()
    escalated = 0
    for breach in candidates:
        view = _view(breach)
        done = {e.outcome for e in view.entries if e.kind == "escalated"}
        for clock in view.clocks:
            if not clock.running():
                continue
            if now >= clock.due_at:
                stage = "overdue"
            elif now >= clock.due_at - DUE_SOON[clock.name]:
                stage = "due_soon"
            else:
                continue
            outcome = f"{clock.name}:{stage}"
            if outcome in done:
                continue
            if not _escalation_entry(db, breach, outcome):
                continue  # another scheduler escalated it first
            record(
                db,
                EventDraft(
                    kind="breach.escalated",
                    actor_type="system",
                    actor_id="scheduler",
                    action="breach:escalate",
                    object_type="Breach",
                    object_id=str(breach.id),
                    decision="allow",
                    reason=outcome,
                ),
            )
            kind = f"breach.{clock.name}_{stage}"
            for agency in sorted(set(view.agencies) | {breach.recorded_by_agency}):
                _tell(db, agency, kind, breach)
            escalated += 1
    return escalated


def _escalation_entry(db: Session, breach: Breach, outcome: str) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on the one-escalation-per-stage index; whether
    this one was written. No savepoint: pysqlite would commit the outer transaction."""
    values = {
        "id": uuid.uuid4(),
        "breach_id": breach.id,
        "at": runtime.now(),
        "by": "system",
        "by_name": "The hub",
        "kind": "escalated",
        "outcome": outcome,
    }
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    written = db.execute(
        insert(BreachEntry).values(**values).on_conflict_do_nothing().returning(BreachEntry.id)
    ).first()
    return written is not None


def messages_for(
    db: Session, principal: Principal, limit: int = 20
) -> list[tuple[datetime, str, str]]:
    """The breach messages sent to the principal's roles in their agency, newest first:
    (when, kind, breach id). Only ids: the page decides each breach it links to."""
    roles = [r.value for r in principal.roles if r in (Role.MASH_MANAGER, Role.GOVERNANCE_LEAD)]
    if not roles:
        return []
    rows = db.execute(
        select(Notification.created_at, Notification.kind, Notification.object_id)
        .where(
            Notification.recipient_agency == principal.agency,
            Notification.recipient_role.in_(roles),
            Notification.object_type == "Breach",
        )
        .order_by(Notification.created_at.desc())
        .limit(limit)
    ).all()
    seen: set[tuple[str, str]] = set()
    out = []
    for at, kind, object_id in rows:
        if (kind, object_id) in seen:  # a manager who is also a lead gets it once
            continue
        seen.add((kind, object_id))
        out.append((at, kind, object_id))
    return out


# ------------------------------------------------------------------- the export


def ico_report(
    db: Session, principal: Principal, breach_id: str, organisation: str
) -> tuple[str, str]:
    """The fields the ICO's personal data breach report asks for, as CSV (field, answer),
    from what the log holds: decided as `breach:read` and audited as an export. Returns
    (file name, CSV text)."""
    breach = _load(db, principal, breach_id, Action.BREACH_READ)
    view = _view(breach)
    containment = [e for e in view.entries if e.kind == "containment"]
    reported = next((e for e in view.entries if e.kind == "ico_reported"), None)
    told = [e for e in view.entries if e.kind == "partners_told"]

    def names(codes: Iterable[str], labels: dict[str, str]) -> str:
        return "; ".join(labels.get(code, code) for code in codes)

    late = ""
    if reported is not None and reported.detail and "Reason for the delay: " in reported.detail:
        late = reported.detail.split("Reason for the delay: ", 1)[1]
    rows = [
        ("Breach reference (the hub's)", breach.reference),
        ("Organisation", organisation),
        ("Report type", "Follow-up" if reported else "Initial report"),
        (
            "Recorded by",
            f"{breach.recorded_by_name}, {names([breach.recorded_by_agency], AGENCY_NAMES)}",
        ),
        ("What has happened", breach.what_happened),
        ("How the breach was discovered", breach.how_discovered),
        (
            "When the breach happened (UK time)",
            uktime.when(breach.occurred_at) if breach.occurred_at else "Not known",
        ),
        ("When the breach was discovered (UK time)", uktime.when(breach.discovered_at)),
        ("Whose data (agencies)", names(view.agencies, AGENCY_NAMES)),
        ("Categories of personal data and records", names(view.record_types, RECORD_TYPES)),
        ("Categories of data subjects", names(view.subject_kinds, SUBJECT_KINDS)),
        (
            "Approximate number of data subjects",
            "Not known" if breach.people_affected is None else str(breach.people_affected),
        ),
        (
            "Approximate number of records",
            "Not known" if breach.records_affected is None else str(breach.records_affected),
        ),
        (
            "Special category or criminal offence data",
            "Yes: safeguarding records hold health and criminal offence data"
            if set(view.record_types) & {"contacts", "answers", "requests", "disclosures"}
            else "Not indicated",
        ),
        ("Likely consequences for the data subjects", breach.consequences or "Not recorded"),
        (
            "Containment and recovery",
            " | ".join(f"{uktime.when(e.at)}: {e.detail}" for e in containment) or "None recorded",
        ),
        ("Agreements concerned", ", ".join(view.isa_ids)),
        (
            "Other organisations told",
            " | ".join(
                f"{names(codes_of(e.agencies), AGENCY_NAMES)} on "
                f"{uktime.when(e.happened_at or e.at)} ({e.detail})"
                for e in told
            )
            or "None yet",
        ),
        (
            "Decision on reporting",
            (DECISIONS[view.decision.outcome] + ": " + (view.decision.detail or ""))
            if view.decision and view.decision.outcome in DECISIONS
            else "Not decided",
        ),
        (
            "Reported to the ICO (UK time)",
            uktime.when(reported.happened_at or reported.at) if reported else "Not reported",
        ),
        ("ICO reference", reported.outcome or "" if reported else ""),
        (
            "Reported within 72 hours of discovery",
            ("Yes" if not view.clocks[1].late else "No") if reported else "Not reported",
        ),
        ("Reason for reporting after 72 hours", late),
        (
            "Audit events linked as evidence",
            ", ".join(str(seq) for seq in view.linked_seqs) or "None",
        ),
    ]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Field", "Answer"])
    for key, value in rows:
        writer.writerow([key, safe_cell(value)])
    _audit(db, principal, "breach.exported", "breach:export", breach, "ICO report fields")
    return f"{breach.reference}-ico-report.csv", out.getvalue()


@dataclass(frozen=True)
class LinkedEvent:
    seq: int
    at: datetime
    action: str
    decision: str
    agency: str | None
    object_type: str | None


def linked_events(db: Session, principal: Principal, view: BreachView) -> list[LinkedEvent] | None:
    """The linked events a governance lead may read in their own trail (decided and
    audited as `audit:read`); None for anyone else, who sees the numbers only."""
    if not view.linked_seqs or Role.GOVERNANCE_LEAD not in principal.roles:
        return None
    try:
        require(principal, Action.AUDIT_READ, duties.audit_log(principal.agency))
    except AccessDenied:
        return None
    rows = db.execute(
        select(
            AuditEvent.seq,
            AuditEvent.at,
            AuditEvent.action,
            AuditEvent.decision,
            AuditEvent.agency,
            AuditEvent.object_type,
        )
        .where(AuditEvent.seq.in_(view.linked_seqs), trail_of(principal.agency))
        .order_by(AuditEvent.seq)
    ).all()
    return [LinkedEvent(*row) for row in rows]
