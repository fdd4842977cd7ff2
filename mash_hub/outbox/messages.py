"""What a message says, per kind, and how it is written from an outbox row.

Only fixed sentences, the contact reference, agency names, the due time (UK time) and a
link to the hub ever go into a message: never a name, date of birth, address, concern,
question or answer. The row holds nothing else to put in (see `models`), and the canary
test (tests/functional/test_outbox_no_case_content.py) checks every kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mash_hub.agencies import agency_name
from mash_hub.uktime import when


@dataclass(frozen=True)
class Kind:
    subject: str
    summary: str


KINDS: dict[str, Kind] = {
    "break_glass.opened": Kind(
        "Emergency access opened",
        "Emergency access was opened and is waiting for your review",
    ),
    "request.sent": Kind(
        "Information request for your agency",
        "The MASH has sent your agency an information request; answer it in the hub before "
        "it is due",
    ),
    "request.due_soon": Kind(
        "Information request due soon",
        "An information request is close to its due time and not yet answered",
    ),
    "request.overdue": Kind(
        "Information request expired without an answer",
        "An information request ran out without an answer",
    ),
    "decision.returned": Kind(
        "Proposed outcome returned",
        "A MASH manager returned a proposed outcome with a reason; look again at the contact",
    ),
    "decision.approved": Kind(
        "Outcome approved: tell the referrer",
        "A MASH manager approved the outcome of a contact; the referrer is to be told within "
        "one working day",
    ),
    "retention.review_due": Kind(
        "Retention review due",
        "A closed contact has passed its retention period and is listed for your review",
    ),
    "disclosure.approval_needed": Kind(
        "Disclosure waiting for your decision",
        "A disclosure out of the MASH includes your agency's restricted information and "
        "waits for your decision",
    ),
    "disclosure.decided": Kind(
        "Decision recorded on your disclosure",
        "An agency recorded its decision on a disclosure you started",
    ),
    "step_up.locked": Kind(
        "Security codes refused for a while",
        "Someone in your agency entered too many wrong security codes for a sensitive "
        "action; their fresh codes are refused for a while",
    ),
    "breach.recorded": Kind(
        "Suspected personal data breach recorded",
        "A suspected personal data breach concerning your agency was recorded",
    ),
    "breach.partners_due_soon": Kind(
        "Breach: the time to tell the other parties is nearly up",
        "The time to tell the other parties about a personal data breach is nearly up",
    ),
    "breach.partners_overdue": Kind(
        "Breach: the time to tell the other parties has run out",
        "The time to tell the other parties about a personal data breach has run out",
    ),
    "breach.ico_due_soon": Kind(
        "Breach: the 72 hours for the ICO are nearly up",
        "The 72 hours to report a personal data breach to the Information Commissioner are "
        "nearly up and no decision is recorded",
    ),
    "breach.ico_overdue": Kind(
        "Breach: the 72 hours for the ICO have run out",
        "The 72 hours to report a personal data breach to the Information Commissioner have "
        "run out",
    ),
    "referrer.outcome": Kind(
        "Your contact to the MASH has been considered",
        "The MASH has looked at your contact and decided what happens next",
    ),
    "referrer.email_failed": Kind(
        "Email to a referrer not sent: tell them another way",
        "The email telling a referrer that their contact was considered could not be sent; "
        "tell them another way and record it",
    ),
    "referral.sent": Kind(
        "Family referred to your service",
        "The MASH has referred a family to your service; accept or decline the referral in "
        "the hub before it is due",
    ),
    "referral.decided": Kind(
        "Onward referral accepted or declined",
        "The service a family was referred to has recorded its decision on the referral",
    ),
    "referral.expired": Kind(
        "Onward referral ran out without a decision",
        "The service a family was referred to did not accept or decline the referral by "
        "its due time",
    ),
    "sign_in.held_back": Kind(
        "Sign-ins held back",
        "Someone failed to sign in to the account of a person in your agency many times; "
        "sign-ins from places the person does not use are held back for a while",
    ),
}

# Kinds about a request (or a referral) to an agency: that agency's shared mailbox
# receives them too.
REQUEST_KINDS = frozenset({"request.sent", "request.due_soon", "request.overdue", "referral.sent"})

# Kinds sent to someone outside the hub (the referrer), who cannot sign in: no link.
OUTSIDE_KINDS = frozenset({"referrer.outcome"})

# Where a link takes the reader, by the kind of thing the message is about (ids only).
LINKS = {
    "InfoRequest": "/requests/{id}",
    "OnwardReferral": "/referrals/{id}",
    "Contact": "/contacts/{id}",
    "BreakGlassGrant": "/governance/break-glass/{id}",
    "Disclosure": "/disclosures/{id}",
    "RetentionReview": "/governance/retention",
    "Breach": "/governance/breaches/{id}",
}


@dataclass(frozen=True)
class Email:
    """One message as a channel sends it."""

    idempotency_key: str
    to: str
    kind: str
    subject: str
    body: str
    # The same facts as named fields, for a GOV.UK Notify template.
    personalisation: dict[str, str]


def link(base_url: str, object_type: str, object_id: str) -> str:
    path = LINKS.get(object_type, "/").format(id=object_id)
    return f"{base_url.rstrip('/')}{path}"


def write(
    *,
    idempotency_key: str,
    to: str,
    kind: str,
    object_type: str,
    object_id: str,
    contact_reference: str | None,
    about_agency: str | None,
    recipient_agency: str,
    due_at: datetime | None,
    base_url: str,
    recipient_kind: str = "user",
    reply_to: str = "",
) -> Email:
    if kind in OUTSIDE_KINDS:
        return _to_referrer(idempotency_key, to, kind, contact_reference, reply_to)
    what = KINDS[kind]
    agency = agency_name(about_agency or recipient_agency)
    due = f"{when(due_at)} (UK time)" if due_at is not None else ""
    url = link(base_url, object_type, object_id)
    lines = [f"{what.summary}.", ""]
    if contact_reference:
        lines.append(f"Contact reference: {contact_reference}")
    lines.append(f"Agency: {agency}")
    if due:
        lines.append(f"Due: {due}")
    lines += [
        "",
        f"Sign in to the MASH Hub to see it: {url}",
        "",
        "This message never holds case details: they are only in the hub.",
        f"Message reference: {idempotency_key}",
        "",
    ]
    subject = f"MASH Hub: {what.subject}"
    if contact_reference:
        subject += f" ({contact_reference})"
    return Email(
        idempotency_key=idempotency_key,
        to=to,
        kind=kind,
        subject=subject,
        body="\n".join(lines),
        personalisation={
            "subject": subject,
            "summary": what.summary,
            "reference": contact_reference or "",
            "agency": agency,
            "due": due,
            "link": url,
            "message_reference": idempotency_key,
        },
    )


def _to_referrer(
    idempotency_key: str, to: str, kind: str, contact_reference: str | None, reply_to: str
) -> Email:
    """The referrer's acknowledgement: their contact was considered. Never the outcome or
    anything else about the child or family: the referrer hears that by asking the MASH,
    who can check who they are."""
    what = KINDS[kind]
    reference = contact_reference or ""
    lines = [
        "Thank you for your contact to the Multi-Agency Safeguarding Hub (MASH).",
        "",
        f"{what.summary}.",
        "",
        f"Contact reference: {reference}",
    ]
    if reply_to:
        lines += ["", f"To hear more, contact the MASH: {reply_to}. Quote the reference."]
    lines += [
        "",
        "This message never holds details of the contact, the child or the family.",
        f"Message reference: {idempotency_key}",
        "",
    ]
    subject = f"{what.subject} ({reference})" if reference else what.subject
    return Email(
        idempotency_key=idempotency_key,
        to=to,
        kind=kind,
        subject=subject,
        body="\n".join(lines),
        personalisation={
            "subject": subject,
            "summary": what.summary,
            "reference": reference,
            "agency": "",
            "due": "",
            "link": "",
            "reply_to": reply_to,
            "message_reference": idempotency_key,
        },
    )
