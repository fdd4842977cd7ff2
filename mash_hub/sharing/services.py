"""Sending information requests, answering them, and reading the answers in the MASH.

Every read and change goes through the firewall and leaves an audit event. A request's due
time is enforced here, at every access, with the hub's clock: the scheduler's expiry job
only keeps the stored status in step. Nothing here commits.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, and_, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mash_hub import firewall, runtime
from mash_hub.agencies import AGENCIES, AGENCY_CODES
from mash_hub.audit.services import EventDraft, record
from mash_hub.authz.gate import Principal
from mash_hub.authz.permissions import Role
from mash_hub.contacts import corrections
from mash_hub.contacts.models import Contact, ContactAmendment, ContactSubject
from mash_hub.deadlines import response_due
from mash_hub.errors import Conflict, NotFound
from mash_hub.firewall import duties, records
from mash_hub.firewall.release import seal
from mash_hub.notifications.models import Notification
from mash_hub.notifications.services import notify
from mash_hub.policy import Action
from mash_hub.policy.pdp import NO_POLICY, NOT_IN_FORCE
from mash_hub.policy.programmes import MEASURES
from mash_hub.sharing.models import (
    ITEM_KINDS,
    OUTCOMES,
    Contribution,
    ContributionItem,
    ContributionRevision,
    ContributionRevisionItem,
    InfoRequest,
)

AGENCY_NAMES = {agency.code: agency.name for agency in AGENCIES}
SYSTEM_ACTOR = "scheduler"
QUESTION_MAX = 2000
ITEM_MAX = 5000
MAX_ITEMS = 50
REASON_MAX = 1000


class RequestNotFound(NotFound):
    """No such request or contact, or one on the other side of the firewall."""


class RequestConflict(Conflict):
    """The record's state forbids this (expired, withdrawn, answered, not Red/Amber, no
    agreement in force). The message says which, for the person or system asking."""


@dataclass(frozen=True)
class MeasureInput:
    """A measure an item carries, as given: a code of MEASURES and its value."""

    code: str
    value: float


@dataclass(frozen=True)
class ItemInput:
    kind: str
    text: str
    restricted: bool
    measure: MeasureInput | None = None


def measure_problem(code: str, value: object) -> str | None:
    """What is wrong with the value given for the measure `code` (a MEASURES code), in
    the API's words, or None: it must be a number within the measure's range."""
    scale = MEASURES[code]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not math.isfinite(value))
        or not scale.lowest <= value <= scale.highest
    ):
        return f"must be a number from {_number(scale.lowest)} to {_number(scale.highest)}"
    return None


def _number(value: float) -> str:
    """A value as people write it: 82, not 82.0; 82.5 as it is."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class MeasureView:
    """A measure an item carries, released: its code, its label and its value."""

    code: str
    value: float

    @property
    def label(self) -> str:
        return MEASURES[self.code].label if self.code in MEASURES else self.code

    @property
    def value_text(self) -> str:
        return _number(self.value)

    @property
    def json_value(self) -> int | float:
        return int(self.value) if self.value.is_integer() else self.value

    def __str__(self) -> str:
        return f"{self.label}: {self.value_text}"


@dataclass(frozen=True)
class MeasureGiven:
    """A measure in a partner's latest answer on a contact, for the criteria check."""

    agency: str  # the answering agency's code
    code: str  # a MEASURES code
    value: float
    answered_at: datetime  # when the answer that carries it was given (or corrected)
    request_id: str


@dataclass(frozen=True)
class SubjectDetails:
    role: str
    given_name: str
    family_name: str
    date_of_birth: date | None
    address: str | None
    nhs_number: str | None
    upn: str | None


@dataclass(frozen=True)
class ItemView:
    kind: str
    restricted: bool
    withheld: bool
    text: str | None  # None when withheld
    measure: MeasureView | None = None  # None when it has none, or is withheld


@dataclass(frozen=True)
class EarlierAnswer:
    """A version of an answer that its agency later corrected."""

    version: int
    outcome: str
    answered_at: datetime
    replaced_at: datetime
    reason: str | None  # why it was corrected; None when withheld
    items: tuple[ItemView, ...]


@dataclass(frozen=True)
class AnswerView:
    id: str
    agency: str
    outcome: str
    answered_at: datetime  # when the agency first answered
    items: tuple[ItemView, ...]
    corrected_at: datetime | None = None  # when this version replaced the last one
    earlier: tuple[EarlierAnswer, ...] = ()  # the versions it replaced, oldest first


@dataclass(frozen=True)
class RequestSummary:
    """One request on a contact, as MASH staff see it."""

    id: str
    agency: str
    agency_name: str
    status: str
    requested_at: datetime
    due_at: datetime
    question: str
    answer: AnswerView | None


@dataclass(frozen=True)
class InboxRow:
    id: str
    contact_reference: str
    contact_rag: str
    requested_at: datetime
    due_at: datetime
    time_left: timedelta


@dataclass(frozen=True)
class RequestView:
    """The need-to-know view of a request for the agency it is addressed to."""

    id: str
    agency: str
    status: str
    contact_reference: str
    contact_rag: str
    requested_at: datetime
    due_at: datetime
    question: str
    subjects: tuple[SubjectDetails, ...]
    answer: AnswerView | None


def _changed(db: Session, statement: Any) -> int:
    """Rows an UPDATE changed: the claim that makes each transition happen once."""
    result: CursorResult[Any] = db.execute(statement)  # type: ignore[assignment]
    return result.rowcount


def effective_status(request: InfoRequest, now: datetime) -> str:
    """The status as of `now`: an open request past its due time has expired, whether or
    not the scheduler has recorded it yet."""
    if request.status == "open" and now >= request.due_at:
        return "expired"
    return request.status


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


# --- sending -------------------------------------------------------------------------


def contact_to_ask_about(db: Session, principal: Principal, contact_id: str) -> str:
    """The reference of the contact a request would be about, read (and audited) under
    `contact:read` so the page can name it. RequestNotFound if it is not the caller's."""
    contact = records.open(
        db, principal, Contact, contact_id, Action.CONTACT_READ, missing=RequestNotFound
    ).record
    return str(contact.reference)


def send_request(
    db: Session, principal: Principal, contact_id: str, agency: str, question: str
) -> InfoRequest:
    """Ask `agency` about a Red or Amber contact. RequestNotFound if the contact is not
    the caller's to see; RequestConflict if it is not Red or Amber, the agency has no
    agreement in force, or it has already been asked."""
    if agency not in AGENCY_CODES:
        raise ValueError(f"unknown agency {agency!r}")
    question = question.strip()
    if not question:
        raise ValueError("write the question")
    contact = records.open(
        db,
        principal,
        Contact,
        contact_id,
        Action.REQUEST_CREATE,
        decide_as=Action.CONTACT_READ,
        missing=RequestNotFound,
    ).record
    cid = str(contact.id)
    now = runtime.now()
    rag = contact.rag or "none"
    if rag not in ("red", "amber"):
        due = now
    else:
        due = response_due(rag, now, runtime.settings().timescales, runtime.calendar())
    request_id = uuid.uuid4()
    resource = records.new_request_resource(str(request_id), agency, due, rag)
    try:
        access = firewall.require(principal, Action.REQUEST_CREATE, resource, contact_id=cid)
    except firewall.AccessDenied as refused:
        if rag not in ("red", "amber"):
            raise RequestConflict(
                "requests can only be sent on a Red or Amber contact"
            ) from refused
        if refused.decision.reason in (NOT_IN_FORCE, NO_POLICY):
            raise RequestConflict(
                f"there is no information-sharing agreement in force with {AGENCY_NAMES[agency]}"
            ) from refused
        raise RequestNotFound(contact_id) from refused
    # A lapsed request the scheduler has not closed yet is closed now: it no longer
    # stands in the way of asking again.
    _expire(db, InfoRequest.contact_id == contact.id, InfoRequest.agency == agency)
    live = db.scalar(
        select(InfoRequest.id).where(
            InfoRequest.contact_id == contact.id,
            InfoRequest.agency == agency,
            InfoRequest.status.in_(("open", "answered")),
        )
    )
    if live is not None:
        raise RequestConflict(f"{AGENCY_NAMES[agency]} has already been asked about this contact")
    request = InfoRequest(
        id=request_id,
        contact_id=contact.id,
        agency=agency,
        source_agency=contact.source_agency.code,
        status="open",
        contact_rag=rag,
        contact_reference=contact.reference,
        question_sealed=seal(
            access,
            contact_id=cid,
            agency_code=agency,
            table="info_requests",
            row_id=str(request_id),
            column="question",
            text=question,
        ),
        requested_at=now,
        requested_by=principal.id,
        due_at=due,
    )
    db.add(request)
    try:
        db.flush()
    except IntegrityError as clash:  # asked at the same moment by someone else
        raise RequestConflict(
            f"{AGENCY_NAMES[agency]} has already been asked about this contact"
        ) from clash
    # The agency's researchers and its shared mailbox learn of it by email, in this unit
    # of work: if the request is not committed, no message goes.
    notify(
        db,
        agency=agency,
        role=Role.AGENCY_RESEARCHER,
        kind="request.sent",
        object_type="InfoRequest",
        object_id=str(request_id),
        contact_reference=request.contact_reference,
        about_agency=agency,
        due_at=due,
    )
    return request


# --- the researcher's side -----------------------------------------------------------


def open_request_count(db: Session, agency: str, now: datetime) -> int:
    """How many requests to `agency` are open and not yet due (a count, for the home page)."""
    return (
        db.scalar(
            select(func.count())
            .select_from(InfoRequest)
            .where(
                InfoRequest.agency == agency,
                InfoRequest.status == "open",
                InfoRequest.due_at > now,
            )
        )
        or 0
    )


def inbox(db: Session, principal: Principal) -> list[InboxRow]:
    """The caller's agency's open requests that still have time left, soonest due first,
    each read decided and audited. Nothing else."""
    now = runtime.now()
    rows = db.scalars(
        records.scope(principal, InfoRequest, Action.REQUEST_READ)
        .where(InfoRequest.status == "open", InfoRequest.due_at > now)
        .order_by(InfoRequest.due_at, InfoRequest.id)
        .limit(1000)
    )
    requests = list(rows)
    accesses = firewall.decide_many(
        principal,
        Action.REQUEST_READ,
        [(records.request_resource(request), str(request.contact_id)) for request in requests],
    )
    listed = [
        InboxRow(
            id=str(request.id),
            contact_reference=request.contact_reference,
            contact_rag=request.contact_rag,
            requested_at=request.requested_at,
            due_at=request.due_at,
            time_left=request.due_at - now,
        )
        for request, access in zip(requests, accesses, strict=True)
        if access is not None
    ]
    return listed


def get_request_for(db: Session, principal: Principal, request_id: str) -> RequestView:
    """The need-to-know view, or RequestNotFound (missing, another agency's, past its due
    time or withdrawn: all the same)."""
    opened = records.open(
        db, principal, InfoRequest, request_id, Action.REQUEST_READ, missing=RequestNotFound
    )
    request, access = opened.record, opened.access
    opened.preload_keys(db)  # sealed for up to three agencies
    subjects = []
    listed = list(db.scalars(opened.rows(ContactSubject).order_by(ContactSubject.position)))
    # The subjects as they stand now: as recorded, with the corrections made during
    # screening (only those: a case note is the MASH's own and is never read here).
    corrected = db.scalars(
        opened.rows(ContactAmendment).where(ContactAmendment.kind == corrections.CORRECTED)
    )
    # The subjects stay sealed for the agency the contact came from.
    documents = corrections.subject_documents(
        listed,
        corrected,
        lambda row, column: opened.text(column, row=row, agency=request.source_agency),
    )
    for subject in listed:
        details = documents[subject.id]
        born = details.get("date_of_birth")
        subjects.append(
            SubjectDetails(
                role=subject.role,
                given_name=details["given_name"],
                family_name=details["family_name"],
                date_of_birth=date.fromisoformat(born) if born else None,
                address=details.get("address"),
                nhs_number=details.get("nhs_number"),
                upn=details.get("upn"),
            )
        )
    answer = None
    if request.contribution is not None and request.contribution.agency == principal.agency:
        answer = _answer_view(principal, request, request.contribution, own_access=access)
    return RequestView(
        id=str(request.id),
        agency=request.agency,
        status=effective_status(request, runtime.now()),
        contact_reference=request.contact_reference,
        contact_rag=request.contact_rag,
        requested_at=request.requested_at,
        due_at=request.due_at,
        question=opened.text("question"),
        subjects=tuple(subjects),
        answer=answer,
    )


def _question(access: firewall.Access, request: InfoRequest) -> str:
    return records.text_of(access, request, "question", agency=request.agency)


def _open_own_request(
    db: Session, principal: Principal, request_id: str, action: Action, now: datetime
) -> records.Opened[InfoRequest]:
    """The agency's own request, opened to answer it or to correct its answer.
    RequestNotFound for a missing request or another agency's; RequestConflict, saying
    why, for one of theirs that is no longer in a state for it."""
    try:
        return records.open(
            db, principal, InfoRequest, request_id, action,
            missing=RequestNotFound, refusal_shown=True,
        )  # fmt: skip
    except records.Denied as refused:
        request = refused.record
        if request.agency != principal.agency:
            raise RequestNotFound(request_id) from refused
        problem = _why_not(action, effective_status(request, now), now >= request.due_at)
        if problem is None and request.contact_rag not in ("red", "amber"):
            problem = "the contact is no longer Red or Amber"
        if problem is not None:
            raise RequestConflict(problem) from refused
        raise RequestNotFound(request_id) from refused


def _why_not(action: Action, status: str, late: bool) -> str | None:
    """Why a request in this state cannot be answered (or its answer corrected)."""
    if action is Action.REQUEST_ANSWER:
        return (
            None if status == "open" else f"the request is {status}: it can no longer be answered"
        )
    if status == "open":
        return "the request has not been answered yet"
    if status == "answered" and late:
        return "the request's due time has passed: its answer can no longer be corrected"
    if status != "answered":
        return f"the request is {status}: its answer can no longer be corrected"
    return None


def _check_answer(outcome: str, items: tuple[ItemInput, ...]) -> None:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
    if outcome == "information_held" and not items:
        raise ValueError("information held needs at least one item")
    if outcome != "information_held" and items:
        raise ValueError("only an answer of information held has items")
    for item in items:
        if item.measure is None:
            continue
        if item.measure.code not in MEASURES:
            raise ValueError(f"each item's measure must be one of: {', '.join(MEASURES)}")
        problem = measure_problem(item.measure.code, item.measure.value)
        if problem is not None:
            raise ValueError(f"the value of {MEASURES[item.measure.code].label.lower()} {problem}")


def answer_request(
    db: Session,
    principal: Principal,
    request_id: str,
    outcome: str,
    items: tuple[ItemInput, ...],
) -> Contribution:
    """Record the agency's one answer. RequestNotFound for a missing request or another
    agency's; RequestConflict once expired, withdrawn or answered."""
    _check_answer(outcome, items)
    now = runtime.now()
    opened = _open_own_request(db, principal, request_id, Action.REQUEST_ANSWER, now)
    request = opened.record
    # Only one answer, even when two arrive at once or expiry runs in between.
    claimed = _changed(
        db,
        update(InfoRequest)
        .where(InfoRequest.id == request.id, InfoRequest.status == "open")
        .values(status="answered", closed_at=now)
        .execution_options(synchronize_session=False),
    )
    if claimed != 1:
        raise RequestConflict("the request has already been answered or closed")
    db.refresh(request)
    contribution_id = uuid.uuid4()
    contribution = Contribution(
        id=contribution_id,
        request_id=request.id,
        contact_id=request.contact_id,
        agency=request.agency,
        outcome=outcome,
        answered_at=now,
        answered_by=principal.id,
    )
    for position, item in enumerate(items):
        contribution.items.append(_new_item(opened, request, position, item))
    db.add(contribution)
    db.flush()
    return contribution


def correct_answer(
    db: Session,
    principal: Principal,
    request_id: str,
    outcome: str,
    items: tuple[ItemInput, ...],
    reason: str,
) -> Contribution:
    """Replace the agency's answer with a corrected one, before the due time, keeping the
    version it replaces (its items sealed again for their own rows) with who replaced it,
    when and why. RequestNotFound for a missing request or another agency's;
    RequestConflict when not answered yet, or expired, withdrawn, past its due time or no
    longer on a Red or Amber contact."""
    _check_answer(outcome, items)
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("enter why you are correcting the answer")
    if len(reason) > REASON_MAX:
        raise ValueError(f"the reason must be {REASON_MAX} characters or fewer")
    now = runtime.now()
    opened = _open_own_request(db, principal, request_id, Action.REQUEST_CORRECT, now)
    request = opened.record
    # The answer comes with the request the firewall opened, never loaded on its own.
    contribution = request.contribution
    if contribution is None:  # pragma: no cover - an answered request has its answer
        raise RequestConflict("the request has not been answered yet")
    # One correction at a time: the count is compared and set, so of two at once the
    # second finds it moved and is refused rather than replacing the first unseen.
    version = contribution.corrections + 1
    claimed = _changed(
        db,
        update(Contribution)
        .where(
            Contribution.id == contribution.id,
            Contribution.corrections == contribution.corrections,
        )
        .values(corrections=version, corrected_at=now)
        .execution_options(synchronize_session=False),
    )
    if claimed != 1:
        raise RequestConflict(
            "the answer was corrected by someone else at the same moment: read it and retry"
        )
    earlier = contribution.revisions if contribution.corrections else []
    authors = [contribution.answered_by, *(r.replaced_by for r in earlier)]
    revision_id = uuid.uuid4()
    revision = ContributionRevision(
        id=revision_id,
        contribution_id=contribution.id,
        contact_id=contribution.contact_id,
        agency=contribution.agency,
        version=version,
        outcome=contribution.outcome,
        answered_at=contribution.corrected_at or contribution.answered_at,
        answered_by=authors[-1],
        replaced_at=now,
        replaced_by=principal.id,
        reason_sealed=opened.seal(
            "reason", reason, table="contribution_revisions", row_id=revision_id
        ),
    )
    for item in contribution.items:
        item_id = uuid.uuid4()
        kept = "contribution_revision_items"
        revision.items.append(
            ContributionRevisionItem(
                id=item_id,
                agency=item.agency,
                position=item.position,
                kind=item.kind,
                restricted=item.restricted,
                text_sealed=opened.seal(
                    "text", opened.text("text", row=item), table=kept, row_id=item_id
                ),
                # The measure goes with the text: its code as it was, its value sealed
                # again for the revision's own row.
                measure_code=item.measure_code,
                measure_sealed=opened.seal(
                    "measure", opened.text("measure", row=item), table=kept, row_id=item_id
                )
                if item.measure_sealed is not None
                else None,
            )
        )
    db.add(revision)
    contribution.items.clear()
    db.flush()
    for position, new in enumerate(items):
        contribution.items.append(_new_item(opened, request, position, new))
    contribution.outcome = outcome
    contribution.corrections = version
    contribution.corrected_at = now
    db.flush()
    db.refresh(contribution)
    return contribution


def _new_item(
    opened: records.Opened[InfoRequest], request: InfoRequest, position: int, item: ItemInput
) -> ContributionItem:
    """One item of the answer, its text and any measure's value sealed for its row."""
    item_id = uuid.uuid4()
    return ContributionItem(
        id=item_id,
        agency=request.agency,
        position=position,
        kind=item.kind,
        restricted=item.restricted,
        text_sealed=opened.seal("text", item.text, table="contribution_items", row_id=item_id),
        measure_code=item.measure.code if item.measure is not None else None,
        measure_sealed=opened.seal(
            "measure",
            _number(item.measure.value),
            table="contribution_items",
            row_id=item_id,
        )
        if item.measure is not None
        else None,
    )


def check_items(
    raw_items: list[tuple[str, str, bool, MeasureInput | None]],
) -> tuple[ItemInput, ...]:
    """Items as given: (kind, text, restricted, measure or None); ValueError naming the
    first bad one."""
    if len(raw_items) > MAX_ITEMS:
        raise ValueError(f"give {MAX_ITEMS} items or fewer")
    items = []
    for kind, text, restricted, measure in raw_items:
        if kind not in ITEM_KINDS:
            raise ValueError("each item is a fact or an opinion")
        if not text.strip():
            raise ValueError("each item needs its text")
        items.append(ItemInput(kind, text.strip(), bool(restricted), measure))
    return tuple(items)


# --- the MASH's side -----------------------------------------------------------------


def _contribution_reads(
    principal: Principal, requests: list[InfoRequest]
) -> dict[uuid.UUID, dict[bool, firewall.Access | None]]:
    """The reads of the answers to `requests`, decided together (one batch of audit
    events): per request, for its unrestricted items and for its restricted ones, as
    `_answer_view` would decide them one by one, in the order its items need them."""
    wanted = [
        (request, restricted)
        for request in requests
        if request.contribution is not None
        for restricted in dict.fromkeys(item.restricted for item in request.contribution.items)
    ]
    accesses = firewall.decide_many(
        principal,
        Action.CONTRIBUTION_READ,
        [
            (
                records.contribution_resource(
                    request.contribution, restricted=restricted, contact_rag=request.contact_rag
                ),
                str(request.contribution.contact_id),
            )
            for request, restricted in wanted
            if request.contribution is not None
        ],
    )
    decided: dict[uuid.UUID, dict[bool, firewall.Access | None]] = {}
    for (request, restricted), access in zip(wanted, accesses, strict=True):
        decided.setdefault(request.id, {})[restricted] = access
    return decided


def _measure_of(
    access: firewall.Access, item: ContributionItem | ContributionRevisionItem, agency: str
) -> MeasureView | None:
    """The measure an item carries, its value released under the item's own access."""
    if item.measure_code is None or item.measure_sealed is None:
        return None
    value = records.text_of(access, item, "measure", agency=agency)
    return MeasureView(item.measure_code, float(value))


def _answer_view(
    principal: Principal,
    request: InfoRequest,
    contribution: Contribution,
    own_access: firewall.Access | None = None,
    decided: dict[bool, firewall.Access | None] | None = None,
) -> AnswerView:
    """The answer with each item released, or marked withheld where the firewall refuses
    (an item restricted by its originator). Each decision is audited with the page. The
    originating agency reads its own answer under its allowed read of the request
    (`own_access`), restricted items included. `decided`: the reads already decided for
    this contribution, by restricted or not (see `_contribution_reads`)."""
    accesses: dict[bool, firewall.Access | None] = dict(decided or {})
    if own_access is not None:
        accesses = {False: own_access, True: own_access}
    items = []
    for item in contribution.items:
        if item.restricted not in accesses:
            accesses[item.restricted] = records.decide_contribution(
                principal, contribution, restricted=item.restricted, contact_rag=request.contact_rag
            )
        access = accesses[item.restricted]
        if access is None:
            items.append(ItemView(item.kind, item.restricted, True, None))
            continue
        text = records.text_of(access, item, "text", agency=contribution.agency)
        measure = _measure_of(access, item, contribution.agency)
        items.append(ItemView(item.kind, item.restricted, False, text, measure))

    def access_for(restricted: bool) -> firewall.Access | None:
        if restricted not in accesses:
            accesses[restricted] = records.decide_contribution(
                principal, contribution, restricted=restricted, contact_rag=request.contact_rag
            )
        return accesses[restricted]

    earlier = []
    for revision in contribution.revisions if contribution.corrections else ():
        shown = []
        for old in revision.items:
            access = access_for(old.restricted)
            released, measure = None, None
            if access is not None:
                released = records.text_of(access, old, "text", agency=revision.agency)
                measure = _measure_of(access, old, revision.agency)
            shown.append(ItemView(old.kind, old.restricted, access is None, released, measure))
        reader = access_for(False)
        earlier.append(
            EarlierAnswer(
                version=revision.version,
                outcome=revision.outcome,
                answered_at=revision.answered_at,
                replaced_at=revision.replaced_at,
                reason=records.text_of(reader, revision, "reason", agency=revision.agency)
                if reader is not None
                else None,
                items=tuple(shown),
            )
        )
    return AnswerView(
        id=str(contribution.id),
        agency=contribution.agency,
        outcome=contribution.outcome,
        answered_at=contribution.answered_at,
        items=tuple(items),
        corrected_at=contribution.corrected_at,
        earlier=tuple(earlier),
    )


def requests_on_contact(db: Session, principal: Principal, contact_id: str) -> list[RequestSummary]:
    """Every request on a contact with its answer, for MASH staff. RequestNotFound if the
    contact is not the caller's to see."""
    opened = records.open(
        db,
        principal,
        Contact,
        contact_id,
        Action.CONTRIBUTION_READ,
        decide_as=Action.CONTACT_READ,
        missing=RequestNotFound,
    )
    return _summaries(db, principal, opened)


def requests_on_opened_contact(
    db: Session, principal: Principal, access: firewall.Access
) -> list[RequestSummary]:
    """As `requests_on_contact`, for a contact this principal was just allowed to read (the
    contact page and the API's contact): the page's own access is the proof, so there is no
    second contact decision, and each request is still decided on its own."""
    return _summaries(db, principal, records.reopen(db, principal, access))


def measures_given(
    db: Session, principal: Principal, access: firewall.Access
) -> list[MeasureGiven]:
    """The measures in the latest answers on the contact that `access` opened (the caller
    opened it with contact:read or contact:decide), as `principal` may see them: an item
    withheld from the principal (restricted by another agency) gives nothing.

    Built on the answers the contact page shows this principal, so each request and each
    answer's items are decided and audited as they are there. Only the answer as it
    stands counts, never the earlier versions a correction replaced; `answered_at` is
    when that version was given (its correction's time, for a corrected answer)."""
    given = []
    for summary in requests_on_opened_contact(db, principal, access):
        answer = summary.answer
        if answer is None:
            continue
        for item in answer.items:
            if item.withheld or item.measure is None:
                continue
            given.append(
                MeasureGiven(
                    agency=answer.agency,
                    code=item.measure.code,
                    value=item.measure.value,
                    answered_at=answer.corrected_at or answer.answered_at,
                    request_id=summary.id,
                )
            )
    return given


def _summaries(
    db: Session, principal: Principal, opened: records.Opened[Contact]
) -> list[RequestSummary]:
    now = runtime.now()
    contact = opened.record
    summaries = []
    requests = list(
        db.scalars(opened.rows(InfoRequest).order_by(InfoRequest.requested_at, InfoRequest.agency))
    )
    cid = str(contact.id)
    decided = firewall.decide_many(
        principal,
        Action.REQUEST_READ,
        [(records.request_resource(request), cid) for request in requests],
    )
    shown = [
        (request, access)
        for request, access in zip(requests, decided, strict=True)
        if access is not None
    ]
    answers = _contribution_reads(principal, [request for request, _access in shown])
    for request, access in shown:
        answer = None
        if request.contribution is not None:
            answer = _answer_view(
                principal, request, request.contribution, decided=answers.get(request.id)
            )
        summaries.append(
            RequestSummary(
                id=str(request.id),
                agency=request.agency,
                agency_name=AGENCY_NAMES.get(request.agency, request.agency),
                status=effective_status(request, now),
                requested_at=request.requested_at,
                due_at=request.due_at,
                question=_question(access, request),
                answer=answer,
            )
        )
    return summaries


# --- bookkeeping: rating changes and the scheduler's jobs ------------------------------


def _system_event(
    kind: str,
    action: str,
    request: InfoRequest,
    reason: str,
    actor: str = SYSTEM_ACTOR,
    actor_type: str = "system",
) -> EventDraft:
    return EventDraft(
        kind=kind,
        actor_type=actor_type,
        actor_id=actor,
        agency=request.agency,
        action=action,
        object_type="InfoRequest",
        object_id=str(request.id),
        contact_id=str(request.contact_id),
        decision="allow",
        reason=reason,
    )


def contact_rated(db: Session, contact: Contact, principal: Principal) -> int:
    """Keep requests in step with a new rating: each carries the contact's rating, and a
    Green rating withdraws every open request at once. Returns how many were withdrawn."""
    db.execute(
        update(InfoRequest)
        .where(InfoRequest.contact_id == contact.id)
        .values(contact_rag=contact.rag or "none")
        .execution_options(synchronize_session=False)
    )
    if contact.rag != "green":
        return 0
    return _withdraw(
        db,
        records.bookkeeping(InfoRequest).where(InfoRequest.contact_id == contact.id),
        principal,
    )


def contact_closed(db: Session, contact: Contact, principal: Principal | None) -> int:
    """A contact that has left the MASH takes its open requests with it: each is withdrawn
    at once, so the partner's next read is refused. Returns how many were withdrawn."""
    return _withdraw(
        db,
        records.bookkeeping(InfoRequest).where(InfoRequest.contact_id == contact.id),
        principal,
        why="contact closed",
    )


def _withdrawn_events(
    request: InfoRequest, by: Principal | None, why: str = "contact rated green"
) -> list[EventDraft]:
    """Two events for one withdrawal. The MASH's, in the acting agency's trail (and, being
    on a contact, the MASH core's): who withdrew it and why. The partner's, in its own
    trail: a content-free marker naming the acting MASH agency and role, never the person
    and never the MASH's reasoning."""
    roles: tuple[str, ...] = ()
    if by is not None:
        roles = tuple(sorted(r.value for r in by.roles)) or tuple(
            sorted(s.value for s in by.scopes)
        )
    # The role the MASH acted in: a person's roles, or those an agency system's scopes
    # stand for (a screening client acts as a screener).
    acting_role = tuple(sorted(firewall.policy_actor(by).roles)) if by is not None else ()
    mash_side = replace(
        _system_event(
            "request.withdrawn",
            "request:withdraw",
            request,
            why,
            by.id if by is not None else SYSTEM_ACTOR,
            by.kind if by is not None else "system",
        ),
        agency=by.agency if by is not None else None,
        roles=roles,
    )
    marker = EventDraft(
        kind="request.withdrawn_marker",
        actor_type="system",
        actor_id=f"mash:{by.agency}" if by is not None else SYSTEM_ACTOR,
        agency=request.agency,
        roles=acting_role,
        action="request:withdraw",
        object_type="InfoRequest",
        object_id=str(request.id),
        decision="allow",
        reason="request withdrawn",
    )
    return [mash_side, marker]


def _withdraw(
    db: Session, query: object, by: Principal | None = None, *, why: str = "contact rated green"
) -> int:
    now = runtime.now()
    withdrawn = 0
    for request in db.scalars(query.where(InfoRequest.status == "open")):  # type: ignore[attr-defined]
        changed = _changed(
            db,
            update(InfoRequest)
            .where(InfoRequest.id == request.id, InfoRequest.status == "open")
            .values(status="withdrawn", closed_at=now)
            .execution_options(synchronize_session=False),
        )
        if changed == 1:
            withdrawn += 1
            for draft in _withdrawn_events(request, by, why):
                record(db, draft)
    db.expire_all()
    return withdrawn


def withdraw_green_requests(db: Session) -> int:
    """Job: withdraw open requests whose contact is rated Green (stragglers the rating
    service did not reach, e.g. a rating written by another process)."""
    green = select(Contact.id).where(Contact.rag == "green")
    return _withdraw(db, records.bookkeeping(InfoRequest).where(InfoRequest.contact_id.in_(green)))


def _escalate(db: Session, request: InfoRequest, kind: str) -> None:
    for agency, role in (("csc", Role.MASH_MANAGER), (request.agency, Role.GOVERNANCE_LEAD)):
        notify(
            db,
            agency=agency,
            role=role,
            kind=kind,
            object_type="InfoRequest",
            object_id=str(request.id),
            contact_reference=request.contact_reference,
            about_agency=request.agency,
            due_at=request.due_at,
            # The asked agency's mailbox hears of its own request once.
            to_mailbox=agency == request.agency,
        )
    record(
        db,
        _system_event("request.escalated", "request:escalate", request, kind),
    )


def expire_due_requests(db: Session) -> int:
    """Job: close every open request whose due time has passed, each exactly once (the
    conditional update is the claim), and escalate it as overdue."""
    return _expire(db)


def _expire(db: Session, *conditions: Any) -> int:
    """Close these open requests past their due time. Each is closed as of its due time,
    however late this runs (a scheduler that was down catches up later): that is when it
    stopped being answerable, and what response-time figures must count."""
    now = runtime.now()
    expired = 0
    due = db.scalars(
        records.bookkeeping(InfoRequest).where(
            InfoRequest.status == "open", InfoRequest.due_at <= now, *conditions
        )
    ).all()
    for request in due:
        changed = _changed(
            db,
            update(InfoRequest)
            .where(InfoRequest.id == request.id, InfoRequest.status == "open")
            .values(status="expired", closed_at=InfoRequest.due_at, escalation_level=2)
            .execution_options(synchronize_session=False),
        )
        if changed != 1:
            continue
        expired += 1
        record(
            db,
            _system_event("request.expired", "request:expire", request, "due time passed"),
        )
        _escalate(db, request, "request.overdue")
    db.expire_all()
    return expired


def escalate_due_soon(db: Session) -> int:
    """Job: escalate open requests within `[requests] escalate_before_due` of their due
    time, once each."""
    now = runtime.now()
    horizon = now + runtime.settings().requests.escalate_before_due.timedelta
    escalated = 0
    near = db.scalars(
        records.bookkeeping(InfoRequest).where(
            InfoRequest.status == "open",
            InfoRequest.escalation_level == 0,
            InfoRequest.due_at > now,
            InfoRequest.due_at <= horizon,
        )
    ).all()
    for request in near:
        changed = _changed(
            db,
            update(InfoRequest)
            .where(InfoRequest.id == request.id, InfoRequest.escalation_level == 0)
            .values(escalation_level=1)
            .execution_options(synchronize_session=False),
        )
        if changed == 1:
            escalated += 1
            _escalate(db, request, "request.due_soon")
    db.expire_all()
    return escalated


# --- response performance (the MASH manager's dashboard) -------------------------------


@dataclass(frozen=True)
class AgencyPerformance:
    agency: str
    agency_name: str
    answered: int
    expired: int
    open: int
    median_response: timedelta | None

    @property
    def answered_in_time_share(self) -> float | None:
        """Answers are only taken before the due time, so every answer is in time."""
        closed = self.answered + self.expired
        return self.answered / closed if closed else None


def response_performance(db: Session, days: int = 30) -> list[AgencyPerformance]:
    """Per agency, over requests sent in the last `days` days: answered in time, median
    response time, expired count. Counts and times only, no case content."""
    return response_performance_between(db, runtime.now() - timedelta(days=days), None)


def _seconds_between(db: Session, start: Any, end: Any) -> Any:
    """`end - start` in seconds, in SQL: PostgreSQL subtracts timestamps; SQLite keeps
    them as text, which julianday() reads."""
    if db.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def response_performance_between(
    db: Session, since: datetime, until: datetime | None
) -> list[AgencyPerformance]:
    """Per agency, over requests sent from `since` (inclusive) to `until` (or since then,
    for None): answered in
    time, expired, open, and the median response time. Counts and times only, no case
    content. Two aggregate queries, whatever the number of requests: the counts grouped
    by agency and state (an open request past its due time counts as expired, as the
    scheduler will close it), and the median from the one or two middle answers of each
    agency, found by numbering the answers in order of response time."""
    now = runtime.now()
    sent = [InfoRequest.requested_at >= since]
    if until is not None:
        sent.append(InfoRequest.requested_at < until)
    state = case(
        (and_(InfoRequest.status == "open", InfoRequest.due_at <= now), "expired"),
        else_=InfoRequest.status,
    ).label("state")
    counted = select(InfoRequest.agency, state).where(*sent, InfoRequest.status != "withdrawn")
    counted_rows = counted.subquery()
    by_agency: dict[str, dict[str, int]] = {}
    for agency, status, count in db.execute(
        select(counted_rows.c.agency, counted_rows.c.state, func.count()).group_by(
            counted_rows.c.agency, counted_rows.c.state
        )
    ):
        by_agency.setdefault(agency, {"answered": 0, "expired": 0, "open": 0})[status] = count
    seconds = _seconds_between(db, InfoRequest.requested_at, Contribution.answered_at)
    numbered = (
        select(
            InfoRequest.agency,
            seconds.label("seconds"),
            func.row_number().over(partition_by=InfoRequest.agency, order_by=seconds).label("n"),
            func.count().over(partition_by=InfoRequest.agency).label("total"),
        )
        .join(Contribution, Contribution.request_id == InfoRequest.id)
        .where(*sent, InfoRequest.status != "withdrawn")
        .subquery()
    )
    # The middle answer of an odd count, the two middle ones of an even count.
    middle = numbered.c.n.in_([(numbered.c.total + 1) // 2, (numbered.c.total + 2) // 2])
    medians = {
        agency: timedelta(seconds=round(float(value)))
        for agency, value in db.execute(
            select(numbered.c.agency, func.avg(numbered.c.seconds))
            .where(middle)
            .group_by(numbered.c.agency)
        )
    }
    return [
        AgencyPerformance(
            agency=agency,
            agency_name=AGENCY_NAMES.get(agency, agency),
            answered=stats["answered"],
            expired=stats["expired"],
            open=stats["open"],
            median_response=medians.get(agency),
        )
        for agency, stats in sorted(
            by_agency.items(), key=lambda item: AGENCY_NAMES.get(item[0], item[0])
        )
    ]


def response_performance_for(
    db: Session,
    principal: Principal,
    days: int = 30,
    *,
    between: tuple[datetime, datetime | None] | None = None,
) -> list[AgencyPerformance]:
    """`response_performance` (or `response_performance_between`, for `between`), for the
    agencies whose performance this principal may see (`performance:read`, each row
    decided and audited): a MASH manager or core lead every agency's, a partner's lead its
    own."""
    rows = (
        response_performance_between(db, *between)
        if between is not None
        else response_performance(db, days)
    )
    decided = firewall.decide_many(
        principal,
        Action.PERFORMANCE_READ,
        [(duties.agency_performance(row.agency), None) for row in rows],
    )
    return [row for row, access in zip(rows, decided, strict=True) if access is not None]


@dataclass(frozen=True)
class Escalation:
    at: datetime
    kind: str
    request_id: str
    agency: str
    contact_id: str


def escalations_for(db: Session, principal: Principal, limit: int = 20) -> list[Escalation]:
    """Request escalations sent to the principal's roles in their agency, newest first."""
    roles = [r.value for r in principal.roles if r in (Role.MASH_MANAGER, Role.GOVERNANCE_LEAD)]
    if not roles:
        return []
    sent = db.execute(
        select(Notification.created_at, Notification.kind, Notification.object_id)
        .where(
            Notification.recipient_agency == principal.agency,
            Notification.recipient_role.in_(roles),
            Notification.kind.in_(("request.due_soon", "request.overdue")),
        )
        .order_by(Notification.created_at.desc())
        .limit(limit)
    ).all()
    ids = [ident for ident in (_uuid(row.object_id) for row in sent) if ident is not None]
    requests = {
        str(row.id): row
        for row in db.execute(
            select(InfoRequest.id, InfoRequest.agency, InfoRequest.contact_id).where(
                InfoRequest.id.in_(ids)
            )
        )
    }
    return [
        Escalation(
            row.created_at,
            row.kind,
            row.object_id,
            requests[row.object_id].agency,
            str(requests[row.object_id].contact_id),
        )
        for row in sent
        if row.object_id in requests
    ]
