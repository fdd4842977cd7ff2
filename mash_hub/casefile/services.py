"""Composing a contact's case file. The contact is opened once, through the firewall; each
other part (people, requests and answers, disclosures) is handed that access as proof and
decides its own records from there. Nothing here commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mash_hub.authz.gate import Principal
from mash_hub.authz.permissions import Permission, Role
from mash_hub.contacts import services as contacts
from mash_hub.disclosure import services as disclosure
from mash_hub.firewall import records
from mash_hub.firewall.decisions import EmergencyWindow, emergency_window
from mash_hub.people import services as people
from mash_hub.policy import Action
from mash_hub.referrals import services as onward
from mash_hub.sharing import services as sharing

# Raised for a contact that is missing or on the other side of the firewall (one answer),
# and for one deleted under retention (only its tombstone is left).
ContactNotFound = contacts.ContactNotFound
ContactDeleted = contacts.ContactDeleted


@dataclass(frozen=True)
class CaseFile:
    """What the contact page shows. A part is None when this principal's role does not
    see it at all (as opposed to an empty list: seen, and nothing there)."""

    contact: contacts.ContactView
    people: people.ContactPeople | None
    requests: list[sharing.RequestSummary] | None
    disclosures: list[tuple[str, str, str, str, datetime]] | None
    can_decide_merges: bool
    # A closed contact, opened read only: the page offers no change.
    read_only: bool = False
    # The manager's own open emergency window on this contact, for the page's banner.
    emergency: EmergencyWindow | None = None
    # Screening staff may correct its people, add one, or add a case note (the firewall
    # decides each under contact:rate, which refuses a closed contact).
    can_amend: bool = False
    # Onward referrals made on it (step-down), each decided under referral:read.
    referrals: list[onward.ReferralSummary] | None = None


@dataclass(frozen=True)
class ApiContact:
    """What GET /api/v1/contacts/{id} answers (shared/docs/api.md)."""

    contact: contacts.ContactView
    warnings: list[dict[str, str | None]]
    requests: list[sharing.RequestSummary]
    referrals: list[onward.ReferralSummary]


def case_file(db: Session, principal: Principal, contact_id: str) -> CaseFile:
    """The contact page's parts for this principal; ContactNotFound or ContactDeleted."""
    view = contacts.get_contact_for(db, principal, contact_id, page=True)
    read_only = view.access.action is Action.CONTACT_REVIEW
    try:
        register = people.people_for_contact(db, principal, view.id)
    except people.PersonNotFound:  # pragma: no cover - the contact was just opened
        register = None
    return CaseFile(
        contact=view,
        people=register,
        requests=(
            sharing.requests_on_opened_contact(db, principal, view.access)
            if principal.can(Permission.REQUESTS_SEND)
            else None
        ),
        disclosures=(
            disclosure.on_contact(db, principal, view.access)
            if principal.can(Permission.DISCLOSURES_MAKE)
            else None
        ),
        can_decide_merges=principal.can(Permission.PERSONS_MERGE_DECIDE) and not read_only,
        read_only=read_only,
        emergency=(
            emergency_window(principal, view.id) if Role.MASH_MANAGER in principal.roles else None
        ),
        can_amend=principal.can(Permission.CONTACTS_AMEND) and not read_only,
        referrals=(
            onward.referrals_on_opened_contact(db, principal, view.access)
            if principal.can(Permission.CONTACTS_VIEW)
            else None
        ),
    )


def api_contact(db: Session, principal: Principal, contact_id: str) -> ApiContact:
    """The API's contact for an agency system; ContactNotFound or ContactDeleted."""
    view = contacts.get_contact_for(db, principal, contact_id)
    return ApiContact(
        contact=view,
        warnings=people.repeat_contact_warnings(db, principal, view.access),
        requests=sharing.requests_on_opened_contact(db, principal, view.access),
        referrals=onward.referrals_on_opened_contact(db, principal, view.access),
    )


@dataclass(frozen=True)
class ClosedContact:
    """What MASH staff refused a contact's page may know of it: its history entry."""

    reference: str
    status: str
    received_at: datetime
    closed_at: datetime | None


def closed_for(db: Session, principal: Principal, contact_id: str) -> ClosedContact | None:
    """The history entry of a contact this principal may not open but may know has left
    screening (decided under contact:history); None for anyone else, or an open contact."""
    if not principal.roles & {Role.SCREENER, Role.MASH_MANAGER}:
        return None
    contact = records.in_history(db, principal, contact_id)
    if contact is None or contact.status != "closed":
        return None
    return ClosedContact(contact.reference, contact.status, contact.received_at, contact.closed_at)
