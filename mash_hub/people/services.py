"""The person register: candidates on intake, links, new persons, merges and warnings.

Person details are read only under an `Access` the firewall has decided and audited: the
register is always reached from a contact (intake, the contact page, a merge proposed from
a contact), and the access to that contact is what lets the principal see the persons
suggested for it. Changes (link, new person, merge) are decided as screening actions on
that contact, and each leaves an audit event of its own naming the person.

Nothing here links or merges anyone by itself: candidates are suggestions, a link is a
screener's choice, a merge is a manager's approval of a screener's proposal.

Nothing here commits: the request or command that calls it owns the unit of work.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from mash_hub import runtime
from mash_hub.audit.services import EventDraft, record, record_many
from mash_hub.authz.gate import Principal
from mash_hub.contacts import corrections, matching
from mash_hub.contacts.models import Contact, ContactSubject
from mash_hub.crypto.sealing import purpose_key
from mash_hub.errors import NotFound
from mash_hub.firewall import duties, records
from mash_hub.firewall.decisions import Access, require
from mash_hub.firewall.release import (
    release_for_person,
    seal_for_person,
)
from mash_hub.http.times import api_time
from mash_hub.people.models import (
    Person,
    PersonCandidate,
    PersonKey,
    PersonMerge,
    PossibleRepeat,
    SubjectKey,
)
from mash_hub.policy import Action

# The register is the MASH's, held under the key of its lead agency (see models.py).
_KEY_HASH_PURPOSE: Final = "mash-hub/person-blocking-keys"
_KEY_HASH_BYTES: Final = 16
# Most persons scored per subject: those sharing the most blocking keys come first.
MAX_SCORED: Final = 50
# Most candidates kept per subject for review.
MAX_KEPT: Final = 5
_POSTCODE: Final = re.compile(r"\b([A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2})\b")


class PersonNotFound(NotFound):
    """No such person, subject, contact or merge; or one the caller may not see."""


class PersonChangeRefused(ValueError):
    """The change is not possible as asked (the message says why, for the screener)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


# ----------------------------------------------------------------------- details


@dataclass(frozen=True)
class PersonDetails:
    id: str
    given_name: str
    family_name: str
    date_of_birth: date | None
    address: str | None
    nhs_number: str | None
    upn: str | None

    @classmethod
    def from_document(cls, person_id: str, document: dict[str, Any]) -> PersonDetails:
        born = document.get("date_of_birth")
        return cls(
            id=person_id,
            given_name=document.get("given_name") or "",
            family_name=document.get("family_name") or "",
            date_of_birth=date.fromisoformat(born) if born else None,
            address=document.get("address"),
            nhs_number=document.get("nhs_number"),
            upn=document.get("upn"),
        )

    def record(self) -> matching.PersonRecord:
        return person_record(
            self.id,
            self.given_name,
            self.family_name,
            self.date_of_birth,
            self.address,
            self.nhs_number,
        )

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


def postcode_in(address: str | None) -> str | None:
    """The last UK postcode written in an address line, if any."""
    if not address:
        return None
    found = _POSTCODE.findall(address[:500])
    return found[-1] if found else None


def person_record(
    person_id: str,
    given_name: str,
    family_name: str,
    date_of_birth: date | None,
    address: str | None,
    nhs_number: str | None,
) -> matching.PersonRecord:
    return matching.PersonRecord(
        id=person_id,
        given_name=given_name,
        family_name=family_name,
        date_of_birth=date_of_birth,
        address=address,
        postcode=postcode_in(address),
        nhs_number=nhs_number,
    )


_hash_keys: dict[bytes, bytes] = {}


def _hash_key() -> bytes:
    master = runtime.master_key()
    known = _hash_keys.get(master)
    if known is None:
        known = purpose_key(master, _KEY_HASH_PURPOSE)
        _hash_keys.clear()
        _hash_keys[master] = known
    return known


def hashed_keys(record: matching.PersonRecord, hash_key: bytes | None = None) -> list[bytes]:
    """The person's blocking keys as keyed hashes: what `person_keys` stores and is searched
    by. The key is derived from the master key, so the index alone reveals nothing."""
    secret = _hash_key() if hash_key is None else hash_key
    return sorted(
        hmac.new(secret, key.encode(), hashlib.sha256).digest()[:_KEY_HASH_BYTES]
        for key in matching.blocking_keys(record)
    )


def _seal_person(
    db: Session, access: Access, person_id: uuid.UUID, document: dict[str, Any]
) -> bytes:
    return seal_for_person(
        access,
        person_id=str(person_id),
        table="persons",
        row_id=str(person_id),
        column="details",
        text=json.dumps(document),
    )


def open_person(db: Session, access: Access, person: Person) -> PersonDetails:
    """A person's details, under an allowed and audited access."""
    text = release_for_person(
        access,
        person_id=str(person.id),
        table="persons",
        row_id=str(person.id),
        column="details",
        envelope=person.details_sealed,
    )
    return PersonDetails.from_document(str(person.id), json.loads(text))


def _subject_document(
    db: Session, access: Access, contact: Contact, subject: ContactSubject
) -> dict[str, Any]:
    """The subject's details as they stand now: as recorded, corrected since."""
    agency = contact.source_agency.code
    return corrections.subject_document(
        subject,
        contact.amendments,
        lambda row, column: records.text_of(access, row, column, agency=agency),
    )


# ------------------------------------------------------------------------- search


def _survivor(db: Session, person_id: uuid.UUID) -> uuid.UUID:
    """Follow approved merges to the person that now stands for this one."""
    seen: set[uuid.UUID] = set()
    current = person_id
    while current not in seen:
        seen.add(current)
        onward = db.scalar(select(Person.merged_into_id).where(Person.id == current))
        if onward is None:
            return current
        current = onward
    return current


def find_person_ids(
    db: Session,
    record: matching.PersonRecord,
    limit: int = MAX_SCORED,
    hash_key: bytes | None = None,
) -> list[uuid.UUID]:
    """Ids of the persons sharing blocking keys with `record`, most shared keys first:
    one indexed query. Merged persons stand for their survivors."""
    wanted = hashed_keys(record, hash_key)
    if not wanted:
        return []
    hits = func.count().label("hits")
    rows = db.execute(
        select(PersonKey.person_id, hits)
        .where(PersonKey.key.in_(wanted))
        .group_by(PersonKey.person_id)
        .order_by(hits.desc(), PersonKey.person_id)
        .limit(limit)
    ).all()
    ids = [row[0] for row in rows]
    merged = (
        set(
            db.scalars(
                select(Person.id).where(Person.id.in_(ids), Person.merged_into_id.is_not(None))
            ).all()
        )
        if ids
        else set()
    )
    found: list[uuid.UUID] = []
    for person_id in ids:
        survivor = _survivor(db, person_id) if person_id in merged else person_id
        if survivor not in found:
            found.append(survivor)
    return found


@dataclass(frozen=True)
class Suggestion:
    person_id: uuid.UUID
    score: float
    reasons: tuple[str, ...]


def search(db: Session, access: Access, record: matching.PersonRecord) -> list[Suggestion]:
    """Candidates for `record`: index lookup, then open and score the few found."""
    found = find_person_ids(db, record)
    persons = records.persons(db, access, found)
    scored: list[Suggestion] = []
    for person in persons:
        details = open_person(db, access, person)
        result = matching.score(details.record(), record)
        if result.value >= matching.DEFAULT_THRESHOLD:
            scored.append(Suggestion(person.id, result.value, result.reasons))
    scored.sort(key=lambda s: (not _confirmed(s.reasons), -s.score, str(s.person_id)))
    return scored[:MAX_KEPT]


def _confirmed(reasons: Iterable[str]) -> bool:
    """An exact NHS number whose date of birth agrees too: shown first, still unconfirmed
    until a screener links it."""
    found = set(reasons)
    return "nhs_number" in found and "dob" in found


def suggest_for_contact(db: Session, access: Access, contact: Contact) -> int:
    """On intake: store the candidates of every subject for review, index the subjects'
    identity keys and note every possible repeat contact at once. Returns how many
    candidates."""
    now = runtime.now()
    stored = 0
    repeats: dict[tuple[uuid.UUID, uuid.UUID, str], PossibleRepeat] = {}
    for subject in contact.subjects:
        document = _subject_document(db, access, contact, subject)
        stored += _index_subject(db, access, contact, subject, document, now, repeats)
    db.add_all(repeats.values())
    db.flush()
    return stored


def subject_amended(
    db: Session, access: Access, contact: Contact, subject: ContactSubject, document: dict[str, Any]
) -> int:
    """A subject corrected or added during screening: index their details as they now
    stand, as intake does, so a later contact naming them warns, and this contact shows
    what the corrected details match. The keys of the details replaced go; candidates and
    possible repeats already found (and what screeners made of them) stay."""
    db.execute(delete(SubjectKey).where(SubjectKey.subject_id == subject.id))
    repeats: dict[tuple[uuid.UUID, uuid.UUID, str], PossibleRepeat] = {}
    known_candidates = set(
        db.scalars(
            select(PersonCandidate.person_id).where(PersonCandidate.subject_id == subject.id)
        )
    )
    known_repeats = {
        (subject.id, earlier, basis)
        for earlier, basis in db.execute(
            select(PossibleRepeat.earlier_contact_id, PossibleRepeat.basis).where(
                PossibleRepeat.subject_id == subject.id
            )
        )
    }
    stored = _index_subject(
        db, access, contact, subject, document, runtime.now(), repeats, known_candidates
    )
    db.add_all(row for key, row in repeats.items() if key not in known_repeats)
    db.flush()
    return stored


def _index_subject(
    db: Session,
    access: Access,
    contact: Contact,
    subject: ContactSubject,
    document: dict[str, Any],
    now: datetime,
    repeats: dict[tuple[uuid.UUID, uuid.UUID, str], PossibleRepeat],
    known_candidates: set[uuid.UUID] | frozenset[uuid.UUID] = frozenset(),
) -> int:
    """Store one subject's register candidates (besides those known), add their identity
    keys, and note in `repeats` the earlier contacts they seem to be named in."""
    threshold = runtime.settings().screening.repeat_match_percent / 100
    stored = 0
    details = PersonDetails.from_document(str(subject.id), document)
    record = details.record()
    for suggestion in search(db, access, record):
        if suggestion.person_id not in known_candidates:
            db.add(
                PersonCandidate(
                    subject_id=subject.id,
                    person_id=suggestion.person_id,
                    score=suggestion.score,
                    reasons=" ".join(suggestion.reasons)[:400],
                    created_at=now,
                )
            )
            stored += 1
        if suggestion.score >= threshold:
            for earlier, role in _contacts_naming(db, suggestion.person_id, contact.id):
                repeats.setdefault(
                    (subject.id, earlier, "register"),
                    PossibleRepeat(
                        contact_id=contact.id,
                        subject_id=subject.id,
                        earlier_contact_id=earlier,
                        basis="register",
                        score=suggestion.score,
                        earlier_role=role,
                        created_at=now,
                    ),
                )
    keys = _identity_hashes(record, details.upn)
    if keys:
        found = db.execute(
            select(SubjectKey.contact_id, SubjectKey.kind, SubjectKey.role).where(
                SubjectKey.key.in_(list(keys)), SubjectKey.contact_id != contact.id
            )
        ).all()
        for earlier, kind, role in found:
            basis = BASIS_OF_KIND[kind]
            repeats.setdefault(
                (subject.id, earlier, basis),
                PossibleRepeat(
                    contact_id=contact.id,
                    subject_id=subject.id,
                    earlier_contact_id=earlier,
                    basis=basis,
                    earlier_role=role,
                    created_at=now,
                ),
            )
        db.add_all(
            SubjectKey(
                key=key, subject_id=subject.id, contact_id=contact.id, kind=kind,
                role=subject.role,
            )
            for key, kind in keys.items()
        )  # fmt: skip
    return stored


BASIS_OF_KIND: Final = {
    "nhs": "nhs_number",
    "upn": "upn",
    "name_dob": "name_and_birth",
    "address": "address",
}


def _identity_hashes(record: matching.PersonRecord, upn: str | None) -> dict[bytes, str]:
    """The subject's exact identity keys as keyed hashes, with each one's kind."""
    secret = _hash_key()
    return {
        hmac.new(secret, key.encode(), hashlib.sha256).digest()[:_KEY_HASH_BYTES]: key.split(
            ":", 1
        )[0]
        for key in matching.identity_keys(record, upn)
    }


def _contacts_naming(
    db: Session, person_id: uuid.UUID, besides: uuid.UUID
) -> list[tuple[uuid.UUID, str]]:
    """(contact id, subject role) of the other contacts whose subjects are linked to this
    person or anyone merged with them."""
    persons = _persons_standing_for(db, _survivor(db, person_id))
    return [
        (row[0], row[1])
        for row in db.execute(
            select(ContactSubject.contact_id, ContactSubject.role)
            .where(ContactSubject.person_id.in_(persons), ContactSubject.contact_id != besides)
            .distinct()
        )
    ]


# ------------------------------------------------------------------ contact context


def _contact(
    db: Session,
    principal: Principal,
    contact_id: str | uuid.UUID,
    action: Action,
    *,
    reuse: bool = False,
) -> tuple[Contact, Access]:
    """The contact and an allowed, audited access to it; PersonNotFound otherwise (as if
    missing, for the other side of the firewall)."""
    opened = records.open(
        db, principal, Contact, contact_id, action, missing=PersonNotFound, reuse=reuse
    )
    return opened.record, opened.access


def _audit(
    db: Session,
    principal: Principal,
    kind: str,
    action: str,
    person_id: uuid.UUID | str,
    contact_id: uuid.UUID | str | None,
    reason: str,
) -> None:
    record(db, _draft(principal, kind, action, person_id, contact_id, reason))


def _draft(
    principal: Principal,
    kind: str,
    action: str,
    person_id: uuid.UUID | str,
    contact_id: uuid.UUID | str | None,
    reason: str,
) -> EventDraft:
    return EventDraft(
        kind=kind,
        actor_type=principal.kind,
        actor_id=principal.id,
        agency=principal.agency,
        roles=tuple(sorted(r.value for r in principal.roles)),
        action=action,
        object_type="Person",
        object_id=str(person_id),
        contact_id=str(contact_id) if contact_id is not None else None,
        decision="allow",
        reason=reason,
    )


def _audit_read(
    db: Session, principal: Principal, person_id: uuid.UUID, contact_id: uuid.UUID
) -> None:
    """Which register records were shown, beside the firewall's decision on the contact."""
    _audit(db, principal, "person.read", "person:read", person_id, contact_id, "details shown")


@dataclass(frozen=True)
class CandidateView:
    person: PersonDetails
    score: float
    reasons: tuple[str, ...]
    confirmed_identifier: bool


@dataclass(frozen=True)
class SubjectPeople:
    subject_id: str
    name: str
    role: str
    linked: PersonDetails | None
    candidates: tuple[CandidateView, ...]


@dataclass(frozen=True)
class EarlierContact:
    contact_id: str
    reference: str
    received_at: datetime
    rag: str | None
    status: str
    closed_at: datetime | None
    in_window: bool


@dataclass(frozen=True)
class RepeatWarning:
    person_id: str
    subject_name: str
    chronology: tuple[EarlierContact, ...]  # every earlier contact, oldest first

    @property
    def triggers(self) -> tuple[EarlierContact, ...]:
        return tuple(c for c in self.chronology if c.in_window)


@dataclass(frozen=True)
class PossibleWarning:
    """A possible repeat contact found on intake, not yet confirmed by a link."""

    id: str
    subject_id: str
    subject_name: str
    subject_role: str
    basis: str  # REPEAT_BASES
    score: float | None
    earlier_role: str | None
    earlier: EarlierContact

    @property
    def why(self) -> str:
        """The basis in a screener's words ("The same NHS number")."""
        return BASIS_WORDS[self.basis]


BASIS_WORDS: Final = {
    "nhs_number": "The same NHS number",
    "upn": "The same unique pupil number",
    "register": "A close match in the person register",
    "name_and_birth": "The same name and date of birth",
    "address": "The same home address",
}


@dataclass(frozen=True)
class ContactPeople:
    contact_id: str
    reference: str
    subjects: tuple[SubjectPeople, ...]
    warnings: tuple[RepeatWarning, ...]
    possible: tuple[PossibleWarning, ...] = ()


def people_for_contact(db: Session, principal: Principal, contact_id: str) -> ContactPeople:
    """The register's view of one contact: each subject's linked person or candidates,
    and the repeat-contact warnings. Reading person details is a decided, audited read:
    the contact page's own decision when shown on it, else a decision of its own."""
    contact, access = _contact(db, principal, contact_id, Action.CONTACT_READ, reuse=True)
    subjects = []
    opened: dict[uuid.UUID, PersonDetails] = {}
    shown_persons: list[uuid.UUID] = []

    # Every unlinked subject's candidates in one query, best first for each subject.
    suggested: dict[uuid.UUID, list[PersonCandidate]] = {
        s.id: [] for s in contact.subjects if s.person_id is None
    }
    if suggested:
        for candidate in db.scalars(
            select(PersonCandidate)
            .where(PersonCandidate.subject_id.in_(list(suggested)))
            .order_by(PersonCandidate.score.desc())
        ):
            suggested[candidate.subject_id].append(candidate)
    survivors = _survivors(db, {c.person_id for rows in suggested.values() for c in rows})
    # The persons the page may show (linked, or candidates' survivors) and their keys,
    # read together rather than one by one.
    wanted = {s.person_id for s in contact.subjects if s.person_id is not None}
    wanted.update(survivors.values())
    persons = {p.id: p for p in records.persons(db, access, wanted)}

    def details_of(person_id: uuid.UUID) -> PersonDetails:
        if person_id not in opened:
            person = persons.get(person_id) or records.person(db, access, person_id)
            if person is None:  # pragma: no cover - foreign key
                raise PersonNotFound(str(person_id))
            opened[person_id] = open_person(db, access, person)
            shown_persons.append(person_id)
        return opened[person_id]

    for subject in contact.subjects:
        document = _subject_document(db, access, contact, subject)
        linked = details_of(subject.person_id) if subject.person_id is not None else None
        candidates = []
        if linked is None:
            rows = suggested.get(subject.id, [])
            shown: set[uuid.UUID] = set()
            for row in rows:
                person_id = survivors[row.person_id]
                if person_id in shown:
                    continue
                shown.add(person_id)
                reasons = tuple(row.reasons.split())
                candidates.append(
                    CandidateView(details_of(person_id), row.score, reasons, _confirmed(reasons))
                )
            candidates.sort(key=lambda c: (not c.confirmed_identifier, -c.score))
        subjects.append(
            SubjectPeople(
                subject_id=str(subject.id),
                name=f"{document.get('given_name', '')} {document.get('family_name', '')}".strip(),
                role=subject.role,
                linked=linked,
                candidates=tuple(candidates),
            )
        )
    # Which register records were shown, in the order they were opened: one insert.
    record_many(
        db,
        [
            _draft(principal, "person.read", "person:read", person, contact.id, "details shown")
            for person in shown_persons
        ],
    )
    repeats = _possible_rows(db, contact)
    warnings, seen = _warnings(
        db,
        principal,
        contact,
        {s.id: s for s in contact.subjects},
        subjects,
        frozenset(r.earlier_contact_id for r in repeats),
    )
    possible = _possible_warnings(repeats, seen, subjects, warnings)
    _audit_warnings(db, principal, contact, warnings, possible)
    return ContactPeople(
        str(contact.id), contact.reference, tuple(subjects), tuple(warnings), tuple(possible)
    )


# ------------------------------------------------------------------ link and create


def _subject(contact: Contact, subject_id: str) -> ContactSubject:
    for subject in contact.subjects:
        if str(subject.id) == subject_id:
            return subject
    raise PersonNotFound(subject_id)


def _active_person(db: Session, access: Access, person_id: str, field: str) -> Person:
    person = records.person(db, access, person_id)
    if person is None:
        raise PersonChangeRefused("Choose a person from the list", field)
    if person.merged_into_id is not None:
        raise PersonChangeRefused("That person has been merged into another: choose again", field)
    return person


def _known_to_contact(db: Session, contact: Contact, person_id: uuid.UUID) -> bool:
    """Whether the person is linked to, or suggested for, a subject of this contact: the
    only persons a screener reaches from it (no browsing the register by id)."""
    subject_ids = [s.id for s in contact.subjects]
    if any(s.person_id == person_id for s in contact.subjects):
        return True
    suggested = db.scalars(
        select(PersonCandidate.person_id).where(PersonCandidate.subject_id.in_(subject_ids))
    ).all()
    return any(_survivor(db, p) == person_id for p in suggested)


def link_subject(
    db: Session, principal: Principal, contact_id: str, subject_id: str, person_id: str
) -> Person:
    """Link a subject to one of their candidates (chosen by a screener)."""
    contact, access = _contact(db, principal, contact_id, Action.CONTACT_RATE)
    subject = _subject(contact, subject_id)
    if subject.person_id is not None:
        raise PersonChangeRefused("This person is already linked", "person_id")
    person = _active_person(db, access, person_id, "person_id")
    if not _known_to_contact(db, contact, person.id):
        raise PersonChangeRefused("Choose a person from the list", "person_id")
    subject.person_id = person.id
    db.flush()
    _audit(
        db,
        principal,
        "person.linked",
        "person:link",
        person.id,
        contact.id,
        f"subject {subject.id} linked",
    )
    return person


def create_person_for_subject(
    db: Session, principal: Principal, contact_id: str, subject_id: str
) -> Person:
    """Add the subject to the register as a new person and link them."""
    contact, access = _contact(db, principal, contact_id, Action.CONTACT_RATE)
    subject = _subject(contact, subject_id)
    if subject.person_id is not None:
        raise PersonChangeRefused("This person is already linked", "subject_id")
    document = _subject_document(db, access, contact, subject)
    person = add_person(db, access, document, principal.id)
    subject.person_id = person.id
    db.flush()
    _audit(
        db,
        principal,
        "person.created",
        "person:create",
        person.id,
        contact.id,
        f"new person from subject {subject.id}",
    )
    return person


def add_person(db: Session, access: Access, document: dict[str, Any], created_by: str) -> Person:
    """A new person in the register, sealed under their own key, with their search keys."""
    person_id = uuid.uuid4()
    details = PersonDetails.from_document(str(person_id), document)
    person = Person(
        id=person_id,
        details_sealed=_seal_person(
            db,
            access,
            person_id,
            {
                "given_name": details.given_name,
                "family_name": details.family_name,
                "date_of_birth": details.date_of_birth.isoformat()
                if details.date_of_birth
                else None,
                "address": details.address,
                "nhs_number": details.nhs_number,
                "upn": details.upn,
            },
        ),
        created_at=runtime.now(),
        created_by=created_by,
    )
    db.add(person)
    db.flush()
    db.add_all(PersonKey(key=k, person_id=person_id) for k in hashed_keys(details.record()))
    db.flush()
    return person


# ------------------------------------------------------------------------- merges


def propose_merge(
    db: Session,
    principal: Principal,
    contact_id: str,
    survivor_id: str,
    merged_id: str,
    reason: str,
) -> PersonMerge:
    """A screener proposes that two persons reached from this contact are one."""
    reason = reason.strip()
    contact, access = _contact(db, principal, contact_id, Action.CONTACT_RATE)
    survivor = _active_person(db, access, survivor_id, "survivor_id")
    merged = _active_person(db, access, merged_id, "merged_id")
    if survivor.id == merged.id:
        raise PersonChangeRefused("Choose two different people", "merged_id")
    for person in (survivor, merged):
        if not _known_to_contact(db, contact, person.id):
            raise PersonChangeRefused("Choose a person from the list", "survivor_id")
    pending = db.scalar(
        select(PersonMerge.id).where(
            PersonMerge.status == "proposed",
            PersonMerge.survivor_id.in_([survivor.id, merged.id]),
            PersonMerge.merged_id.in_([survivor.id, merged.id]),
        )
    )
    if pending is not None:
        raise PersonChangeRefused(
            "A merge of these two people is already waiting for approval", "merged_id"
        )
    merge_id = uuid.uuid4()
    merge = PersonMerge(
        id=merge_id,
        survivor_id=survivor.id,
        merged_id=merged.id,
        contact_id=contact.id,
        status="proposed",
        reason_sealed=seal_for_person(
            access,
            person_id=str(survivor.id),
            table="person_merges",
            row_id=str(merge_id),
            column="reason",
            text=reason,
        ),
        proposed_by=principal.id,
        proposed_at=runtime.now(),
    )
    db.add(merge)
    db.flush()
    _audit(
        db,
        principal,
        "person.merge_proposed",
        "person:merge",
        merged.id,
        contact.id,
        f"merge {merge_id} into {survivor.id} proposed",
    )
    return merge


@dataclass(frozen=True)
class MergeView:
    id: str
    status: str
    contact_id: str
    contact_reference: str
    survivor: PersonDetails
    merged: PersonDetails
    reason: str
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    undone_at: datetime | None
    conflicts: tuple[str, ...] = ()
    override_reason: str | None = None


def merge_conflicts(
    contact: Contact, survivor: PersonDetails, merged: PersonDetails
) -> tuple[str, ...]:
    """What says two records are not one person, in plain English: dates of birth that
    differ, or different roles on the contact the merge comes from (usability review D7:
    a mother, born 1990, was merged into her daughter, born 2016, without a word)."""
    found = []
    born = (survivor.date_of_birth, merged.date_of_birth)
    if born[0] is not None and born[1] is not None and born[0] != born[1]:
        found.append(f"They have different dates of birth: {_day(born[0])} and {_day(born[1])}.")
    roles = [
        {s.role for s in contact.subjects if str(s.person_id) == person.id}
        for person in (survivor, merged)
    ]
    if roles[0] and roles[1] and roles[0].isdisjoint(roles[1]):
        found.append(
            f"On {contact.reference} {survivor.name} is recorded as "
            f"{' and '.join(sorted(roles[0]))}, and {merged.name} as "
            f"{' and '.join(sorted(roles[1]))}."
        )
    return tuple(found)


def _day(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def _merge(
    db: Session, principal: Principal, merge_id: str, action: Action
) -> tuple[PersonMerge, Access]:
    """The merge, opened for `action` on the contact it was proposed from; PersonNotFound
    for a missing merge and a refused one alike."""
    opened = records.open(db, principal, PersonMerge, merge_id, action, missing=PersonNotFound)
    return opened.record, opened.access


def _pair(db: Session, access: Access, merge: PersonMerge) -> tuple[Person, Person]:
    survivor = records.person(db, access, merge.survivor_id)
    merged = records.person(db, access, merge.merged_id)
    assert survivor is not None and merged is not None  # noqa: S101 - foreign keys
    return survivor, merged


def merges_waiting(db: Session, principal: Principal) -> Sequence[PersonMerge]:
    """Proposed merges, oldest first, and approved ones (which may be undone): ids only;
    each is decided when opened."""
    return db.scalars(
        records.scope(principal, PersonMerge, Action.CONTACT_DECIDE)
        .where(PersonMerge.status.in_(["proposed", "approved"]))
        .order_by(PersonMerge.proposed_at, PersonMerge.id)
    ).all()


def show_merge(db: Session, principal: Principal, merge_id: str) -> MergeView:
    """Both persons of a merge, released for the contact the merge was proposed from."""
    merge, access = _merge(db, principal, merge_id, Action.CONTACT_READ)
    contact = records.reopen(db, principal, access).record
    survivor, merged = _pair(db, access, merge)
    reason = release_for_person(
        access,
        person_id=str(survivor.id),
        table="person_merges",
        row_id=str(merge.id),
        column="reason",
        envelope=merge.reason_sealed,
    )
    for person in (survivor, merged):
        _audit_read(db, principal, person.id, contact.id)
    survivor_details, merged_details = (
        open_person(db, access, survivor),
        open_person(db, access, merged),
    )
    override = None
    if merge.override_reason_sealed is not None:
        override = release_for_person(
            access,
            person_id=str(survivor.id),
            table="person_merges",
            row_id=str(merge.id),
            column="override_reason",
            envelope=merge.override_reason_sealed,
        )
    return MergeView(
        id=str(merge.id),
        status=merge.status,
        contact_id=str(contact.id),
        contact_reference=contact.reference,
        survivor=survivor_details,
        merged=merged_details,
        reason=reason,
        proposed_by=merge.proposed_by,
        proposed_at=merge.proposed_at,
        decided_by=merge.decided_by,
        decided_at=merge.decided_at,
        undone_at=merge.undone_at,
        conflicts=merge_conflicts(contact, survivor_details, merged_details),
        override_reason=override,
    )


def decide_merge(
    db: Session,
    principal: Principal,
    merge_id: str,
    approve: bool,
    override_reason: str = "",
) -> PersonMerge:
    """A MASH manager approves or rejects a proposed merge (the firewall's contact:decide,
    which only managers hold). Approval folds the merged person into the survivor and moves
    their linked subjects, recording which, so the merge can be undone. Two records that
    conflict (`merge_conflicts`) are merged only with the manager's reason, kept sealed."""
    merge, access = _merge(db, principal, merge_id, Action.CONTACT_DECIDE)
    if merge.status != "proposed":
        raise PersonChangeRefused(f"This merge has already been {merge.status}")
    if merge.proposed_by == principal.id:
        raise PersonChangeRefused("Someone other than the proposer must decide a merge")
    now = runtime.now()
    if approve:
        survivor, merged = _pair(db, access, merge)
        if survivor.merged_into_id is not None or merged.merged_into_id is not None:
            raise PersonChangeRefused("One of these people has been merged since: reject this")
        # What the check compares is read as the review page reads it (contact:read).
        _, reading = _merge(db, principal, merge_id, Action.CONTACT_READ)
        contact = records.reopen(db, principal, reading).record
        conflicts = merge_conflicts(
            contact, open_person(db, reading, survivor), open_person(db, reading, merged)
        )
        override_reason = override_reason.strip()
        if conflicts and not override_reason:
            raise PersonChangeRefused(
                "These records conflict: say why they are the same person to approve the "
                "merge, or reject it",
                "override_reason",
            )
        if conflicts:
            merge.override_reason_sealed = seal_for_person(
                access,
                person_id=str(survivor.id),
                table="person_merges",
                row_id=str(merge.id),
                column="override_reason",
                text=override_reason,
            )
        moved = db.scalars(
            select(ContactSubject.id).where(ContactSubject.person_id == merged.id)
        ).all()
        db.execute(
            update(ContactSubject)
            .where(ContactSubject.id.in_(moved))
            .values(person_id=survivor.id)
            .execution_options(synchronize_session="fetch")
        )
        merged.merged_into_id = survivor.id
        merge.moved_subjects = " ".join(str(s) for s in moved)
        merge.status = "approved"
    else:
        merge.status = "rejected"
    merge.decided_by = principal.id
    merge.decided_at = now
    db.flush()
    _audit(
        db,
        principal,
        f"person.merge_{merge.status}",
        "person:merge",
        merge.merged_id,
        merge.contact_id,
        f"merge {merge.id} {merge.status}"
        + (" despite conflicting records" if merge.override_reason_sealed is not None else ""),
    )
    return merge


def undo_merge(db: Session, principal: Principal, merge_id: str) -> PersonMerge:
    """A MASH manager undoes an approved merge: the merged person stands alone again and
    the subjects the merge moved go back to them."""
    merge, access = _merge(db, principal, merge_id, Action.CONTACT_DECIDE)
    if merge.status != "approved":
        raise PersonChangeRefused("Only an approved merge can be undone")
    survivor, merged = _pair(db, access, merge)
    if survivor.merged_into_id is not None:
        raise PersonChangeRefused(
            "The surviving person has been merged again since: undo that first"
        )
    moved = [uuid.UUID(s) for s in merge.moved_subjects.split()]
    if moved:
        db.execute(
            update(ContactSubject)
            .where(ContactSubject.id.in_(moved), ContactSubject.person_id == survivor.id)
            .values(person_id=merged.id)
            .execution_options(synchronize_session="fetch")
        )
    merged.merged_into_id = None
    merge.status = "undone"
    merge.undone_by = principal.id
    merge.undone_at = runtime.now()
    db.flush()
    _audit(
        db,
        principal,
        "person.merge_undone",
        "person:merge",
        merge.merged_id,
        merge.contact_id,
        f"merge {merge.id} undone",
    )
    return merge


# ------------------------------------------------------------------------ warnings


def _persons_standing_for(db: Session, person_id: uuid.UUID) -> set[uuid.UUID]:
    """The person and everyone merged into them (transitively)."""
    found = {person_id}
    frontier = [person_id]
    while frontier:
        rows = db.scalars(select(Person.id).where(Person.merged_into_id.in_(frontier))).all()
        frontier = [r for r in rows if r not in found]
        found.update(frontier)
    return found


@dataclass(frozen=True)
class PersonFootprint:
    """Ids only: the persons standing for one person (merges followed) and the contacts
    whose subjects are linked to any of them. For "who accessed this child"."""

    person_ids: frozenset[str]
    contact_ids: frozenset[str]


def footprint(db: Session, person_id: uuid.UUID) -> PersonFootprint:
    persons = _persons_standing_for(db, _survivor(db, person_id))
    contacts = db.scalars(
        select(ContactSubject.contact_id).where(ContactSubject.person_id.in_(persons)).distinct()
    ).all()
    return PersonFootprint(frozenset(str(p) for p in persons), frozenset(str(c) for c in contacts))


# What a governance lead may look a child up by: exact identifiers only.
CHILD_LOOKUP_KINDS: Final = ("nhs", "name_dob")


@dataclass(frozen=True)
class IdentityFootprint:
    """Ids only: the contacts whose subjects carry the identifier a lead typed (linked to
    the register or not), and the register persons those subjects stand for, merges
    followed; `key` is the identifier's keyed hash (hex), to name the look-up in the audit
    without what was typed."""

    key: str
    person_ids: frozenset[str]
    contact_ids: frozenset[str]


def identity_footprint(
    db: Session,
    *,
    nhs_number: str | None = None,
    given_name: str = "",
    family_name: str = "",
    date_of_birth: date | None = None,
    address: str | None = None,
) -> IdentityFootprint | None:
    """Everything the hub holds under one child's NHS number, or full name with date of
    birth (or, for a contact search, one home's address), found through the subjects'
    keyed hashes (`subject_keys`), never clear text. None when what was given makes no
    identifier (an NHS number that fails its check, an address without house number and
    postcode or street)."""
    if address is not None:
        record = matching.PersonRecord(
            id="lookup", given_name="", family_name="", address=address,
            postcode=postcode_in(address),
        )  # fmt: skip
        wanted: tuple[str, ...] = ("address",)
    else:
        record = matching.PersonRecord(
            id="lookup",
            given_name=given_name if nhs_number is None else "",
            family_name=family_name if nhs_number is None else "",
            date_of_birth=date_of_birth if nhs_number is None else None,
            nhs_number=nhs_number,
        )
        wanted = CHILD_LOOKUP_KINDS
    hashes = [hashed for hashed, kind in _identity_hashes(record, None).items() if kind in wanted]
    if not hashes:
        return None
    rows = db.execute(
        select(SubjectKey.contact_id, ContactSubject.person_id)
        .join(ContactSubject, ContactSubject.id == SubjectKey.subject_id)
        .where(SubjectKey.key.in_(hashes))
    ).all()
    contacts = {str(contact_id) for contact_id, _person in rows}
    persons: set[str] = set()
    for person in {person for _contact, person in rows if person is not None}:
        found = footprint(db, person)
        persons |= found.person_ids
        contacts |= found.contact_ids
    return IdentityFootprint(hashes[0].hex(), frozenset(persons), frozenset(contacts))


@dataclass(frozen=True)
class FoundContact:
    """One contact a search found, as its history shows it: never its content."""

    id: str
    reference: str
    received_at: datetime
    rag: str | None
    status: str


SEARCH_KINDS = ("reference", "nhs_number", "name_and_birth", "address")
SEARCH_LIMIT = 100


def find_contacts(
    db: Session,
    principal: Principal,
    kind: str,
    *,
    reference: str = "",
    nhs_number: str = "",
    given_name: str = "",
    family_name: str = "",
    date_of_birth: date | None = None,
    address: str = "",
) -> list[FoundContact] | None:
    """MASH staff find contacts, open or closed, by reference, or by a child's NHS number,
    name and date of birth, or home address through the keyed index (never clear text):
    the search is decided as the MASH's screening work (`screening:read`, clause 3.5) and
    each contact found as its history (`contact:history`, clause 3.6: reference, date,
    rating and status), both audited; opening one is decided on its own page. None when
    what was typed makes no identifier."""
    require(principal, Action.SCREENING_READ, duties.screening_queue())
    if kind == "reference":
        found = records.contact_id_by_reference(db, reference)
        ids = {found} if found is not None else set()
    else:
        footprint_ = identity_footprint(
            db,
            nhs_number=nhs_number if kind == "nhs_number" else None,
            given_name=given_name,
            family_name=family_name,
            date_of_birth=date_of_birth,
            address=address if kind == "address" else None,
        )
        if footprint_ is None:
            return None
        ids = set(footprint_.contact_ids)
    shown = records.contacts_in_history(db, principal, sorted(ids)[:SEARCH_LIMIT])
    return [
        FoundContact(str(c.id), c.reference, c.received_at, c.rag, c.status)
        for c in sorted(shown, key=lambda c: c.received_at, reverse=True)
    ]


def linked_children(db: Session, contact_id: uuid.UUID) -> list[uuid.UUID]:
    """The person ids of the contact's child subjects that are linked to the register."""
    found = db.scalars(
        select(ContactSubject.person_id)
        .where(
            ContactSubject.contact_id == contact_id,
            ContactSubject.role == "child",
            ContactSubject.person_id.is_not(None),
        )
        .order_by(ContactSubject.position)
    )
    return [person for person in found if person is not None]


def _survivors(db: Session, person_ids: set[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """`_survivor` of each person, the merge chains followed side by side: one query per
    step of the longest chain rather than per person and step."""
    current = {p: p for p in person_ids}
    seen = {p: {p} for p in person_ids}
    survivors: dict[uuid.UUID, uuid.UUID] = {}
    query = select(Person.id, Person.merged_into_id)
    while current:
        onward: dict[uuid.UUID, uuid.UUID | None] = {}
        for person, into in db.execute(query.where(Person.id.in_(set(current.values())))):
            onward[person] = into
        following = {}
        for person, now_at in current.items():
            step = onward.get(now_at)
            if step is None:
                survivors[person] = now_at
            elif step in seen[person]:
                survivors[person] = step
            else:
                seen[person].add(step)
                following[person] = step
        current = following
    return survivors


def _standing_for(db: Session, person_ids: set[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
    """`_persons_standing_for` each person, the merge trees walked side by side."""
    found = {p: {p} for p in person_ids}
    frontier = {p: {p} for p in person_ids}
    query = select(Person.id, Person.merged_into_id)
    while any(frontier.values()):
        reached = set().union(*frontier.values())
        following: dict[uuid.UUID, set[uuid.UUID]] = {p: set() for p in person_ids}
        for merged, into in db.execute(query.where(Person.merged_into_id.in_(reached))):
            for person, nodes in frontier.items():
                if into in nodes and merged not in found[person]:
                    following[person].add(merged)
        for person, nodes in following.items():
            found[person] |= nodes
        frontier = following
    return found


def _warnings(
    db: Session,
    principal: Principal,
    contact: Contact,
    rows: dict[uuid.UUID, ContactSubject],
    subjects: Sequence[SubjectPeople],
    also: frozenset[uuid.UUID] = frozenset(),
) -> tuple[list[RepeatWarning], dict[uuid.UUID, Contact]]:
    """A warning per linked child with another contact received within the repeat window,
    or a case closed within the closed-case window; each with the child's chronology. And
    the contacts `also` names (the possible repeats' earlier contacts) that this principal
    may see, decided in the same batch."""
    children = [
        (view, person_id)
        for view in subjects
        if (row := rows[uuid.UUID(view.subject_id)]).role == "child"
        and (person_id := row.person_id) is not None
    ]
    if not children and not also:
        return [], {}
    # The children together, not one by one: their survivors, everyone merged into those,
    # and every other contact about any of them, each in one query (per merge step).
    survivors = _survivors(db, {person_id for _view, person_id in children}) if children else {}
    standing = _standing_for(db, set(survivors.values())) if survivors else {}
    everyone: set[uuid.UUID] = set().union(*standing.values()) if standing else set()
    found = records.earlier_contacts(db, principal, everyone, besides=contact.id, also=also)
    extra = {c.id: c for linked, c in found if linked is None}
    warnings = []
    for view, person_id in children:
        survivor = survivors[person_id]
        persons = standing[survivor]
        earlier = [c for linked, c in found if linked is not None and linked in persons]
        chronology = tuple(_earlier(c) for c in dict.fromkeys(earlier))
        if any(c.in_window for c in chronology):
            warnings.append(RepeatWarning(str(survivor), view.name, chronology))
    return warnings, extra


def _earlier(contact: Contact) -> EarlierContact:
    """An earlier contact as a chronology shows it, and whether it is within the repeat
    windows: received within [screening] repeat_contact_window, or closed within
    closed_case_window."""
    settings = runtime.settings().screening
    now = runtime.now()
    closed_since = now - settings.closed_case_window.timedelta
    return EarlierContact(
        contact_id=str(contact.id),
        reference=contact.reference,
        received_at=contact.received_at,
        rag=contact.rag,
        status=contact.status,
        closed_at=contact.closed_at,
        in_window=contact.received_at >= now - settings.repeat_contact_window.timedelta
        or (
            contact.status == "closed"
            and contact.closed_at is not None
            and contact.closed_at >= closed_since
        ),
    )


def _possible_rows(db: Session, contact: Contact) -> list[PossibleRepeat]:
    """The possible repeat contacts noted for this contact on intake, not rejected."""
    return list(
        db.scalars(
            select(PossibleRepeat)
            .where(PossibleRepeat.contact_id == contact.id, PossibleRepeat.rejected_at.is_(None))
            .order_by(PossibleRepeat.created_at, PossibleRepeat.id)
        )
    )


def _possible_warnings(
    rows: Sequence[PossibleRepeat],
    seen: dict[uuid.UUID, Contact],
    subjects: Sequence[SubjectPeople],
    confirmed: Sequence[RepeatWarning],
) -> list[PossibleWarning]:
    """The possible repeat contacts noted on intake that still stand: within the repeat
    windows, not already confirmed by a link, and each earlier contact one this principal
    may see in a history (`seen`, decided). `_audit_warnings` records them shown."""
    if not rows:
        return []
    confirmed_contacts = {c.contact_id for w in confirmed for c in w.chronology}
    by_subject = {view.subject_id: view for view in subjects}
    found: list[PossibleWarning] = []
    for row in rows:
        earlier = seen.get(row.earlier_contact_id)
        if earlier is None or str(earlier.id) in confirmed_contacts:
            continue
        shown = _earlier(earlier)
        if not shown.in_window:
            continue
        view = by_subject.get(str(row.subject_id))
        found.append(
            PossibleWarning(
                id=str(row.id),
                subject_id=str(row.subject_id),
                subject_name=view.name if view else "",
                subject_role=view.role if view else "",
                basis=row.basis,
                score=row.score,
                earlier_role=row.earlier_role,
                earlier=shown,
            )
        )
    return found


def reject_possible_repeat(
    db: Session, principal: Principal, contact_id: str, repeat_id: str
) -> PossibleRepeat:
    """A screener says a possible repeat contact is someone else: it stops warning, and the
    rejection is kept with who and when, and audited."""
    contact, _access = _contact(db, principal, contact_id, Action.CONTACT_RATE)
    try:
        wanted = uuid.UUID(repeat_id)
    except ValueError:
        raise PersonNotFound(repeat_id) from None
    row = db.scalar(
        select(PossibleRepeat).where(
            PossibleRepeat.id == wanted, PossibleRepeat.contact_id == contact.id
        )
    )
    if row is None or row.rejected_at is not None:
        raise PersonNotFound(repeat_id)
    row.rejected_at = runtime.now()
    row.rejected_by = principal.id
    _audit(
        db,
        principal,
        "person.possible_repeat_rejected",
        "contact:rate",
        row.subject_id,
        contact.id,
        f"not the person named in an earlier contact ({row.basis})",
    )
    db.flush()
    return row


def _audit_warnings(
    db: Session,
    principal: Principal,
    contact: Contact,
    warnings: Sequence[RepeatWarning],
    possible: Sequence[PossibleWarning] = (),
) -> None:
    # One insert for all of them, the events `_audit` would record one by one.
    drafts = [
        _draft(
            principal,
            "person.repeat_contact_shown",
            "person:read",
            warning.person_id,
            contact.id,
            f"{len(warning.chronology)} earlier contacts shown",
        )
        for warning in warnings
    ]
    if possible:
        drafts.append(
            _draft(
                principal,
                "person.possible_repeat_shown",
                "person:read",
                possible[0].subject_id,
                contact.id,
                f"{len(possible)} possible repeat contacts shown",
            )
        )
    record_many(db, drafts)


def repeat_contact_warnings(
    db: Session, principal: Principal, access: Access
) -> list[dict[str, str | None]]:
    """The `warnings` of GET /api/v1/contacts/{id} (shared/docs/api.md): one entry per
    linked child and earlier contact within a window. Takes the access that released the
    contact to `principal` as proof that the firewall has decided; no person details."""
    contact = records.reopen(db, principal, access).record
    subjects = {s.id: s for s in contact.subjects}
    views = [SubjectPeople(str(s.id), "", s.role, None, ()) for s in contact.subjects]
    rows = _possible_rows(db, contact)
    warnings, seen = _warnings(
        db, principal, contact, subjects, views, frozenset(r.earlier_contact_id for r in rows)
    )
    possible = _possible_warnings(rows, seen, views, warnings)
    _audit_warnings(db, principal, contact, warnings, possible)
    found: list[dict[str, str | None]] = [
        {
            "kind": "repeat_contact",
            "status": "confirmed",
            "subject_role": "child",
            "person_id": warning.person_id,
            "previous_contact_id": earlier.contact_id,
            "previous_received_at": api_time(earlier.received_at),
        }
        for warning in warnings
        for earlier in warning.triggers
    ]
    return found + [
        {
            "kind": "repeat_contact",
            "status": "possible",
            "subject_role": item.subject_role,
            "person_id": None,
            "previous_contact_id": item.earlier.contact_id,
            "previous_received_at": api_time(item.earlier.received_at),
            "basis": item.basis,
        }
        for item in possible
    ]
