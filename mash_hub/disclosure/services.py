"""Making a disclosure out of the MASH. Nothing here commits.

A MASH manager chooses the recipient, purpose, lawful basis (from the agreements in force)
and the items to release. Every read of the contact and of each partner item goes through
the firewall and is audited; what is released is copied into the disclosure, sealed under
the (contact, originating agency) data key. An item restricted by its originator needs
that agency's recorded approval, given by its governance lead, before the manager can
complete the disclosure with a fresh security code. Every table is append-only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from mash_hub import firewall, runtime
from mash_hub.agencies import AGENCIES
from mash_hub.audit.services import EventDraft, record
from mash_hub.authz.gate import Principal
from mash_hub.authz.permissions import Role
from mash_hub.contacts.models import Contact
from mash_hub.disclosure.models import (
    APPROVAL_DECISIONS,
    Disclosure,
    DisclosureApproval,
    DisclosureCompletion,
    DisclosureItem,
)
from mash_hub.errors import NotFound
from mash_hub.firewall import records
from mash_hub.firewall.release import seal
from mash_hub.identity import services as identity
from mash_hub.identity.models import User
from mash_hub.notifications import services as notifications
from mash_hub.notifications.services import notify
from mash_hub.policy import Action
from mash_hub.sharing.models import Contribution, ContributionItem, InfoRequest

AGENCY_NAMES = {agency.code: agency.name for agency in AGENCIES}
CONCERN = "concern"


class DisclosureNotFound(NotFound):
    """No such disclosure or contact, or one the caller may not see."""


class DisclosureRefused(Exception):
    """The disclosure cannot do this now; the message says why, for the person asking."""


@dataclass(frozen=True)
class Candidate:
    """Something on the contact that could be released."""

    key: str  # "concern" or a contribution item id
    agency: str
    agency_name: str
    kind: str
    restricted: bool
    text: str


@dataclass(frozen=True)
class Basis:
    key: str
    isa_id: str
    basis: str
    label: str


@dataclass(frozen=True)
class Recipient:
    organisation: str
    person: str
    agency: str | None = None  # one of the hub's agencies, or None for one outside it


@dataclass(frozen=True)
class ReleasedItem:
    agency: str
    agency_name: str
    kind: str
    restricted: bool
    text: str | None


@dataclass(frozen=True)
class DisclosureView:
    id: str
    reference: str
    contact_id: str
    contact_reference: str
    status: str
    recipient: Recipient
    purpose: str
    isa_id: str
    lawful_basis: str
    started_at: datetime
    items: tuple[ReleasedItem, ...]
    approvals: tuple[DisclosureApproval, ...]
    reasons: dict[str, str]  # by approval id: why an originating lead decided as they did
    awaiting: tuple[str, ...]
    completion: DisclosureCompletion | None


def reference_of(disclosure: Disclosure) -> str:
    return "DISC-" + disclosure.id.hex[:10].upper()


def status_of(disclosure: Disclosure) -> str:
    """completed, refused, awaiting_approval or ready, from the append-only rows."""
    if disclosure.completion is not None:
        return "completed"
    decisions = {a.agency: a.decision for a in disclosure.approvals}
    if "refused" in decisions.values():
        return "refused"
    if _awaiting(disclosure, decisions):
        return "awaiting_approval"
    return "ready"


def _awaiting(disclosure: Disclosure, decisions: dict[str, str]) -> tuple[str, ...]:
    needed = sorted({item.agency for item in disclosure.items if item.restricted})
    return tuple(agency for agency in needed if decisions.get(agency) != "approved")


def lawful_bases(now: datetime, recipient_agency: str | None) -> list[Basis]:
    """The lawful bases a disclosure to `recipient_agency` may rest on, each once: those of
    the agreements in force that the agency is party to, or, for an organisation outside
    the hub (None), those of the MASH's core agreement (parties all MASH core agencies).
    A basis several agreements share is recorded against the one with fewest parties, so
    the core agreement comes first."""
    register = current_app.extensions["mash.pdp"].register
    core = {agency.code for agency in AGENCIES if agency.mash_core}
    covering = [
        (isa_id, agreement)
        for isa_id, agreement in register.agreements.items()
        if agreement.in_force(now)
        and (
            recipient_agency in agreement.parties
            if recipient_agency is not None
            else set(agreement.parties) <= core
        )
    ]
    covering.sort(key=lambda pair: (len(pair[1].parties), pair[0]))
    bases: dict[str, Basis] = {}
    for isa_id, agreement in covering:
        for index, basis in enumerate(agreement.lawful_bases):
            if basis not in bases:
                bases[basis] = Basis(f"{isa_id}#{index}", isa_id, basis, basis)
    return sorted(bases.values(), key=lambda b: b.label)


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except (ValueError, TypeError):
        return None


def _contact_access(
    db: Session, principal: Principal, contact_id: str
) -> tuple[Contact, firewall.Access]:
    opened = records.open(
        db, principal, Contact, contact_id, Action.CONTACT_READ, missing=DisclosureNotFound
    )
    return opened.record, opened.access


def candidates(
    db: Session, principal: Principal, contact: Contact, access: firewall.Access
) -> list[Candidate]:
    """The concern narrative and every partner item the manager is allowed to read, each
    read decided and audited."""
    source = contact.source_agency.code
    found = [
        Candidate(
            CONCERN,
            source,
            AGENCY_NAMES.get(source, source),
            "concern",
            False,
            records.text_of(access, contact, "concern", agency=source),
        )
    ]
    rows = db.execute(
        records.reopen(db, principal, access)
        .rows(Contribution, ContributionItem, InfoRequest.contact_rag)
        .join(ContributionItem, ContributionItem.contribution_id == Contribution.id)
        .join(InfoRequest, Contribution.request_id == InfoRequest.id)
        .order_by(Contribution.answered_at, Contribution.agency, ContributionItem.position)
    ).all()
    decided: dict[tuple[uuid.UUID, bool], firewall.Access | None] = {}
    for contribution, item, rag in rows:
        key = (contribution.id, item.restricted)
        if key not in decided:
            decided[key] = records.decide_contribution(
                principal, contribution, restricted=item.restricted, contact_rag=rag
            )
        item_access = decided[key]
        if item_access is None:
            continue
        text = records.text_of(item_access, item, "text", agency=contribution.agency)
        found.append(
            Candidate(
                str(item.id),
                contribution.agency,
                AGENCY_NAMES.get(contribution.agency, contribution.agency),
                item.kind,
                item.restricted,
                text,
            )
        )
    return found


@dataclass(frozen=True)
class Prepared:
    """A contact opened for a disclosure: its allowed, audited access and what it offers."""

    contact: Contact
    access: firewall.Access
    offered: tuple[Candidate, ...]


def prepare(db: Session, principal: Principal, contact_id: str) -> Prepared:
    """The contact and what could be released from it, for the disclosure form (each read
    decided and audited once for the page)."""
    contact, access = _contact_access(db, principal, contact_id)
    return Prepared(contact, access, tuple(candidates(db, principal, contact, access)))


def _event(
    principal: Principal, kind: str, action: str, disclosure: Disclosure, reason: str
) -> EventDraft:
    return EventDraft(
        kind=kind,
        actor_type=principal.kind,
        actor_id=principal.id,
        agency=principal.agency,
        roles=tuple(sorted(r.value for r in principal.roles)),
        action=action,
        object_type="Disclosure",
        object_id=str(disclosure.id),
        contact_id=str(disclosure.contact_id),
        decision="allow",
        reason=reason,
    )


def start_disclosure(
    db: Session,
    principal: Principal,
    prepared: Prepared,
    *,
    recipient: Recipient,
    purpose: str,
    basis_key: str,
    item_keys: list[str],
) -> Disclosure:
    """Record a disclosure with its released items sealed in. Every check comes before the
    first write: DisclosureRefused for a choice not on offer leaves nothing behind."""
    started = records.new_disclosure_resource()
    on_contact = str(prepared.contact.id)
    if (
        firewall.decide_within(principal, Action.DISCLOSURE_MAKE, started, contact_id=on_contact)
        is None
    ):
        raise DisclosureRefused("only a MASH manager can disclose information out of the MASH")
    now = runtime.now()
    bases = {b.key: b for b in lawful_bases(now, recipient.agency)}
    basis = bases.get(basis_key)
    if basis is None:
        raise DisclosureRefused(
            "choose a lawful basis from an agreement in force with the recipient"
        )
    contact, access = prepared.contact, prepared.access
    offered = {c.key: c for c in prepared.offered}
    chosen = [offered[key] for key in item_keys if key in offered]
    if not chosen or len(chosen) != len(set(item_keys)):
        raise DisclosureRefused("choose at least one item to release")
    disclosure = Disclosure(
        id=uuid.uuid4(),
        contact_id=contact.id,
        recipient_organisation=recipient.organisation,
        recipient_person=recipient.person,
        purpose=purpose,
        isa_id=basis.isa_id,
        lawful_basis=basis.basis,
        started_at=now,
        started_by=principal.id,
        started_by_agency=principal.agency,
    )
    db.add(disclosure)
    db.flush()
    cid = str(contact.id)
    for position, candidate in enumerate(chosen):
        item_id = uuid.uuid4()
        db.add(
            DisclosureItem(
                id=item_id,
                disclosure_id=disclosure.id,
                contact_id=contact.id,
                position=position,
                source="concern" if candidate.key == CONCERN else "contribution",
                source_item_id=None if candidate.key == CONCERN else uuid.UUID(candidate.key),
                agency=candidate.agency,
                kind=candidate.kind,
                restricted=candidate.restricted,
                text_sealed=seal(
                    access,
                    contact_id=cid,
                    agency_code=candidate.agency,
                    table="disclosure_items",
                    row_id=str(item_id),
                    column="text",
                    text=candidate.text,
                ),
            )
        )
    db.flush()
    db.refresh(disclosure)
    record(
        db,
        _event(principal, "disclosure.started", "disclosure:start", disclosure, "started"),
    )
    for agency in sorted({c.agency for c in chosen if c.restricted}):
        notify(
            db,
            agency=agency,
            role=Role.GOVERNANCE_LEAD,
            kind="disclosure.approval_needed",
            object_type="Disclosure",
            object_id=str(disclosure.id),
        )
    return disclosure


def disclosure_for_manager(
    db: Session, principal: Principal, disclosure_id: str
) -> tuple[Disclosure, DisclosureView]:
    """The disclosure with its released items opened, for MASH staff allowed to read its
    contact. DisclosureNotFound otherwise."""
    disclosure = records.open(
        db, principal, Disclosure, disclosure_id, Action.DISCLOSURE_MAKE, missing=DisclosureNotFound
    ).record
    contact, access = _contact_access(db, principal, str(disclosure.contact_id))
    record(db, _event(principal, "disclosure.read", "disclosure:read", disclosure, "shown"))
    items = tuple(
        ReleasedItem(
            item.agency,
            AGENCY_NAMES.get(item.agency, item.agency),
            item.kind,
            item.restricted,
            records.text_of(access, item, "text", agency=item.agency),
        )
        for item in disclosure.items
    )
    reasons = {
        str(a.id): records.text_of(access, a, "reason", agency=a.agency)
        for a in disclosure.approvals
        if a.reason_sealed is not None
    }
    return disclosure, _view(disclosure, contact, items, reasons)


def _view(
    disclosure: Disclosure,
    contact: Contact,
    items: tuple[ReleasedItem, ...],
    reasons: dict[str, str] | None = None,
) -> DisclosureView:
    decisions = {a.agency: a.decision for a in disclosure.approvals}
    return DisclosureView(
        id=str(disclosure.id),
        reference=reference_of(disclosure),
        contact_id=str(contact.id),
        contact_reference=contact.reference,
        status=status_of(disclosure),
        recipient=Recipient(disclosure.recipient_organisation, disclosure.recipient_person),
        purpose=disclosure.purpose,
        isa_id=disclosure.isa_id,
        lawful_basis=disclosure.lawful_basis,
        started_at=disclosure.started_at,
        items=items,
        approvals=tuple(sorted(disclosure.approvals, key=lambda a: a.agency)),
        reasons=reasons or {},
        awaiting=_awaiting(disclosure, decisions),
        completion=disclosure.completion,
    )


def complete(
    db: Session, principal: Principal, user: User, disclosure: Disclosure, code: str
) -> DisclosureCompletion:
    """Complete a ready disclosure with a fresh security code. DisclosureRefused if it is
    not ready or the code is wrong (the refusal is audited)."""
    status = status_of(disclosure)
    if status == "completed":
        raise DisclosureRefused("this disclosure has already been completed")
    if status == "refused":
        raise DisclosureRefused("an originating agency refused this disclosure")
    if status == "awaiting_approval":
        raise DisclosureRefused("every originating agency must approve its restricted items first")
    refusal = identity.step_up_refusal(
        db,
        user,
        code,
        "disclosure:complete",
        object_type="Disclosure",
        object_id=str(disclosure.id),
        contact_id=str(disclosure.contact_id),
    )
    if refusal is not None:  # counted towards the step-up lock, and audited
        raise DisclosureRefused(refusal[:1].lower() + refusal[1:])
    completion = DisclosureCompletion(
        disclosure_id=disclosure.id,
        completed_at=runtime.now(),
        completed_by=principal.id,
        completed_by_name=user.display_name,
    )
    db.add(completion)
    db.flush()
    db.refresh(disclosure)
    record(
        db,
        _event(principal, "disclosure.completed", "disclosure:complete", disclosure, "completed"),
    )
    return completion


# --- the originating agency's side ------------------------------------------------------


@dataclass(frozen=True)
class PendingApproval:
    id: str
    reference: str
    recipient: Recipient
    purpose: str
    lawful_basis: str
    isa_id: str
    started_at: datetime
    restricted_items: int
    kinds: tuple[str, ...]
    decision: str | None
    # (kind, text) of each of the lead's own restricted items, on the approval page only.
    items: tuple[tuple[str, str], ...] = ()


def _for_originator(disclosure: Disclosure, agency: str) -> PendingApproval | None:
    mine = [item for item in disclosure.items if item.restricted and item.agency == agency]
    if not mine:
        return None
    decisions = {a.agency: a.decision for a in disclosure.approvals}
    return PendingApproval(
        id=str(disclosure.id),
        reference=reference_of(disclosure),
        recipient=Recipient(disclosure.recipient_organisation, disclosure.recipient_person),
        purpose=disclosure.purpose,
        lawful_basis=disclosure.lawful_basis,
        isa_id=disclosure.isa_id,
        started_at=disclosure.started_at,
        restricted_items=len(mine),
        kinds=tuple(item.kind for item in mine),
        decision=decisions.get(agency),
    )


def pending_approvals(db: Session, principal: Principal) -> list[PendingApproval]:
    """Disclosures holding this agency's restricted items and waiting for its decision."""
    rows = db.scalars(
        records.scope(principal, Disclosure, Action.DISCLOSURE_APPROVE)
        .where(
            Disclosure.id.in_(
                select(DisclosureItem.disclosure_id).where(
                    DisclosureItem.restricted, DisclosureItem.agency == principal.agency
                )
            ),
            ~Disclosure.id.in_(
                select(DisclosureApproval.disclosure_id).where(
                    DisclosureApproval.agency == principal.agency
                )
            ),
        )
        .order_by(Disclosure.started_at)
    )
    pending = []
    for disclosure in rows:
        view = _for_originator(disclosure, principal.agency)
        if view is not None and disclosure.completion is None:
            pending.append(view)
    return pending


def approval_for(
    db: Session, principal: Principal, disclosure_id: str
) -> tuple[Disclosure, PendingApproval, firewall.Access]:
    """A disclosure as its originating agency's governance lead sees it to decide: who, why,
    on which basis, and the content of their own agency's restricted items that would leave
    the MASH (never the MASH's content or another agency's)."""
    # A missing disclosure is refused by the firewall with the work of a refused one.
    opened = records.open(
        db,
        principal,
        Disclosure,
        disclosure_id,
        Action.DISCLOSURE_APPROVE,
        missing=DisclosureNotFound,
        outside_the_mash=True,
    )
    disclosure = opened.record
    view = _for_originator(disclosure, principal.agency)
    if view is None:
        firewall.record_not_found(principal, Action.DISCLOSURE_APPROVE, "Disclosure", disclosure_id)
        raise DisclosureNotFound(disclosure_id)
    items = records.own_restricted_items(principal, opened.access, disclosure)
    shown = f"approval: {len(items)} of the agency's own restricted items shown"
    record(db, _event(principal, "disclosure.read", "disclosure:read", disclosure, shown))
    view = replace(view, items=tuple((item.kind, text) for item, text in items))
    return disclosure, view, opened.access


def record_decision(
    db: Session,
    principal: Principal,
    user: User,
    disclosure: Disclosure,
    decision: str,
    reason: str = "",
) -> DisclosureApproval:
    """The originating lead's decision; a refusal says why (sealed for their agency)."""
    if decision not in APPROVAL_DECISIONS:
        raise DisclosureRefused("choose whether to approve or refuse the release")
    reason = reason.strip()
    if decision == "refused" and not reason:
        raise DisclosureRefused("give the reason for refusing the release")
    if len(reason) > 2000:
        raise DisclosureRefused("the reason must be 2000 characters or fewer")
    resource = records.disclosure_resource(disclosure)
    access = firewall.decide_within(principal, Action.DISCLOSURE_APPROVE, resource)
    if access is None:
        raise DisclosureRefused("only the originating agency's governance lead decides this")
    if disclosure.completion is not None:
        raise DisclosureRefused("this disclosure has already been completed")
    if any(a.agency == principal.agency for a in disclosure.approvals):
        raise DisclosureRefused("your agency has already decided on this disclosure")
    approval_id = uuid.uuid4()
    approval = DisclosureApproval(
        id=approval_id,
        disclosure_id=disclosure.id,
        agency=principal.agency,
        decision=decision,
        decided_at=runtime.now(),
        decided_by=principal.id,
        decided_by_name=user.display_name,
        reason_sealed=(
            records.seal_approval_reason(principal, access, disclosure, str(approval_id), reason)
            if reason
            else None
        ),
    )
    db.add(approval)
    db.flush()
    db.refresh(disclosure)
    record(
        db,
        _event(principal, f"disclosure.{decision}", "disclosure:approve", disclosure, decision),
    )
    notify(
        db,
        agency=disclosure.started_by_agency,
        role=Role.MASH_MANAGER,
        kind="disclosure.decided",
        object_type="Disclosure",
        object_id=str(disclosure.id),
    )
    return approval


def on_contact(
    db: Session, principal: Principal, access: firewall.Access
) -> list[tuple[str, str, str, str, datetime]]:
    """(id, reference, recipient organisation, status, started) of each disclosure on a
    contact this principal was just allowed to read: the contact page's access is the proof."""
    rows = db.scalars(
        records.reopen(db, principal, access).rows(Disclosure).order_by(Disclosure.started_at)
    )
    return [
        (str(d.id), reference_of(d), d.recipient_organisation, status_of(d), d.started_at)
        for d in rows
    ]


def decided_notifications(db: Session, agency: str, limit: int = 10) -> list[tuple[str, datetime]]:
    """(disclosure id, when) of the latest originators' decisions told to the agency's
    MASH managers."""
    return [
        (n.object_id, n.created_at)
        for n in notifications.for_role(db, agency, Role.MASH_MANAGER)
        if n.kind == "disclosure.decided"
    ][:limit]
