"""Recording contacts and reading them back through the firewall.

Nothing here commits: the request or command that calls it owns the unit of work.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, lazyload

from mash_hub import firewall, runtime
from mash_hub.authz.gate import Principal
from mash_hub.contacts.deadlines import WorkingCalendar, deadline_for
from mash_hub.contacts.models import (
    RAG_RATINGS,
    Contact,
    ContactRating,
    ContactSubject,
    ReferenceCounter,
)
from mash_hub.contacts.schemas import ContactInput
from mash_hub.crypto import keys
from mash_hub.firewall.release import release, seal
from mash_hub.identity import services as identity
from mash_hub.people import services as people
from mash_hub.policy import Action, ContactResource


class ContactNotFound(LookupError):
    """No such contact, or one on the other side of the caller's firewall: the same answer."""


class ContactDeleted(LookupError):
    """The contact was deleted under retention: only its tombstone (reference, dates) is
    left, and its content can no longer be opened. Raised after the firewall allowed the
    read, so only someone who could have read it learns that."""

    def __init__(self, contact_id: str, reference: str, received_at: datetime) -> None:
        super().__init__(contact_id)
        self.contact_id = contact_id
        self.reference = reference
        self.received_at = received_at


@dataclass(frozen=True)
class SubjectView:
    id: str
    role: str
    given_name: str
    family_name: str
    date_of_birth: date | None
    address: str | None
    nhs_number: str | None
    upn: str | None


@dataclass(frozen=True)
class RatingView:
    rag: str
    previous_rag: str | None
    rationale: str
    rated_at: datetime
    rated_by: str
    decision_due_at: datetime


class RatingRefused(ValueError):
    """The rating itself is not acceptable (the message says why)."""


class ContactLeftScreening(Exception):
    """The contact has an approved decision (or is closed): it can no longer be rated."""


@dataclass(frozen=True)
class ContactView:
    """A contact released to one principal, after a decision and its audit event."""

    id: str
    reference: str
    received_at: datetime
    source_agency: str
    referrer_name: str
    referrer_role: str | None
    concern: str
    consent_status: str
    consent_reason: str | None
    status: str
    rag: str | None
    decision_due_at: datetime | None
    subjects: tuple[SubjectView, ...]
    ratings: tuple[RatingView, ...]


def next_reference(db: Session, year: int) -> str:
    """MASH-<year>-<number>, numbered from 1 each year without gaps, safe across workers:
    the counter row is created if missing, then incremented under its row lock."""
    insert = sqlite_insert if db.get_bind().dialect.name == "sqlite" else postgresql_insert
    db.execute(
        insert(ReferenceCounter)
        .values(year=year, last=0)
        .on_conflict_do_nothing(index_elements=["year"])
    )
    number = db.execute(
        update(ReferenceCounter)
        .where(ReferenceCounter.year == year)
        .values(last=ReferenceCounter.last + 1)
        .returning(ReferenceCounter.last)
    ).scalar_one()
    return f"MASH-{year}-{number:06d}"


def _resource(contact: Contact) -> ContactResource:
    return ContactResource(
        str(contact.id),
        contact.rag or "none",  # type: ignore[arg-type]
        "closed" if contact.status in ("closed", "deleted") else "open",
    )


def create_contact(db: Session, principal: Principal, data: ContactInput) -> Contact:
    contact_id = uuid.uuid4()
    cid = str(contact_id)
    access = firewall.require(
        principal, Action.CONTACT_CREATE, ContactResource(cid, "none", "open"), contact_id=cid
    )
    agency = identity.agency_by_code(db, data.source_agency)
    now = runtime.now()

    def sealed(table: str, row_id: str, column: str, text: str) -> bytes:
        return seal(
            access,
            contact_id=cid,
            agency_code=agency.code,
            table=table,
            row_id=row_id,
            column=column,
            text=text,
        )

    referrer = json.dumps({"name": data.referrer_name, "role": data.referrer_role})
    contact = Contact(
        id=contact_id,
        reference=next_reference(db, data.received_at.year),
        received_at=data.received_at,
        source_agency=agency,
        status="awaiting_screening",
        consent_status=data.consent_status,
        concern_sealed=sealed("contacts", cid, "concern", data.concern),
        referrer_sealed=sealed("contacts", cid, "referrer", referrer),
        consent_reason_sealed=(
            sealed("contacts", cid, "consent_reason", data.consent_reason)
            if data.consent_reason
            else None
        ),
        created_at=now,
        created_by=principal.id,
    )
    for position, subject in enumerate(data.subjects):
        subject_id = uuid.uuid4()
        contact.subjects.append(
            ContactSubject(
                id=subject_id,
                position=position,
                role=subject.role,
                details_sealed=sealed(
                    "contact_subjects",
                    str(subject_id),
                    "details",
                    json.dumps(subject.as_document()),
                ),
            )
        )
    db.add(contact)
    db.flush()
    people.suggest_for_contact(db, access, contact)  # candidates for review; links nothing
    return contact


def _load(
    db: Session, principal: Principal, contact_id: str, action: Action = Action.CONTACT_READ
) -> Contact:
    try:
        ident = uuid.UUID(contact_id)
    except ValueError:
        ident = None
    # The session's identity map holds rows weakly: a read keeps the contact for the unit
    # of work, so the other parts of the same page or answer (warnings, requests, people)
    # find it there instead of reading it, its subjects and its ratings again. A change
    # lets go of it first and so reads the row afresh, as it always has.
    kept: dict[uuid.UUID, Contact] = db.info.setdefault("mash_hub.contacts.loaded", {})
    if action != Action.CONTACT_READ and ident is not None:
        kept.pop(ident, None)
    contact = db.get(Contact, ident) if ident is not None else None
    if contact is None:
        firewall.record_not_found(principal, action, "Contact", contact_id)
        raise ContactNotFound(contact_id)
    if action == Action.CONTACT_READ:
        kept[contact.id] = contact
    return contact


def get_contact_for(db: Session, principal: Principal, contact_id: str) -> ContactView:
    """The contact, released to this principal, or ContactNotFound (missing or refused)."""
    contact = _load(db, principal, contact_id)
    cid = str(contact.id)
    try:
        access = firewall.require(
            principal, Action.CONTACT_READ, _resource(contact), contact_id=cid
        )
    except firewall.AccessDenied as refused:
        raise ContactNotFound(contact_id) from refused
    if contact.status == "deleted":
        raise ContactDeleted(cid, contact.reference, contact.received_at)
    agency = contact.source_agency.code
    # The contact's fields and those of its requests and answers are sealed for several
    # agencies: read all its keys at once rather than one agency at a time.
    keys.preload_contacts(db, [contact.id])

    def opened(table: str, row_id: str, column: str, envelope: bytes) -> str:
        return release(
            access,
            contact_id=cid,
            agency_code=agency,
            table=table,
            row_id=row_id,
            column=column,
            envelope=envelope,
        )

    referrer: dict[str, Any] = json.loads(
        opened("contacts", cid, "referrer", contact.referrer_sealed)
    )
    subjects = []
    for subject in contact.subjects:
        details = json.loads(
            opened("contact_subjects", str(subject.id), "details", subject.details_sealed)
        )
        born = details.get("date_of_birth")
        subjects.append(
            SubjectView(
                id=str(subject.id),
                role=subject.role,
                given_name=details["given_name"],
                family_name=details["family_name"],
                date_of_birth=date.fromisoformat(born) if born else None,
                address=details.get("address"),
                nhs_number=details.get("nhs_number"),
                upn=details.get("upn"),
            )
        )
    ratings = tuple(
        RatingView(
            rag=rating.rag,
            previous_rag=rating.previous_rag,
            rationale=opened(
                "contact_ratings", str(rating.id), "rationale", rating.rationale_sealed
            ),
            rated_at=rating.rated_at,
            rated_by=rating.rated_by,
            decision_due_at=rating.decision_due_at,
        )
        for rating in contact.ratings
    )
    return ContactView(
        id=cid,
        reference=contact.reference,
        received_at=contact.received_at,
        source_agency=agency,
        referrer_name=referrer["name"],
        referrer_role=referrer.get("role"),
        concern=opened("contacts", cid, "concern", contact.concern_sealed),
        consent_status=contact.consent_status,
        consent_reason=(
            opened("contacts", cid, "consent_reason", contact.consent_reason_sealed)
            if contact.consent_reason_sealed is not None
            else None
        ),
        status=contact.status,
        rag=contact.rag,
        decision_due_at=contact.decision_due_at,
        subjects=tuple(subjects),
        ratings=ratings,
    )


def working_calendar() -> WorkingCalendar:
    calendar: WorkingCalendar = current_app.extensions["mash.calendar"]
    return calendar


def rate_contact(
    db: Session, principal: Principal, contact_id: str, rag: str, rationale: str
) -> Contact:
    """Rate (or re-rate) a contact. The rating joins the history, which is never edited,
    and the decision deadline is worked out afresh from the time the contact came in."""
    if rag not in RAG_RATINGS:
        raise RatingRefused("rag must be red, amber or green")
    rationale = rationale.strip()
    if not rationale:
        raise RatingRefused("give the reason for this rating")
    contact = _load(db, principal, contact_id, Action.CONTACT_RATE)
    cid = str(contact.id)
    try:
        access = firewall.require(
            principal, Action.CONTACT_RATE, _resource(contact), contact_id=cid
        )
    except firewall.AccessDenied as refused:
        raise ContactNotFound(contact_id) from refused
    if contact.status not in ("awaiting_screening", "in_progress"):
        raise ContactLeftScreening(cid)
    settings = runtime.settings()
    due = deadline_for(
        rag,
        contact.received_at,
        settings.timescales,
        working_calendar(),
        settings.calendar.red_counts_outside_working_hours,
    )
    rating_id = uuid.uuid4()
    rating = ContactRating(
        id=rating_id,
        contact_id=contact.id,
        rag=rag,
        previous_rag=contact.rag,
        rationale_sealed=seal(
            access,
            contact_id=cid,
            agency_code=contact.source_agency.code,
            table="contact_ratings",
            row_id=str(rating_id),
            column="rationale",
            text=rationale,
        ),
        rated_at=runtime.now(),
        rated_by=principal.id,
        decision_due_at=due,
    )
    db.add(rating)
    contact.rag = rag
    contact.decision_due_at = due
    if contact.status == "awaiting_screening":
        contact.status = "in_progress"
    db.flush()
    from mash_hub.sharing.services import contact_rated  # sharing builds on contacts

    contact_rated(db, contact, principal)  # Green withdraws open requests at once
    return contact


def contact_by_reference(db: Session, reference: str) -> Contact | None:
    """The contact row (ciphertext only) with this reference; for break-glass lookups."""
    return db.scalar(
        select(Contact)
        .where(Contact.reference == reference.strip().upper())
        .options(lazyload(Contact.subjects), lazyload(Contact.ratings))  # the row alone
    )
