"""Amending a contact during screening: correcting a subject's details, adding a person
found by checks, adding a case note (usability review D8; #13).

Each is screening work on an open contact, decided by the firewall as `contact:rate`
(policies/mash_core.cedar, clause 3.3: screeners and MASH managers of the core agencies;
a closed contact is refused by the rules), and kept as an append-only `ContactAmendment`
with who, when and why, sealed like the rest of the contact. The contact as recorded is
never overwritten. Each also writes a `contact.amended` audit event.

Nothing here commits: the request owns the unit of work.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mash_hub import runtime
from mash_hub.audit.services import EventDraft, record
from mash_hub.authz.gate import Principal
from mash_hub.contacts import corrections
from mash_hub.contacts.hooks import hooks
from mash_hub.contacts.models import Contact, ContactAmendment, ContactSubject
from mash_hub.contacts.schemas import MAX_SUBJECTS, read_subject
from mash_hub.contacts.services import ContactNotFound
from mash_hub.errors import Conflict, NotFound
from mash_hub.firewall import records
from mash_hub.http.validation import ValidationFailed
from mash_hub.policy import Action

REASON_MAX = 2000
NOTE_MAX = 5000


class SubjectNotFound(NotFound):
    """No such person on this contact."""


class AmendedMeanwhile(Conflict):
    """Someone amended the contact after the caller last saw it, or at the same moment."""


def _text(
    value: str | None, field: str, max_length: int, missing: str, errors: dict[str, str]
) -> str:
    if value is not None and not isinstance(value, str):
        errors[field] = "must be text"
        return ""
    text = (value or "").strip()
    if not text:
        errors[field] = missing
    elif len(text) > max_length:
        errors[field] = f"must be {max_length} characters or fewer"
    elif "\x00" in text:
        errors[field] = "must not contain hidden characters"
    return text


def _details(body: Any, now: datetime, errors: dict[str, str], role: str | None = None) -> Any:
    try:
        return read_subject(body, now, role=role)
    except ValidationFailed as failed:
        errors.update(failed.fields)
        return None


def _open(
    db: Session, principal: Principal, contact_id: str, seen: int | None
) -> records.Opened[Contact]:
    opened = records.open(
        db, principal, Contact, contact_id, Action.CONTACT_RATE, missing=ContactNotFound
    )
    if seen is not None and len(opened.record.amendments) != seen:
        raise AmendedMeanwhile(opened.contact_id)
    return opened


def _append(
    db: Session,
    principal: Principal,
    opened: records.Opened[Contact],
    kind: str,
    payload: dict[str, Any],
    reason: str | None,
    subject_id: uuid.UUID | None,
) -> ContactAmendment:
    contact = opened.record
    last = db.scalar(
        select(func.max(ContactAmendment.sequence)).where(ContactAmendment.contact_id == contact.id)
    )
    amendment_id = uuid.uuid4()

    def sealed(column: str, text: str) -> bytes:
        return opened.seal(column, text, table="contact_amendments", row_id=amendment_id)

    amendment = ContactAmendment(
        id=amendment_id,
        contact_id=contact.id,
        sequence=(last or 0) + 1,
        kind=kind,
        subject_id=subject_id,
        payload_sealed=sealed("payload", json.dumps(payload)),
        reason_sealed=sealed("reason", reason) if reason is not None else None,
        made_at=runtime.now(),
        made_by=principal.id,
        made_by_agency=principal.agency,
    )
    db.add(amendment)
    try:
        db.flush()
    except IntegrityError as clash:
        raise AmendedMeanwhile(opened.contact_id) from clash
    db.expire(contact, ["amendments"])
    record(
        db,
        EventDraft(
            kind="contact.amended",
            actor_type=principal.kind,
            actor_id=principal.id,
            agency=principal.agency,
            roles=_roles(principal),
            action=Action.CONTACT_RATE.value,
            object_type="ContactAmendment",
            object_id=str(amendment_id),
            contact_id=opened.contact_id,
            decision="allow",
            # What was done, never what was written: the words stay sealed.
            reason=kind if subject_id is None else f"{kind} (subject {subject_id})",
        ),
    )
    return amendment


def _roles(principal: Principal) -> tuple[str, ...]:
    if principal.kind == "user":
        return tuple(sorted(r.value for r in principal.roles))
    return tuple(sorted(s.value for s in principal.scopes))


def correct_subject(
    db: Session,
    principal: Principal,
    contact_id: str,
    subject_id: str,
    details: Any,
    reason: str | None,
    *,
    seen: int | None = None,
) -> ContactAmendment:
    """Correct a subject's details (names, date of birth, address, identifiers).
    `details` holds the fields to change (the page sends them all; an agency system may
    send only those it corrects): the fields that then differ from the details as they
    stand now are kept as the new values. ValidationFailed for bad input (or nothing
    changed); SubjectNotFound; ContactNotFound (missing, refused, or closed);
    AmendedMeanwhile if `seen` amendments are no longer all there are."""
    now = runtime.now()
    errors: dict[str, str] = {}
    given: dict[str, Any] = {}
    if not isinstance(details, dict):
        errors["subject"] = "must be a JSON object"
    else:
        given = {k: v for k, v in details.items() if k in corrections.SUBJECT_FIELDS}
        # Each field given is checked before anything is opened, as intake checks it
        # (the names stand in for those not given).
        _details({"given_name": "-", "family_name": "-", **given}, now, errors, role="child")
    why = _text(reason, "reason", REASON_MAX, "Enter why the details are being corrected", errors)
    if errors:
        raise ValidationFailed(errors)
    opened = _open(db, principal, contact_id, seen)
    contact = opened.record
    subject = next((s for s in contact.subjects if str(s.id) == str(subject_id)), None)
    if subject is None:
        raise SubjectNotFound(str(subject_id))
    current = corrections.subject_document(
        subject, contact.amendments, lambda row, column: opened.text(column, row=row)
    )
    # The role stays the subject's own: a correction is of the details.
    data = _details({**current, **given}, now, errors, role=subject.role)
    if errors:
        raise ValidationFailed(errors)
    new = data.as_document()
    changes = {
        name: new.get(name)
        for name in corrections.SUBJECT_FIELDS
        if new.get(name) != current.get(name)
    }
    if not changes:
        raise ValidationFailed({"given_name": "Change at least one of the person's details"})
    amendment = _append(
        db, principal, opened, corrections.CORRECTED, {"changes": changes}, why, subject.id
    )
    _amended(db, opened, subject, {**current, **changes})
    return amendment


def add_subject(
    db: Session,
    principal: Principal,
    contact_id: str,
    details: Any,
    reason: str | None,
    *,
    seen: int | None = None,
) -> ContactAmendment:
    """Add a person found by checks (a sibling, a household member, an adult...) as a new
    subject of the contact, with their role and details."""
    now = runtime.now()
    errors: dict[str, str] = {}
    data = _details(details, now, errors)
    why = _text(reason, "reason", REASON_MAX, "Enter why this person is being added", errors)
    if errors:
        raise ValidationFailed(errors)
    opened = _open(db, principal, contact_id, seen)
    contact = opened.record
    if len(contact.subjects) >= MAX_SUBJECTS:
        raise ValidationFailed({"given_name": f"A contact can name {MAX_SUBJECTS} people at most"})
    document = data.as_document()
    subject_id = uuid.uuid4()
    subject = ContactSubject(
        id=subject_id,
        position=max((s.position for s in contact.subjects), default=-1) + 1,
        role=data.role,
        details_sealed=opened.seal(
            "details", json.dumps(document), table="contact_subjects", row_id=subject_id
        ),
    )
    contact.subjects.append(subject)
    db.flush()
    amendment = _append(
        db,
        principal,
        opened,
        corrections.ADDED,
        {"role": data.role, "details": document},
        why,
        subject_id,
    )
    _amended(db, opened, subject, document)
    return amendment


def add_note(
    db: Session, principal: Principal, contact_id: str, note: str | None
) -> ContactAmendment:
    """Add a case note: MASH staff's own, never released to a partner agency."""
    errors: dict[str, str] = {}
    text = _text(note, "note", NOTE_MAX, "Enter the case note", errors)
    if errors:
        raise ValidationFailed(errors)
    opened = _open(db, principal, contact_id, None)
    return _append(db, principal, opened, corrections.NOTE, {"note": text}, None, None)


def _amended(
    db: Session, opened: records.Opened[Contact], subject: ContactSubject, document: dict[str, Any]
) -> None:
    indexed = hooks().amended
    if indexed is not None:
        indexed(db, opened.access, opened.record, subject, document)
