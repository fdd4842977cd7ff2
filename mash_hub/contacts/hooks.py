"""What the packages built on contacts add to it. People and sharing import contacts, so
contacts cannot import them; the app factory plugs their parts in here at start.

- `created`: after a contact is created, in its unit of work (people stores candidate
  matches for review).
- `rated`: after a rating, in its unit of work (sharing keeps requests in step: a Green
  rating withdraws every open request at once).
- `closed`: after the contact leaves the MASH (its outcome passed on), in its unit of work
  (sharing withdraws every open request at once).
- `amended`: after a subject is corrected or a person added during screening, in its unit
  of work, with the subject's details as they now stand (people indexes them, so repeat
  warnings and the register's suggestions see the corrected details).
- `approved`: after a MASH manager approves a proposed outcome, in its unit of work, with
  the reason for a referral the manager wrote for the receiving service (referrals refers
  the family on where `[referrals] receivers` names a service for the outcome).
- `stepped_up`: a new contact coming back from a receiving service names the onward
  referral it comes through; referrals checks it is the service's own, accepted, and
  gives the earlier contact (a step-up links the two).
- `requests`: the contact's information requests and answers, for a page that has just
  opened the contact with `access` (the decision and sign-off page shows them).

The contact page and the API's contact are composed above all three, in `casefile`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from sqlalchemy.orm import Session

from mash_hub.authz.gate import Principal
from mash_hub.contacts.models import Contact, ContactDecision, ContactSubject
from mash_hub.firewall import Access

_KEY = "mash.contact_hooks"


class StepUpRefused(Exception):
    """The referral named for a step-up is not one the creating agency may step up from;
    the message says why (the API's 422 on `stepped_up_from_referral`)."""


@dataclass(frozen=True)
class ContactHooks:
    created: Callable[[Session, Access, Contact], object]
    rated: Callable[[Session, Contact, Principal], object]
    # The principal is None when the hub closes it itself (the referrer's email was sent).
    closed: Callable[[Session, Contact, Principal | None], object]
    requests: Callable[[Session, Principal, Access], Sequence[object]] | None = None
    amended: Callable[[Session, Access, Contact, ContactSubject, dict[str, Any]], object] | None = (
        None
    )
    approved: (
        Callable[[Session, Principal, Contact, ContactDecision, str | None], object] | None
    ) = None
    # A step-up: the onward referral (by id) a new contact comes back through, checked as
    # the creating agency's own (read under its own decision); returns the earlier
    # contact's (id, reference), or raises StepUpRefused.
    stepped_up: Callable[[Session, Principal, str], tuple[str, str]] | None = None


def install(app: Flask, hooks: ContactHooks) -> None:
    app.extensions[_KEY] = hooks


def hooks() -> ContactHooks:
    value: ContactHooks = current_app.extensions[_KEY]
    return value
