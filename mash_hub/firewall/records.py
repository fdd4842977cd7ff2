"""The one door to protected records: a registry of the protected record types, and three
calls over it.

- `open(db, principal, Model, id, action)` parses the id, loads the record, decides and
  audits, and hands back an `Opened` record, or raises the caller's NotFound, the same for
  a record that is missing and one on the other side of the firewall.
- `scope(principal, Model, action)` is the select of the rows a caller may be shown for an
  action: a service may narrow it, never widen it. Each row shown is still decided.
- `Opened.text(...)` and `Opened.seal(...)` release or seal a field of the opened record
  (or of a row under it), with the table, row, column and agency taken from the record;
  `Opened.rows(Model)` selects the rows under the opened record's contact.

Around them: `reopen` takes back the record a page's own access opened (for the parts of
the page), `person`/`persons` reach the register under an opened contact, `earlier_contacts`
decides a child's history, `bookkeeping` selects rows for the hub's own state changes
(nothing it selects can be released), and the `*_resource` functions are the one mapping
of each record to the policy.

Each registry entry says what the policy sees of a record (its Cedar resource), which
contact it belongs to, and which agency's keys seal its content. Everything else that
services do with protected records is domain rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session, lazyload

from mash_hub import runtime
from mash_hub.authz.gate import Principal
from mash_hub.crypto import keys
from mash_hub.errors import NotFound
from mash_hub.firewall.decisions import (
    Access,
    AccessDenied,
    allowed_in_request,
    decide_many,
    decide_within,
    record_not_found,
    refuse_missing,
    require,
)
from mash_hub.firewall.release import (
    REGISTER_AGENCY,
    opened_contact,
    release,
    release_for_approval,
    seal,
    seal_for_approval,
)
from mash_hub.policy import (
    Action,
    BreakGlassGrantResource,
    ContactResource,
    ContributionResource,
    Decision,
    DisclosureResource,
    InfoRequestResource,
    OnwardReferralResource,
)
from mash_hub.policy.pdp import Resource

R = TypeVar("R")
R2 = TypeVar("R2")


class Denied(AccessDenied):
    """The policy refused a record the caller may be told about (see `open`'s
    `refusal_shown`): the decision and the record, for the service to say why."""

    def __init__(self, decision: Decision, record: Any) -> None:
        super().__init__(decision)
        self.record = record


@dataclass(frozen=True)
class RecordType(Generic[R]):
    """What the firewall knows of one protected record type. A type with no resource of
    its own (a person merge, a disclosure) is decided as the contact it belongs to."""

    object_type: str  # the audit trail's name for it
    resource: Callable[[R], Resource] | None  # what the policy sees of it
    contact_of: Callable[[R], uuid.UUID]  # the contact it belongs to
    agency_of: Callable[[R], str]  # the agency whose keys seal its content
    # What the policy is asked about in place of one that does not exist (`open`).
    stand_in: Callable[[str], Resource] = lambda typed: _missing_contact(typed)
    # Whether a missing one is audited as the stand-in's refusal rather than `not_found`:
    # for records asked about by those who read the trail it lands in.
    missing_audited_as_refused: bool = False


def contact_resource(contact: Any) -> ContactResource:
    """The one mapping of a contact to the policy: a contact deleted under retention is as
    closed as a closed one; a closed one carries the end of its history window (its
    closing plus `[screening] repeat_contact_window`), until which MASH staff may still
    read it (clause 8.10)."""
    closed = contact.status in ("closed", "deleted")
    return ContactResource(
        str(contact.id),
        contact.rag or "none",  # type: ignore[arg-type]
        "closed" if closed else "open",
        _history_until(contact) if closed else 0,
    )


def _history_until(contact: Any) -> int:
    if contact.closed_at is None:
        return 0
    window = runtime.settings().screening.repeat_contact_window.timedelta
    closed_at: datetime = contact.closed_at
    if closed_at.tzinfo is None:
        closed_at = closed_at.replace(tzinfo=UTC)
    return int((closed_at + window).timestamp())


def new_contact_resource(contact_id: str) -> ContactResource:
    """A contact about to be recorded: no rating yet, and open."""
    return ContactResource(contact_id, "none", "open")


def new_request_resource(
    request_id: str, agency: str, due_at: datetime, contact_rag: str
) -> InfoRequestResource:
    """A request about to be sent to `agency`."""
    return InfoRequestResource(request_id, agency, "open", due_at, contact_rag)  # type: ignore[arg-type]


def contribution_resource(
    contribution: Any, *, restricted: bool, contact_rag: str
) -> ContributionResource:
    """An answer's items of one kind: restricted by their originator, or not."""
    return ContributionResource(
        str(contribution.id),
        contribution.agency,
        restricted,
        contact_rag,  # type: ignore[arg-type]
    )


def decide_contribution(
    principal: Principal, contribution: Any, *, restricted: bool, contact_rag: str
) -> Access | None:
    """Decide (and audit with the page) reading an answer's items of one kind, restricted
    by their originator or not; None where refused, and the page marks them withheld."""
    return decide_within(
        principal,
        Action.CONTRIBUTION_READ,
        contribution_resource(contribution, restricted=restricted, contact_rag=contact_rag),
        contact_id=str(contribution.contact_id),
    )


def grant_resource(grant: Any) -> BreakGlassGrantResource:
    """One use of emergency access: its holder, their agency, and whose contact it was."""
    return BreakGlassGrantResource(
        id=str(grant.id),
        holder=str(grant.user_id),
        agency=grant.agency,
        owning_agency=grant.owning_agency,
    )


def disclosure_resource(disclosure: Any) -> DisclosureResource:
    """A disclosure, with the agencies whose restricted items it releases."""
    return DisclosureResource(
        id=str(disclosure.id),
        restricted_by=frozenset(item.agency for item in disclosure.items if item.restricted),
    )


def new_disclosure_resource() -> DisclosureResource:
    """A disclosure about to be started."""
    return DisclosureResource(id="new", restricted_by=frozenset())


def unknown_disclosure_resource(typed: str) -> DisclosureResource:
    """A disclosure id that names none: decided like one that releases nothing of the
    caller's agency, so a missing one and a refused one look the same."""
    return DisclosureResource(id=typed[:64], restricted_by=frozenset())


# Stand-ins for records that do not exist: resources of the type asked about, for `open`
# to put to the policy so that a missing id costs what a refused one costs.
_NOWHERE = "none"
_NO_ID = uuid.UUID(int=0)
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


def _missing_contact(typed: str) -> ContactResource:
    return ContactResource(typed[:64], "none", "closed")


def _missing_request(typed: str) -> InfoRequestResource:
    return InfoRequestResource(typed[:64], _NOWHERE, "withdrawn", _LONG_AGO, "none")


def _missing_grant(typed: str) -> BreakGlassGrantResource:
    return BreakGlassGrantResource(
        typed[:64], holder=_NOWHERE, agency=_NOWHERE, owning_agency=_NOWHERE
    )


def _missing_referral(typed: str) -> OnwardReferralResource:
    return OnwardReferralResource(typed[:64], _NOWHERE, "expired", _LONG_AGO)


def referral_resource(referral: Any) -> OnwardReferralResource:
    """An onward referral: its receiving service, state, due time, and (once accepted) the
    end of the time its service may still read it."""
    return OnwardReferralResource(
        str(referral.id),
        referral.agency,
        referral.status,
        referral.due_at,
        referral.readable_until if referral.status == "accepted" else None,
    )


def new_referral_resource(
    referral_id: str, agency: str, due_at: datetime
) -> OnwardReferralResource:
    """A referral about to be made to the receiving service `agency`."""
    return OnwardReferralResource(referral_id, agency, "open", due_at)


def request_resource(request: Any) -> InfoRequestResource:
    return InfoRequestResource(
        str(request.id),
        request.agency,
        request.status,  # type: ignore[arg-type]
        request.due_at,
        request.contact_rag,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class Tables:
    """The mapped classes of the records the firewall guards. The domain packages that own
    them build on the firewall, so the firewall does not import them: the app factory
    hands them over at start (`install`), as `mash_hub.models.firewall_tables()`."""

    contact: type[Any]
    contact_subject: type[Any]
    info_request: type[Any]
    person: type[Any]
    person_merge: type[Any]
    disclosure: type[Any]
    break_glass_grant: type[Any]
    retention_review: type[Any]
    onward_referral: type[Any]


_installed: list[Tables] = []


def install(tables: Tables) -> None:
    """Give the firewall the tables it guards (once per process; the same each time)."""
    if _installed and _installed[0] != tables:
        raise RuntimeError("the firewall's tables are already installed, and differ")
    if not _installed:
        _installed.append(tables)


def _tables() -> Tables:
    if not _installed:
        raise RuntimeError("the firewall's tables are not installed: create_app installs them")
    return _installed[0]


def registry() -> dict[type[Any], RecordType[Any]]:
    """One entry per protected record type."""
    t = _tables()
    return {
        t.contact: RecordType[Any](
            object_type="Contact",
            resource=contact_resource,
            contact_of=lambda contact: contact.id,
            agency_of=lambda contact: contact.source_agency.code,
        ),
        t.info_request: RecordType[Any](
            object_type="InfoRequest",
            resource=request_resource,
            contact_of=lambda request: request.contact_id,
            # The question is sealed for the agency asked; the subjects stay the source's.
            agency_of=lambda request: request.agency,
            stand_in=_missing_request,
        ),
        t.person_merge: RecordType[Any](
            object_type="PersonMerge",
            resource=None,
            contact_of=lambda merge: merge.contact_id,
            agency_of=lambda _merge: REGISTER_AGENCY,
        ),
        t.break_glass_grant: RecordType[Any](
            object_type="BreakGlassGrant",
            resource=grant_resource,
            contact_of=lambda grant: grant.contact_id,
            agency_of=lambda grant: grant.owning_agency,
            stand_in=_missing_grant,
        ),
        t.disclosure: RecordType[Any](
            object_type="Disclosure",
            resource=disclosure_resource,
            contact_of=lambda disclosure: disclosure.contact_id,
            # Each released item stays sealed for the agency it came from.
            agency_of=lambda disclosure: disclosure.started_by_agency,
            stand_in=unknown_disclosure_resource,
            # An originating agency's lead reads their own trail: a missing disclosure
            # must read there as one refused.
            missing_audited_as_refused=True,
        ),
        t.retention_review: RecordType[Any](
            object_type="RetentionReview",
            resource=None,
            contact_of=lambda review: review.contact_id,
            agency_of=lambda _review: REGISTER_AGENCY,
        ),
        t.onward_referral: RecordType[Any](
            object_type="OnwardReferral",
            resource=referral_resource,
            contact_of=lambda referral: referral.contact_id,
            # Its reason and decision are sealed for the receiving service; the subjects
            # stay the source's.
            agency_of=lambda referral: referral.agency,
            stand_in=_missing_referral,
        ),
    }


def record_type(model: type[R]) -> RecordType[R]:
    entry: RecordType[R] = registry()[model]
    return entry


def text_of(access: Access, row: Any, column: str, *, agency: str) -> str:
    """Release `column` of a row under an access decided apart from an `Opened` record (an
    item of an answer, decided item by item)."""
    if access.contact_id is None:
        raise LookupError("the access is not for a contact's content")
    return release(
        access,
        contact_id=access.contact_id,
        agency_code=agency,
        table=row.__tablename__,
        row_id=str(row.id),
        column=column,
        envelope=getattr(row, f"{column}_sealed"),
    )


@dataclass(frozen=True)
class Opened(Generic[R]):
    """A record the firewall loaded, decided and audited for one principal and action."""

    record: R
    access: Access
    contact_id: str
    agency: str

    def preload_keys(self, db: Session) -> None:
        """Read every key of the record's contact ahead, in one statement: its fields are
        sealed for several agencies (the source's, each asked agency's)."""
        keys.preload_contacts(db, [self.contact_id])

    def rows(self, model: type[R2], *also: Any) -> Select[Any]:
        """The rows of `model` under the opened record's contact (its subjects, ratings,
        decisions, requests...), as a select to narrow."""
        column = model.id if model is _tables().contact else model.contact_id  # type: ignore[attr-defined]
        statement: Select[Any] = select(model, *also).where(column == uuid.UUID(self.contact_id))
        return statement

    def _place(self, row: Any, column: str, agency: str | None) -> dict[str, str]:
        row = self.record if row is None else row
        return {
            "contact_id": self.contact_id,
            "agency_code": agency or self.agency,
            "table": row.__tablename__,
            "row_id": str(row.id),
            "column": column,
        }

    def text(self, column: str, *, row: Any = None, agency: str | None = None) -> str:
        """Release `column` of the opened record, or of `row` under it (a subject, a
        rating, an answer's item). `agency` names the sealing agency where the row is not
        the record's own (a partner's item on a contact)."""
        target = self.record if row is None else row
        envelope: bytes = getattr(target, f"{column}_sealed")
        return release(self.access, envelope=envelope, **self._place(row, column, agency))

    def seal(
        self,
        column: str,
        text: str,
        *,
        row: Any = None,
        table: str | None = None,
        row_id: uuid.UUID | str | None = None,
        agency: str | None = None,
    ) -> bytes:
        """Seal `text` for `column` of the opened record or of a row under it. A row not
        yet built is named by `table` and `row_id`."""
        if row is None and table is not None and row_id is not None:
            place = {
                "contact_id": self.contact_id,
                "agency_code": agency or self.agency,
                "table": table,
                "row_id": str(row_id),
                "column": column,
            }
        else:
            place = self._place(row, column, agency)
        return seal(self.access, text=text, **place)


def _ident(record_id: str | uuid.UUID) -> uuid.UUID | None:
    if isinstance(record_id, uuid.UUID):
        return record_id
    try:
        return uuid.UUID(str(record_id))
    except (ValueError, TypeError, AttributeError):
        return None


_KEPT = "mash_hub.firewall.kept"
# The actions that only read: their records are kept for the rest of the unit of work.
_READS = {
    Action.CONTACT_READ: True,
    Action.CONTACT_REVIEW: True,
    Action.REQUEST_READ: True,
    Action.CONTRIBUTION_READ: True,
    Action.REFERRAL_READ: True,
}


def open(
    db: Session,
    principal: Principal,
    model: type[R],
    record_id: str | uuid.UUID,
    action: Action,
    *,
    missing: type[LookupError] = NotFound,
    reuse: bool = False,
    decide_as: Action | None = None,
    refusal_shown: bool = False,
    outside_the_mash: bool = False,
) -> Opened[R]:
    """Load, decide and audit one record for `action`; `missing` is raised, alike, for a
    record that does not exist and one the policy refuses.

    `reuse`: the part of a page that shows what the page's own decision allowed takes that
    decision (still in the unit of work) rather than deciding again. `decide_as`: the
    action the policy is asked about, where it differs from the one the record is opened
    for (for instance, a contact's requests are listed under `contact:read`).
    `refusal_shown`: a refusal raises `Denied` instead, for a record the caller may be
    told about (a screener asked to sign off a decision answers 403; an agency's own
    request that has expired answers 409). A record that does not exist (or an id that
    names none) is refused by the same work as one the policy refuses: the same reads, a
    decision about a stand-in of its type, one refusal audited (`not_found`), so neither
    the answer nor its time tells them apart. `outside_the_mash`: the caller is of an
    agency outside the MASH (an originator's lead approving a disclosure): the decision is
    audited without the contact's id, which their trail must not learn."""
    entry = record_type(model)
    asked = decide_as or action
    ident = _ident(record_id)
    # The session's identity map holds rows weakly: a read keeps its record for the unit
    # of work, so the other parts of the same page or answer find it there instead of
    # reading it (and its subjects and ratings) again. A change lets go of it first and so
    # reads the row afresh.
    kept: dict[tuple[type[Any], uuid.UUID], Any] = db.info.setdefault(_KEPT, {})
    if ident is not None and not _READS.get(asked, False):
        kept.pop((model, ident), None)
    # An id that is not one is looked up all the same (as the nil id, which names none).
    # Nothing but the row itself until the policy has spoken: a row's eager collections
    # (a request's answers, a contact's subjects) are read once it is allowed, so a
    # refused record costs what a missing one costs.
    found = db.get(model, ident if ident is not None else _NO_ID, options=[lazyload("*")])
    if found is not None and ident is not None and _READS.get(asked, False):
        kept[(model, ident)] = found
    if found is None:
        if entry.resource is None:
            # The refused path reads the record's contact.
            db.get(_tables().contact, _NO_ID, options=[lazyload("*")])
        refuse_missing(
            principal,
            asked,
            entry.stand_in(str(record_id)),
            object_type=entry.object_type,
            object_id=str(record_id),
            grant_lookup=str(ident or _NO_ID),
            as_refusal=entry.missing_audited_as_refused,
        )
        raise missing(str(record_id))
    contact_id = str(entry.contact_of(found))
    access = allowed_in_request(principal, asked, contact_id) if reuse else None
    if access is None and reuse and asked is Action.CONTACT_READ:
        # A closed contact's page was opened read only: its parts read under that.
        access = allowed_in_request(principal, Action.CONTACT_REVIEW, contact_id)
    if access is None:
        if entry.resource is not None:
            resource = entry.resource(found)
        else:
            contact = db.get(_tables().contact, entry.contact_of(found), options=[lazyload("*")])
            if contact is None:  # pragma: no cover - a foreign key
                record_not_found(principal, action, entry.object_type, str(record_id))
                raise missing(str(record_id))
            resource = contact_resource(contact)
        try:
            access = require(
                principal, asked, resource, contact_id=None if outside_the_mash else contact_id
            )
        except AccessDenied as refused:
            if refusal_shown:
                raise Denied(refused.decision, found) from refused
            raise missing(str(record_id)) from refused
    return Opened(found, access, contact_id, entry.agency_of(found))


def earlier_contacts(
    db: Session,
    principal: Principal,
    person_ids: set[uuid.UUID],
    *,
    besides: uuid.UUID,
    also: frozenset[uuid.UUID] = frozenset(),
) -> list[tuple[uuid.UUID | None, Any]]:
    """(person id, contact) for every contact but `besides` that names one of these persons,
    oldest first: a screener's view of a child's history; and (None, contact) for each of
    the contacts `also` names (possible repeats), decided in the same batch. Each contact
    is decided under `contact:history` (that it exists, with its reference, date, rating
    and status; never its content) and audited with the page; a contact refused is left
    out."""
    if not person_ids and not also:
        return []
    Contact, ContactSubject = _tables().contact, _tables().contact_subject  # noqa: N806
    rows = db.execute(
        select(ContactSubject.person_id, Contact)
        .join_from(Contact, ContactSubject, ContactSubject.contact_id == Contact.id)
        .where(
            or_(ContactSubject.person_id.in_(person_ids), Contact.id.in_(also)),
            Contact.id != besides,
        )
        .order_by(Contact.received_at, Contact.reference)
        # The chronology shows the contacts' own columns, not their subjects.
        .options(lazyload(Contact.subjects), lazyload(Contact.ratings))
    ).all()
    found: list[tuple[uuid.UUID | None, Any]] = []
    for person, contact in rows:
        if person is not None and person in person_ids:
            found.append((person, contact))
        if contact.id in also:
            found.append((None, contact))
    found = list(dict.fromkeys(found))
    contacts = list(dict.fromkeys(contact for _person, contact in found))
    decided = decide_many(
        principal,
        Action.CONTACT_HISTORY,
        [(contact_resource(contact), str(contact.id)) for contact in contacts],
    )
    shown = {
        contact.id for contact, access in zip(contacts, decided, strict=True) if access is not None
    }
    return [(person, contact) for person, contact in found if contact.id in shown]


def contacts_in_history(db: Session, principal: Principal, contact_ids: Iterable[str]) -> list[Any]:
    """The contacts with these ids that the principal may know of (`contact:history`: that
    each exists, with its reference, date, rating and status, never its content), each
    decided and audited; those refused are left out."""
    wanted = [ident for ident in (_ident(c) for c in contact_ids) if ident is not None]
    if not wanted:
        return []
    Contact = _tables().contact  # noqa: N806
    contacts = list(
        db.scalars(
            select(Contact)
            .where(Contact.id.in_(wanted))
            .options(lazyload(Contact.subjects), lazyload(Contact.ratings))
        )
    )
    decided = decide_many(
        principal,
        Action.CONTACT_HISTORY,
        [(contact_resource(contact), str(contact.id)) for contact in contacts],
    )
    return [contact for contact, access in zip(contacts, decided, strict=True) if access]


def own_restricted_items(principal: Principal, access: Access, disclosure: Any) -> list[Any]:
    """(item, text) for each restricted item of `disclosure` that the approving lead's own
    agency contributed: what they are asked to let leave the MASH (usability review D10).
    Under the approval's decision; never another agency's item, never an unrestricted one."""
    if access.principal_id != principal.id or access.object_id != str(disclosure.id):
        raise LookupError("the access is not this lead's approval of this disclosure")
    return [
        (
            item,
            release_for_approval(
                access,
                contact_id=str(disclosure.contact_id),
                agency_code=item.agency,
                table=item.__tablename__,
                row_id=str(item.id),
                column="text",
                envelope=item.text_sealed,
            ),
        )
        for item in sorted(disclosure.items, key=lambda i: i.position)
        if item.restricted and item.agency == principal.agency
    ]


def seal_approval_reason(
    principal: Principal, access: Access, disclosure: Any, approval_id: str, text: str
) -> bytes:
    """The lead's reason for their decision, sealed under their own agency's key."""
    if access.principal_id != principal.id or access.object_id != str(disclosure.id):
        raise LookupError("the access is not this lead's approval of this disclosure")
    return seal_for_approval(
        access,
        contact_id=str(disclosure.contact_id),
        agency_code=principal.agency,
        table="disclosure_approvals",
        row_id=approval_id,
        column="reason",
        text=text,
    )


def in_history(db: Session, principal: Principal, contact_id: str) -> Any | None:
    """The contact, for what `contact:history` shows of it (that it exists, its reference,
    date, rating and status; never its content), or None if there is none or the policy
    refuses: decided and audited. For telling MASH staff refused a contact's page that it
    has closed, rather than that it does not exist."""
    ident = _ident(contact_id)
    if ident is None:
        return None
    Contact = _tables().contact  # noqa: N806
    contact = db.get(Contact, ident, options=[lazyload("*")])
    if contact is None:
        return None
    allowed = decide_many(
        principal, Action.CONTACT_HISTORY, [(contact_resource(contact), str(contact.id))]
    )
    return contact if allowed[0] is not None else None


def contact_id_by_reference(db: Session, reference: str) -> str | None:
    """The id of the contact with this reference (MASH-YYYY-NNNNNN), or None: an id only,
    for the decision that comes next (opening it, or a lead's search of their own trail);
    never the record."""
    contact = _tables().contact
    found = db.scalar(select(contact.id).where(contact.reference == reference.strip().upper()))
    return str(found) if found is not None else None


def open_contact(
    db: Session, principal: Principal, contact_id: str, *, missing: type[LookupError]
) -> Opened[Any]:
    """A contact as its page opens it: `contact:read` while it is open; once closed,
    `contact:review`, which reads it and changes nothing (every change needs it open)."""
    contact = _tables().contact
    ident = _ident(contact_id)
    found = db.get(contact, ident, options=[lazyload("*")]) if ident is not None else None
    closed = found is not None and contact_resource(found).status == "closed"
    action = Action.CONTACT_REVIEW if closed else Action.CONTACT_READ
    return open(db, principal, contact, contact_id, action, missing=missing)


# The reads a contact page is opened under, whose parts may read under it in turn; and
# `contact:decide`, a MASH manager's sign-off of an open contact, which weighs the same
# parts (the partners' answers and the measures in them: the programme criteria check).
_PAGE_READS = (Action.CONTACT_READ, Action.CONTACT_REVIEW, Action.CONTACT_DECIDE)


def reopen(db: Session, principal: Principal, access: Access) -> Opened[Any]:
    """The contact that `access` opened for this principal's read, without deciding again:
    for the parts of a page that show what the page's own decision allowed. ReleaseRefused
    for an access that is someone else's or for another action."""
    read = access.action if access.action in _PAGE_READS else Action.CONTACT_READ
    contact_id = opened_contact(access, principal.id, read)
    contact = db.get(_tables().contact, uuid.UUID(contact_id))
    if contact is None:  # pragma: no cover - opened in this unit of work
        raise NotFound(contact_id)
    return Opened(contact, access, contact_id, contact.source_agency.code)


def person(db: Session, access: Access, person_id: uuid.UUID | str) -> Any:
    """A person of the register (ciphertext only), reached under an allowed access to a
    contact that shows them; None for an id that is not a person."""
    if not access.decision.allowed:
        raise NotFound(str(person_id))
    ident = _ident(person_id)
    return db.get(_tables().person, ident) if ident is not None else None


def persons(db: Session, access: Access, person_ids: Iterable[uuid.UUID]) -> list[Any]:
    """Several persons of the register at once, as `person`, with their keys read ahead
    (one statement for all) for the details about to be opened."""
    if not access.decision.allowed:
        raise NotFound("persons")
    wanted = list(person_ids)
    if not wanted:
        return []
    keys.preload_contacts(db, wanted)
    person = _tables().person
    return list(db.scalars(select(person).where(person.id.in_(wanted))))


def _agency_asked(principal: Principal) -> ColumnElement[bool]:
    agency: ColumnElement[bool] = _tables().info_request.agency == principal.agency
    return agency


def _referred_to(principal: Principal) -> ColumnElement[bool]:
    agency: ColumnElement[bool] = _tables().onward_referral.agency == principal.agency
    return agency


def _scopes() -> dict[tuple[type[Any], Action], Callable[[Principal], ColumnElement[bool]] | None]:
    """The first cut of each list, by (record type, action): the same cut as PostgreSQL's
    row-level security. None: no cut here, and every row shown is decided on its own."""
    t = _tables()
    return {
        (t.info_request, Action.REQUEST_READ): _agency_asked,
        (t.info_request, Action.REQUEST_ANSWER): _agency_asked,
        (t.contact, Action.CONTACT_READ): None,
        (t.contact, Action.CONTACT_DECIDE): None,
        (t.person_merge, Action.CONTACT_DECIDE): None,
        (t.break_glass_grant, Action.BREAK_GLASS_REVIEW): None,
        (t.disclosure, Action.DISCLOSURE_APPROVE): None,
        (t.retention_review, Action.RETENTION_REVIEW): None,
        # The receiving service's inbox: its own referrals only. The MASH side lists a
        # contact's referrals through the contact it opened (`Opened.rows`).
        (t.onward_referral, Action.REFERRAL_READ): _referred_to,
    }


def scope(principal: Principal, model: type[R], action: Action, *also: Any) -> Select[Any]:
    """The rows of `model` that `principal` may be shown for `action`, as a select to narrow
    (never widen), with `also` added as further columns or entities to join in.

    This is the firewall's first cut: PostgreSQL's row-level security is the second, and
    each row shown is still decided (`decide_many`, or the list's own decision per row)."""
    entry = record_type(model)
    scopes = _scopes()
    if (model, action) not in scopes:
        raise LookupError(f"no list of {entry.object_type} for {action.value}")
    cut = scopes[(model, action)]
    statement: Select[Any] = select(model, *also)
    return statement if cut is None else statement.where(cut(principal))


def bookkeeping(model: type[R], *also: Any) -> Select[Any]:
    """The rows of `model` for the hub's own bookkeeping: the state changes it makes on its
    own account (expiring, withdrawing or escalating requests, listing records for a
    retention review). No principal and no Access: nothing selected here can be released,
    only counted, listed by id or changed in state, each change audited by its caller."""
    record_type(model)
    statement: Select[Any] = select(model, *also)
    return statement
