"""Signed webhooks to agency systems: subscriptions, the CloudEvents body, the signature,
the receiver's check, and the HTTP call.

An API client subscribes a callback URL on the `[notifications] webhook_allow` list to some
of the kinds in `KIND_SCOPES` (each needs one of the named scopes). When the hub notifies
the client's agency of such a kind, the outbox holds one "systems" row for the event
(`services.enqueue`); the delivery process expands it into one "webhook" row per
subscription that wants the kind, and sends each like an email: retried with backoff,
dead after `max_attempts`, the same id on every attempt.

A delivery (api.md): `POST url`, `Content-Type: application/cloudevents+json`, a
CloudEvents 1.0 body whose `data` holds ids, the contact reference, the agency and the due
time only, never case content, and the headers of the Standard Webhooks layout:
`Webhook-Id` (the message's idempotency key, the same on every attempt),
`Webhook-Timestamp` (Unix seconds when this attempt was signed) and `Webhook-Signature`
(`v1,` and the base64 HMAC-SHA-256, under the subscription's secret, of
"<id>.<timestamp>.<body>"). A receiver checks it with `verify`: it refuses a bad
signature, a timestamp more than five minutes away, and an id it has already accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, MutableSet
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from mash_hub import runtime
from mash_hub.agencies import agency_name
from mash_hub.audit.services import EventDraft, record
from mash_hub.authz.permissions import Scope
from mash_hub.crypto import resealing
from mash_hub.crypto.sealing import SealError, open_sealed, purpose_key, seal
from mash_hub.http.times import api_time, api_time_or_none
from mash_hub.outbox.channels import SendFailed
from mash_hub.outbox.messages import KINDS, link
from mash_hub.outbox.models import WebhookSubscription

# The kinds an agency system may subscribe to, and the scopes that let it (one is enough):
# a system that reads or answers its agency's requests hears of them; a screening system
# hears of its agency's decisions.
_REQUESTS = frozenset({Scope.REQUESTS_READ, Scope.CONTRIBUTIONS_WRITE})
_SCREENING = frozenset({Scope.SCREENING_READ, Scope.SCREENING_WRITE})
# A receiving service's system (an early-help case system) hears of families referred to it.
_REFERRALS = frozenset({Scope.REFERRALS_READ, Scope.REFERRALS_WRITE})
KIND_SCOPES: dict[str, frozenset[Scope]] = {
    "request.sent": _REQUESTS,
    "request.due_soon": _REQUESTS,
    "request.overdue": _REQUESTS,
    "decision.returned": _SCREENING,
    "decision.approved": _SCREENING,
    "referral.sent": _REFERRALS,
}
assert set(KIND_SCOPES) <= set(KINDS)  # noqa: S101 - a declaration checked at import

EVENT_TYPE_PREFIX = "uk.mash-hub."
SECRET_PREFIX = "whsec_"  # noqa: S105 - the secrets' printed prefix, not a secret
# A receiver refuses a delivery signed further than this from its own clock.
TOLERANCE_SECONDS = 300
MAX_SUBSCRIPTIONS_PER_CLIENT = 10

_PURPOSE = "webhook-secret"
_COLUMN = "webhook_subscriptions.secret_sealed"


class SubscriptionRefused(Exception):
    """Bad input for a subscription, by field (the API's 422 `fields`)."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


class SubscriptionNotFound(Exception):
    pass


class WebhookRefused(Exception):
    """A receiver's refusal of a delivery (`verify`)."""


# --- the allow-list ---------------------------------------------------------------------


def url_problem(url: str, allow: Iterable[str]) -> str | None:
    """Why `url` may not be called, or None. It must fall under one of the allowed
    prefixes: the same scheme, host and port, and a path that starts with the allowed one
    (compared after parsing, so "https://ehm.example.evil/" is not under
    "https://ehm.example/"); no credentials, fragment or ".." in it."""
    if not isinstance(url, str) or not url or len(url) > 500:
        return "enter the callback URL (at most 500 characters)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "enter a valid URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "enter an https:// URL"
    if parts.username or parts.password or parts.fragment or ".." in parts.path.split("/"):
        return "the URL may not hold credentials, a fragment or '..'"
    for allowed in allow:
        rule = urlsplit(allowed)
        if (
            parts.scheme == rule.scheme
            and parts.hostname == rule.hostname
            and port == rule.port
            and (parts.path or "/").startswith(rule.path or "/")
        ):
            return None
    return "the URL is not on the hub's list of allowed callback addresses"


def _allow() -> tuple[str, ...]:
    return runtime.settings().notifications.webhook_allow


# --- secrets ----------------------------------------------------------------------------


def _key(master: bytes | None = None) -> bytes:
    return purpose_key(master if master is not None else runtime.master_key(), _PURPOSE)


def _aad(subscription_id: uuid.UUID) -> bytes:
    return f"{_COLUMN}:{subscription_id}".encode()


def _secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def secret_of(subscription: WebhookSubscription) -> str:
    raw = open_sealed(_key(), subscription.secret_sealed, _aad(subscription.id))
    return SECRET_PREFIX + base64.b64encode(raw).decode()


def reseal_secrets(db: Session, old_master: bytes, new_master: bytes) -> int:
    """Re-seal every subscription's secret in a master key rotation (a re-run leaves those
    already under the new key alone)."""
    old_key, new_key = _key(old_master), _key(new_master)
    count = 0
    for row in db.scalars(
        select(WebhookSubscription).order_by(WebhookSubscription.id).with_for_update()
    ):
        aad = _aad(row.id)
        try:
            raw = open_sealed(old_key, row.secret_sealed, aad)
        except SealError:
            try:
                open_sealed(new_key, row.secret_sealed, aad)
            except SealError as err:
                raise resealing.ResealError(
                    f"the secret of webhook subscription {row.id} opens under neither key"
                ) from err
            continue
        row.secret_sealed = seal(new_key, raw, aad)
        count += 1
    db.flush()
    return count


resealing.register(_COLUMN, reseal_secrets)


# --- subscriptions ----------------------------------------------------------------------


@dataclass(frozen=True)
class Subscriber:
    """The API client subscribing (or an operator acting for it)."""

    client_id: str
    agency: str
    scopes: frozenset[Scope]


def kinds_for(scopes: frozenset[Scope]) -> list[str]:
    return [kind for kind, needs in KIND_SCOPES.items() if needs & scopes]


def subscribe(
    db: Session, subscriber: Subscriber, url: Any, kinds: Any, *, actor: str
) -> tuple[WebhookSubscription, str]:
    """Register a callback; returns it and its secret (shown once, kept only sealed).
    Audited in the caller's unit of work."""
    fields: dict[str, str] = {}
    problem = url_problem(url, _allow())
    if problem:
        fields["url"] = problem
    allowed = kinds_for(subscriber.scopes)
    if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
        fields["kinds"] = "give a list of kinds, from: " + ", ".join(allowed or ["(none)"])
    else:
        unknown = sorted({k for k in kinds if k not in KIND_SCOPES})
        refused = sorted({k for k in kinds if k in KIND_SCOPES and k not in allowed})
        if unknown:
            fields["kinds"] = f"unknown kinds: {', '.join(unknown)}"
        elif refused:
            fields["kinds"] = f"this client's scopes do not cover: {', '.join(refused)}"
    if not fields and len(active(db, subscriber.client_id)) >= MAX_SUBSCRIPTIONS_PER_CLIENT:
        fields["url"] = (
            f"a client has at most {MAX_SUBSCRIPTIONS_PER_CLIENT} subscriptions: end one first"
        )
    if fields:
        raise SubscriptionRefused(fields)
    raw = secrets.token_bytes(32)
    ident = uuid.uuid4()
    subscription = WebhookSubscription(
        id=ident,
        client_id=subscriber.client_id,
        agency=subscriber.agency,
        url=url,
        kinds=" ".join(sorted(set(kinds), key=list(KIND_SCOPES).index)),
        secret_sealed=seal(_key(), raw, _aad(ident)),
        created_at=runtime.now(),
        created_by=actor,
    )
    db.add(subscription)
    db.flush()
    _audit(db, subscription, "webhook.subscribed", actor, f"kinds: {subscription.kinds}")
    return subscription, SECRET_PREFIX + base64.b64encode(raw).decode()


def active(db: Session, client_id: str | None = None) -> list[WebhookSubscription]:
    query = select(WebhookSubscription).where(WebhookSubscription.ended_at.is_(None))
    if client_id is not None:
        query = query.where(WebhookSubscription.client_id == client_id)
    return list(db.scalars(query.order_by(WebhookSubscription.created_at)))


def as_json(subscription: WebhookSubscription) -> dict[str, object]:
    """A subscription as the API lists it: never its secret."""
    return {
        "id": str(subscription.id),
        "url": subscription.url,
        "kinds": subscription.kind_list,
        "created_at": api_time(subscription.created_at),
    }


def end(
    db: Session, subscription_id: str, *, actor: str, client_id: str | None = None
) -> WebhookSubscription:
    """End a subscription (a client's own, when `client_id` is given); its queued
    deliveries die at their next attempt. Audited."""
    try:
        ident = uuid.UUID(subscription_id)
    except ValueError as err:
        raise SubscriptionNotFound(subscription_id) from err
    subscription = db.get(WebhookSubscription, ident)
    if (
        subscription is None
        or subscription.ended_at is not None
        or (client_id is not None and subscription.client_id != client_id)
    ):
        raise SubscriptionNotFound(subscription_id)
    subscription.ended_at = runtime.now()
    subscription.ended_by = actor
    db.flush()
    _audit(db, subscription, "webhook.ended", actor, "subscription ended")
    return subscription


def _audit(
    db: Session, subscription: WebhookSubscription, kind: str, actor: str, reason: str
) -> None:
    record(
        db,
        EventDraft(
            kind=kind,
            actor_type="client" if actor == subscription.client_id else "system",
            actor_id=actor,
            agency=subscription.agency,
            action="webhook:manage",
            object_type="WebhookSubscription",
            object_id=str(subscription.id),
            decision="allow",
            reason=reason,
        ),
    )


# --- deliveries -------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookCall:
    """One delivery as the sender makes it; signed when sent."""

    idempotency_key: str
    subscription_id: str
    url: str
    secret: str
    kind: str
    body: bytes


def event_body(
    *,
    idempotency_key: str,
    kind: str,
    object_type: str,
    object_id: str,
    contact_reference: str | None,
    agency: str,
    due_at: datetime | None,
    created_at: datetime,
    source: str,
) -> bytes:
    """The CloudEvents 1.0 JSON body: ids, the contact reference, the agency and the due
    time (UTC, like the API); never case content."""
    event = {
        "specversion": "1.0",
        "type": EVENT_TYPE_PREFIX + kind,
        "source": source,
        "id": idempotency_key,
        "time": api_time(created_at),
        "subject": f"{object_type}/{object_id}",
        "datacontenttype": "application/json",
        "data": {
            "kind": kind,
            "object_type": object_type,
            "object_id": object_id,
            "contact_reference": contact_reference,
            "agency": agency,
            "agency_name": agency_name(agency),
            "due_at": api_time_or_none(due_at),
            "link": link(source, object_type, object_id),
        },
    }
    return json.dumps(event, separators=(",", ":"), sort_keys=True).encode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(call: WebhookCall, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/cloudevents+json",
        "Webhook-Id": call.idempotency_key,
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": signature(call.secret, call.idempotency_key, timestamp, call.body),
        "User-Agent": "mash-hub-webhooks/1",
    }


def verify(
    secret: str,
    headers: dict[str, str],
    body: bytes,
    *,
    now: float,
    seen: MutableSet[str],
    tolerance: int = TOLERANCE_SECONDS,
) -> dict[str, Any]:
    """The receiver's check, as the README documents it: the signature under the
    subscription's secret, a timestamp within `tolerance` seconds of `now`, and an id not
    accepted before (`seen`, which it adds to). Returns the event; raises WebhookRefused."""
    lowered = {k.lower(): v for k, v in headers.items()}
    message_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    offered = lowered.get("webhook-signature", "")
    if not message_id or not stamp.isdigit() or not offered:
        raise WebhookRefused("missing webhook headers")
    if abs(now - int(stamp)) > tolerance:
        raise WebhookRefused("timestamp too far from now")
    expected = signature(secret, message_id, int(stamp), body)
    if not any(hmac.compare_digest(expected, one) for one in offered.split()):
        raise WebhookRefused("bad signature")
    if message_id in seen:
        raise WebhookRefused("already received")
    seen.add(message_id)
    event: dict[str, Any] = json.loads(body)
    return event


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A callback that redirects is refused, not followed: the allow-list decides where
    the hub calls, not the receiver."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class HttpSender:
    """POSTs a signed delivery; raises SendFailed like a mail channel (permanent for a 4xx
    other than 408 and 429, and for a redirect)."""

    def __init__(self, timeout: float, clock: Callable[[], datetime]) -> None:
        self._timeout = timeout
        self._clock = clock
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())

    def send(self, call: WebhookCall) -> None:
        if url_problem(call.url, _allow()):
            raise SendFailed("the callback URL is no longer allowed", permanent=True)
        timestamp = int(self._clock().timestamp())
        outgoing = urllib.request.Request(  # noqa: S310 - an allow-listed http(s) URL
            call.url, data=call.body, headers=signed_headers(call, timestamp), method="POST"
        )
        try:
            with self._opener.open(outgoing, timeout=self._timeout) as answer:
                answer.read(1024)
        except urllib.error.HTTPError as err:
            status = err.code
            err.close()
            raise SendFailed(
                f"callback answered {status}",
                permanent=300 <= status < 500 and status not in (408, 429),
            ) from err
        except (OSError, ValueError) as err:
            raise SendFailed(f"callback: {type(err).__name__}: {err}") from err
