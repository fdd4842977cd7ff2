"""Every kind of audit event, declared once with the fields it must carry.

The writer refuses an event of an undeclared kind or with a required field missing, so a
new code path cannot quietly log less than the governance leads rely on.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class EventKind:
    name: str
    description: str
    required: frozenset[str]


_DECISION_FIELDS = frozenset({"actor_id", "action", "object_type", "decision", "reason"})
_PERSON_FIELDS = frozenset({"actor_id", "agency", "action", "object_id", "contact_id", "reason"})
_DISCLOSURE_FIELDS = frozenset({"actor_id", "agency", "action", "object_id", "contact_id"})

_KINDS = (
    EventKind(
        "access.decision",
        "The firewall decided whether someone may act on protected data",
        _DECISION_FIELDS | {"agency"},
    ),
    EventKind(
        "access.break_glass",
        "Someone used emergency access outside the normal rules",
        _DECISION_FIELDS | {"agency", "object_id"},
    ),
    EventKind(
        "break_glass.opened",
        "Emergency access was opened, with its reason and window",
        frozenset({"actor_id", "agency", "action", "reason"}),
    ),
    EventKind(
        "audit.exported",
        "A governance lead downloaded an audit search, with the filters and the row count",
        frozenset({"actor_id", "agency", "action", "object_id", "reason"}),
    ),
    EventKind(
        "contact.claimed",
        "A screener took a contact on (object_id: the assignee's user id)",
        frozenset({"actor_id", "agency", "action", "object_id", "contact_id", "reason"}),
    ),
    EventKind(
        "contact.amended",
        "A contact was amended during screening: a subject's details corrected, a person "
        "added or a case note added (object_id: the amendment; the words stay sealed)",
        frozenset({"actor_id", "agency", "action", "object_id", "contact_id", "reason"}),
    ),
    EventKind(
        "decision.proposed",
        "A screening outcome was proposed for a manager's sign-off",
        frozenset({"actor_id", "agency", "action", "object_id", "contact_id", "reason"}),
    ),
    EventKind(
        "decision.reviewed",
        "A MASH manager approved or returned a proposed outcome",
        frozenset({"actor_id", "agency", "action", "object_id", "contact_id", "reason"}),
    ),
    EventKind(
        "criteria.checked",
        "A screener or manager recorded the early-help programme criteria check of a contact "
        "(reason: each programme's result)",
        frozenset({"actor_id", "agency", "action", "object_id", "contact_id", "reason"}),
    ),
    EventKind(
        "referrer.email_queued",
        "An approved outcome queued an email telling the referrer their contact was considered "
        "(never the outcome); recorded as an acknowledgement once sent",
        frozenset({"actor_id", "agency", "action", "object_id", "contact_id", "reason"}),
    ),
    EventKind(
        "referrer.acknowledged",
        "The referrer was told the outcome of their contact",
        frozenset({"actor_id", "agency", "action", "object_id", "contact_id", "reason"}),
    ),
    EventKind(
        "request.expired",
        "The scheduler closed an information request that reached its due time unanswered",
        frozenset({"actor_id", "action", "object_id", "contact_id", "reason"}),
    ),
    EventKind(
        "referral.sent",
        "An approved outcome referred a family on to a receiving service (step-down)",
        frozenset({"actor_id", "agency", "action", "object_id", "contact_id", "reason"}),
    ),
    EventKind(
        "referral.decided",
        "A receiving service accepted or declined an onward referral",
        frozenset({"actor_id", "agency", "action", "object_id", "contact_id", "reason"}),
    ),
    EventKind(
        "referral.expired",
        "The scheduler closed an onward referral that reached its due time undecided",
        frozenset({"actor_id", "action", "object_id", "contact_id", "reason"}),
    ),
    EventKind(
        "request.withdrawn",
        "An open information request was withdrawn because its contact was rated Green (in "
        "the acting MASH agency's trail; the agency asked gets a request.withdrawn_marker)",
        frozenset({"actor_id", "action", "object_id", "contact_id", "reason"}),
    ),
    EventKind(
        "request.withdrawn_marker",
        "The MASH withdrew an agency's open request: the agency's own record of it, naming "
        "the acting MASH agency and role only (actor_id 'mash:<agency>'), with no reason",
        frozenset({"actor_id", "agency", "action", "object_id", "reason"}),
    ),
    EventKind(
        "request.escalated",
        "An information request near or past its due time was escalated to the MASH manager "
        "and the agency's lead",
        frozenset({"actor_id", "action", "object_id", "contact_id", "reason"}),
    ),
    EventKind(
        "break_glass.reviewed",
        "A governance lead recorded the outcome of a break-glass review",
        frozenset({"actor_id", "agency", "action", "object_id", "reason"}),
    ),
    EventKind(
        "person.read",
        "A person's details from the register were shown, for a contact",
        _PERSON_FIELDS,
    ),
    EventKind(
        "person.created",
        "A screener added a contact's subject to the person register",
        _PERSON_FIELDS,
    ),
    EventKind(
        "person.linked", "A screener linked a contact's subject to a known person", _PERSON_FIELDS
    ),
    EventKind("person.merge_proposed", "A screener proposed merging two persons", _PERSON_FIELDS),
    EventKind(
        "person.merge_approved", "A MASH manager approved a merge of two persons", _PERSON_FIELDS
    ),
    EventKind("person.merge_rejected", "A MASH manager rejected a proposed merge", _PERSON_FIELDS),
    EventKind("person.merge_undone", "A MASH manager undid an approved merge", _PERSON_FIELDS),
    EventKind(
        "person.repeat_contact_shown",
        "A repeat-contact warning and a child's earlier contacts were shown",
        _PERSON_FIELDS,
    ),
    EventKind(
        "person.possible_repeat_shown",
        "Possible repeat contacts found on intake (before any link) were shown, with each "
        "earlier contact's reference, date, rating and status",
        _PERSON_FIELDS,
    ),
    EventKind(
        "person.possible_repeat_rejected",
        "A screener said a possible repeat contact names someone else",
        _PERSON_FIELDS,
    ),
    EventKind(
        "retention.listed",
        "The scheduler listed a closed contact past its retention period for review",
        frozenset({"actor_id", "action", "object_id", "contact_id", "reason"}),
    ),
    EventKind(
        "retention.held",
        "A governance lead placed a legal hold, stopping a contact's deletion",
        frozenset({"actor_id", "agency", "action", "object_id", "contact_id", "reason"}),
    ),
    EventKind(
        "retention.hold_lifted",
        "A governance lead lifted a legal hold",
        frozenset({"actor_id", "agency", "action", "object_id", "contact_id", "reason"}),
    ),
    EventKind(
        "retention.deleted",
        "A governance lead deleted a contact past its retention period (its keys destroyed)",
        frozenset({"actor_id", "agency", "action", "object_id", "contact_id", "reason"}),
    ),
    EventKind(
        "access.gate_refused",
        "The gate refused a request before any record was opened: the principal lacks the "
        "endpoint's permission (object_id: the record id in the path, if any)",
        frozenset({"actor_id", "agency", "action", "object_type", "decision", "reason"}),
    ),
    EventKind(
        "sign_in.refused",
        "A password or security code at sign-in was refused "
        "(actor_id: the account's id if the email is a known account, else 'unknown'; never "
        "what was typed)",
        frozenset({"actor_id", "action", "decision", "reason"}),
    ),
    EventKind(
        "sign_in.held_back",
        "Sign-in steps or token requests were turned away before any credential was checked, "
        "for too many failures from one address or against one account (the first per "
        "address and window; the rest are in the log)",
        frozenset({"actor_id", "action", "decision", "reason"}),
    ),
    EventKind(
        "user.unlocked",
        "An operator let a person sign in again at once: their failed attempts were forgotten",
        frozenset({"actor_id", "agency", "action", "object_id", "reason"}),
    ),
    EventKind(
        "step_up.refused",
        "A fresh security code asked for before a sensitive action (audit export, retention "
        "deletion, break-glass) was wrong or already used",
        frozenset({"actor_id", "agency", "action", "decision", "reason"}),
    ),
    EventKind(
        "sign_in.oidc_refused",
        "An agency identity provider's sign-in was refused (state, token, MFA or group)",
        frozenset({"actor_id", "action", "decision", "reason", "agency"}),
    ),
    EventKind(
        "client.revoked",
        "An operator revoked an agency system's API client and every live token it held",
        frozenset({"actor_id", "action", "decision", "reason", "agency", "object_id"}),
    ),
    EventKind(
        "sign_in.oidc_completed",
        "Someone signed in through their agency's identity provider (account created or found)",
        frozenset({"actor_id", "action", "decision", "reason", "agency", "object_id"}),
    ),
    EventKind(
        "notifications.email_chosen",
        "A person chose which kinds of message also reach them by email (object_id: their "
        "user id; reason: the kinds turned on and off)",
        frozenset({"actor_id", "agency", "action", "object_id", "reason"}),
    ),
    EventKind(
        "breach.recorded",
        "A governance lead or MASH manager recorded a suspected personal data breach",
        frozenset({"actor_id", "agency", "action", "object_id", "reason"}),
    ),
    EventKind(
        "breach.updated",
        "A breach was followed up (action: what was added: containment, audit events linked, "
        "parties told, the reporting decision, the report to the ICO)",
        frozenset({"actor_id", "agency", "action", "object_id", "reason"}),
    ),
    EventKind(
        "breach.escalated",
        "The scheduler escalated a breach's clock that was close to or past its deadline "
        "(reason: the clock and stage)",
        frozenset({"actor_id", "action", "object_id", "reason"}),
    ),
    EventKind(
        "report.exported",
        "The MASH's performance figures were downloaded as CSV (reason: the range, the "
        "period and the number of figures; aggregates only, small numbers suppressed)",
        frozenset({"actor_id", "agency", "action", "object_id", "reason"}),
    ),
    EventKind(
        "breach.exported",
        "A breach's fields for the ICO's report were downloaded",
        frozenset({"actor_id", "agency", "action", "object_id", "reason"}),
    ),
    EventKind(
        "webhook.subscribed",
        "An agency system (or an operator for it) registered a webhook callback (reason: the "
        "kinds it wants)",
        frozenset({"actor_id", "agency", "action", "object_id", "reason"}),
    ),
    EventKind(
        "webhook.ended",
        "A webhook subscription was ended, by its system, an operator, or the revocation of "
        "its client",
        frozenset({"actor_id", "agency", "action", "object_id", "reason"}),
    ),
    EventKind(
        "disclosure.started",
        "A MASH manager recorded a disclosure out of the MASH: recipient, purpose, lawful "
        "basis and the items to release",
        _DISCLOSURE_FIELDS,
    ),
    EventKind(
        "disclosure.read",
        "A disclosure's record was shown (its page or print view)",
        _DISCLOSURE_FIELDS,
    ),
    EventKind(
        "disclosure.approved",
        "An originating agency approved releasing its restricted items in a disclosure",
        _DISCLOSURE_FIELDS,
    ),
    EventKind(
        "disclosure.refused",
        "An originating agency refused releasing its restricted items in a disclosure",
        _DISCLOSURE_FIELDS,
    ),
    EventKind(
        "disclosure.completed",
        "A MASH manager completed a disclosure with a fresh security code: the information left "
        "the MASH",
        _DISCLOSURE_FIELDS,
    ),
    EventKind(
        "disclosure.code_refused",
        "A disclosure was not completed: the security code was wrong or already used",
        _DISCLOSURE_FIELDS,
    ),
)

EVENT_KINDS: MappingProxyType[str, EventKind] = MappingProxyType({k.name: k for k in _KINDS})


class UndeclaredEventError(ValueError):
    """An audit event of an unknown kind, or missing a field its kind requires."""


def check_fields(kind: str, fields: dict[str, object]) -> None:
    declared = EVENT_KINDS.get(kind)
    if declared is None:
        raise UndeclaredEventError(f"audit event kind {kind!r} is not declared")
    missing = sorted(name for name in declared.required if fields.get(name) in (None, ""))
    if missing:
        raise UndeclaredEventError(f"audit event {kind!r} lacks {', '.join(missing)}")
