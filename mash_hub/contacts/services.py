"""Recording contacts and reading them back through the firewall.

Nothing here commits: the request or command that calls it owns the unit of work.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from mash_hub import firewall, runtime
from mash_hub.authz.gate import Principal
from mash_hub.contacts import corrections
from mash_hub.contacts.equality import Equality
from mash_hub.contacts.hooks import StepUpRefused, hooks
from mash_hub.contacts.models import (
    RAG_RATINGS,
    Contact,
    ContactPresentingIssue,
    ContactRating,
    ContactSubject,
    ReferenceCounter,
)
from mash_hub.contacts.referrers import describe
from mash_hub.contacts.schemas import ContactInput
from mash_hub.deadlines import deadline_for
from mash_hub.errors import Conflict, NotFound
from mash_hub.firewall import records
from mash_hub.firewall.release import seal
from mash_hub.identity import services as identity
from mash_hub.identity.models import User
from mash_hub.policy import Action
from mash_hub.presenting_issues import in_list_order


class ContactNotFound(NotFound):
    """No such contact, or one on the other side of the caller's firewall: the same answer."""


class ContactDeleted(NotFound):
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
    # Optional equality information, released for the MASH's own views of the contact only.
    equality: Equality | None = None


@dataclass(frozen=True)
class RatingView:
    rag: str
    previous_rag: str | None
    rationale: str
    rated_at: datetime
    rated_by: str
    decision_due_at: datetime


@dataclass(frozen=True)
class AmendmentView:
    """One amendment made during screening, for the contact's history: who (by name, and
    their agency's code), when, what changed and why. A case note carries its text."""

    sequence: int
    kind: str
    made_at: datetime
    made_by: str
    made_by_id: str
    made_by_agency: str
    subject_id: str | None
    subject_name: str | None
    subject_role: str | None
    changes: tuple[corrections.Change, ...]
    note: str | None
    reason: str | None


class RatingRefused(ValueError):
    """The rating itself is not acceptable (the message says why)."""


class RatedMeanwhile(Conflict):
    """Someone rated the contact after the caller last saw its ratings."""


class ContactLeftScreening(Conflict):
    """The contact has an approved decision (or is closed): it can no longer be rated."""


@dataclass(frozen=True)
class ContactView:
    """A contact released to one principal, after a decision and its audit event."""

    id: str
    reference: str
    received_at: datetime
    source_agency: str  # the agency whose keys seal it
    source_label: str  # who made the contact, for a page
    referrer_type: str
    referrer_name: str | None  # None for an anonymous contact
    referrer_role: str | None
    referrer_profession: str | None
    referrer_organisation: str | None
    referrer_phone: str | None
    referrer_email: str | None
    concern: str
    consent_status: str
    consent_reason: str | None
    status: str
    rag: str | None
    decision_due_at: datetime | None
    subjects: tuple[SubjectView, ...]
    ratings: tuple[RatingView, ...]
    amendments: tuple[AmendmentView, ...]
    # The decided, audited read this view came from: the proof the page's other parts
    # (requests, people, disclosures) ask for instead of a bare contact id.
    access: firewall.Access = field(repr=False, compare=False)
    closed_at: datetime | None = None
    # Codes of the published list (mash_hub.presenting_issues), in list order.
    presenting_issues: tuple[str, ...] = ()
    # A step-up from a receiving service: the earlier contact's (id, reference).
    stepped_up_from: tuple[str, str] | None = None


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


def create_contact(db: Session, principal: Principal, data: ContactInput) -> Contact:
    contact_id = uuid.uuid4()
    cid = str(contact_id)
    access = firewall.require(
        principal, Action.CONTACT_CREATE, records.new_contact_resource(cid), contact_id=cid
    )
    # A referrer outside the hub's agencies: the contact is the recording agency's to seal.
    agency = identity.agency_by_code(db, data.referrer.agency or principal.agency)
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

    earlier: tuple[str, str] | None = None
    if data.stepped_up_from_referral is not None:
        step_up = hooks().stepped_up
        if step_up is None:
            raise StepUpRefused("this hub takes no step-ups")
        earlier = step_up(db, principal, data.stepped_up_from_referral)
    referrer = json.dumps(data.referrer.as_document())
    contact = Contact(
        id=contact_id,
        reference=next_reference(db, data.received_at.year),
        received_at=data.received_at,
        source_agency=agency,
        referrer_type=data.referrer.type,
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
        stepped_up_from_referral_id=(
            uuid.UUID(data.stepped_up_from_referral) if earlier is not None else None
        ),
        stepped_up_from_contact_id=uuid.UUID(earlier[0]) if earlier is not None else None,
        stepped_up_from_reference=earlier[1] if earlier is not None else None,
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
                equality_sealed=(
                    sealed(
                        "contact_subjects",
                        str(subject_id),
                        "equality",
                        json.dumps(subject.equality.as_document()),
                    )
                    if subject.equality is not None
                    else None
                ),
            )
        )
    for code in data.presenting_issues:
        contact.presenting_issues.append(ContactPresentingIssue(issue_code=code))
    db.add(contact)
    db.flush()
    hooks().created(db, access, contact)  # candidates for review; links nothing
    return contact


def get_contact_for(
    db: Session, principal: Principal, contact_id: str, *, page: bool = False
) -> ContactView:
    """The contact, released to this principal, or ContactNotFound (missing or refused).
    `page`: as the contact page opens it, a closed one read only (`contact:review`)."""
    if page:
        opened = records.open_contact(db, principal, contact_id, missing=ContactNotFound)
    else:
        opened = records.open(
            db, principal, Contact, contact_id, Action.CONTACT_READ, missing=ContactNotFound
        )
    contact = opened.record
    if contact.status == "deleted":
        raise ContactDeleted(opened.contact_id, contact.reference, contact.received_at)
    opened.preload_keys(db)
    referrer: dict[str, Any] = json.loads(opened.text("referrer"))
    # The subjects as they stand now: as recorded, with the corrections made since.
    documents, steps = corrections.replay(
        contact.subjects,
        contact.amendments,
        lambda row, column: opened.text(column, row=row),
        notes=True,
    )
    subjects = [
        subject_view(subject, documents[subject.id], equality=_equality(opened, subject))
        for subject in contact.subjects
    ]
    ratings = tuple(
        RatingView(
            rag=rating.rag,
            previous_rag=rating.previous_rag,
            rationale=opened.text("rationale", row=rating),
            rated_at=rating.rated_at,
            rated_by=rating.rated_by,
            decision_due_at=rating.decision_due_at,
        )
        for rating in contact.ratings
    )
    return ContactView(
        id=opened.contact_id,
        reference=contact.reference,
        received_at=contact.received_at,
        source_agency=opened.agency,
        source_label=describe(
            contact.referrer_type,
            opened.agency,
            referrer.get("profession"),
            referrer.get("organisation"),
            sentence=True,
        ),
        referrer_type=contact.referrer_type,
        referrer_name=referrer.get("name"),
        referrer_role=referrer.get("role"),
        referrer_profession=referrer.get("profession"),
        referrer_organisation=referrer.get("organisation"),
        referrer_phone=referrer.get("phone"),
        referrer_email=referrer.get("email"),
        concern=opened.text("concern"),
        consent_status=contact.consent_status,
        consent_reason=(
            opened.text("consent_reason") if contact.consent_reason_sealed is not None else None
        ),
        status=contact.status,
        closed_at=contact.closed_at,
        rag=contact.rag,
        decision_due_at=contact.decision_due_at,
        subjects=tuple(subjects),
        ratings=ratings,
        amendments=_amendment_views(db, contact, steps),
        access=opened.access,
        presenting_issues=in_list_order([row.issue_code for row in contact.presenting_issues]),
        stepped_up_from=(
            (str(contact.stepped_up_from_contact_id), contact.stepped_up_from_reference or "")
            if contact.stepped_up_from_contact_id is not None
            else None
        ),
    )


def _equality(opened: records.Opened[Contact], subject: ContactSubject) -> Equality | None:
    """A subject's equality information, released under the contact's own read."""
    if subject.equality_sealed is None:
        return None
    return Equality.from_document(json.loads(opened.text("equality", row=subject)))


def subject_view(
    subject: ContactSubject, details: dict[str, Any], *, equality: Equality | None = None
) -> SubjectView:
    born = details.get("date_of_birth")
    return SubjectView(
        id=str(subject.id),
        role=subject.role,
        given_name=details["given_name"],
        family_name=details["family_name"],
        date_of_birth=date.fromisoformat(born) if born else None,
        address=details.get("address"),
        nhs_number=details.get("nhs_number"),
        upn=details.get("upn"),
        equality=equality,
    )


def _shown(field: str, value: Any) -> Any:
    """A changed value as the history shows it: a date of birth as a date."""
    if field == "date_of_birth" and isinstance(value, str):
        return date.fromisoformat(value)
    return value


def _amendment_views(
    db: Session, contact: Contact, steps: list[corrections.Step]
) -> tuple[AmendmentView, ...]:
    if not steps:
        return ()
    names = actor_names(db, [step.amendment.made_by for step in steps])
    roles = {subject.id: subject.role for subject in contact.subjects}
    return tuple(
        AmendmentView(
            sequence=step.amendment.sequence,
            kind=step.amendment.kind,
            made_at=step.amendment.made_at,
            made_by=names.get(step.amendment.made_by, step.amendment.made_by),
            made_by_id=step.amendment.made_by,
            made_by_agency=step.amendment.made_by_agency,
            subject_id=str(step.subject_id) if step.subject_id else None,
            subject_name=(
                f"{step.subject['given_name']} {step.subject['family_name']}"
                if step.subject is not None
                else None
            ),
            subject_role=roles.get(step.subject_id) if step.subject_id else None,
            changes=tuple(
                corrections.Change(c.field, _shown(c.field, c.before), _shown(c.field, c.after))
                for c in step.changes
            ),
            note=step.note,
            reason=step.reason,
        )
        for step in steps
    )


def actor_names(db: Session, actor_ids: list[str]) -> dict[str, str]:
    """People's names for user ids recorded as actors (an agency system keeps its id)."""
    users = []
    for actor in set(actor_ids):
        try:
            users.append(uuid.UUID(actor))
        except ValueError:
            continue
    if not users:
        return {}
    rows = db.execute(select(User.id, User.display_name).where(User.id.in_(users)))
    return {str(ident): name for ident, name in rows}


def rate_contact(
    db: Session,
    principal: Principal,
    contact_id: str,
    rag: str,
    rationale: str,
    *,
    ratings_seen: int | None = None,
) -> Contact:
    """Rate (or re-rate) a contact. The rating joins the history, which is never edited,
    and the decision deadline is worked out afresh from the time the contact came in.
    `ratings_seen`: how many ratings the caller saw; RatedMeanwhile if there are more."""
    if rag not in RAG_RATINGS:
        raise RatingRefused("rag must be red, amber or green")
    rationale = rationale.strip()
    if not rationale:
        raise RatingRefused("give the reason for this rating")
    opened = records.open(
        db, principal, Contact, contact_id, Action.CONTACT_RATE, missing=ContactNotFound
    )
    contact, cid = opened.record, opened.contact_id
    if contact.status not in ("awaiting_screening", "in_progress"):
        raise ContactLeftScreening(cid)
    if ratings_seen is not None and len(contact.ratings) != ratings_seen:
        raise RatedMeanwhile(cid)
    settings = runtime.settings()
    due = deadline_for(
        rag,
        contact.received_at,
        settings.timescales,
        runtime.calendar(),
        settings.calendar.red_counts_outside_working_hours,
    )
    rating_id = uuid.uuid4()
    rating = ContactRating(
        id=rating_id,
        contact_id=contact.id,
        rag=rag,
        previous_rag=contact.rag,
        rationale_sealed=opened.seal(
            "rationale", rationale, table="contact_ratings", row_id=rating_id
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
    # Every rating moves the contact's version, the same one again included: a rating
    # racing another (a network retry) then fails its version check instead of joining
    # the history twice.
    flag_modified(contact, "rag")
    db.flush()
    hooks().rated(db, contact, principal)  # Green withdraws open requests at once
    return contact
