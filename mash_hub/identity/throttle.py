"""Sign-in and token issuance under attack (security review V5).

Every check here runs before any password is hashed, on counts kept in the database
(`login_attempts`, `api_tokens`), so every worker shares them:

- **per address**: more than `[login] address_failures` failed steps (any accounts) from
  one address within `address_window`, and that address is told to wait: 429 with
  Retry-After. A password spray from one place costs the hub a few hashes a minute.
- **per account and address**: beyond `account_address_failures` failed steps for one
  account from one address, each further attempt from there waits `first_delay`, twice
  as long after each failure, never more than `longest_delay`. A stranger who knows an
  email address slows down only their own address; the person signs in from theirs.
- **per account**: beyond `account_failures` failed steps for an account from all
  addresses, addresses the person has not completed a sign-in from within
  `known_address` wait the same way, and the governance lead of the account's agency is
  told in the hub. The person's usual addresses are never held back by others' failures.
  `mash-hub users unlock EMAIL` forgets an account's failures.
- **tokens**: a client is issued at most `[api] tokens_per_minute` tokens; failed client
  authentication counts against the address like a failed sign-in.

Failures are forgotten after `failures_remembered`, or for an account and address when a
sign-in from there completes. Addresses are kept as keyed hashes, never in clear. A flood
of refused attempts is not a flood of records: an attempt turned away here is not
counted, and it is audited once per address and window (the rest are logged).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mash_hub import runtime, uktime
from mash_hub.audit.services import EventDraft, record_on_its_own
from mash_hub.authz.permissions import Role
from mash_hub.db import database
from mash_hub.identity.models import ApiToken, LoginAttempt, User
from mash_hub.notifications.services import notify

log = structlog.get_logger("mash_hub.identity.throttle")
SIGN_IN_STAGES = ("password", "totp")
CLIENT_AUTH_STAGE = "client_auth"  # a failed client authentication at /oauth/token
HELD_STAGE = "held"  # the marker of an address turned away in the current window


@dataclass(frozen=True)
class Wait:
    """An attempt turned away: until when, and whether the address or the account was
    the reason (the words on the page differ, the answer does not)."""

    until: datetime
    reason: str  # "address", "account_address" or "account"

    def retry_after(self) -> int:
        return max(1, int((self.until - runtime.now()).total_seconds() + 0.999))

    def uk_time(self) -> str:
        return uktime.clock(self.until)


def source_of(address: str | None) -> str:
    """The address as it is kept: a keyed hash (the app's secret), 32 hex digits."""
    secret = runtime.settings().app.secret_key.encode()
    text = (address or "unknown").encode()
    return hmac.new(secret, b"sign-in-source:" + text, hashlib.sha256).hexdigest()[:32]


def _delay(failures: int, allowed: int) -> timedelta | None:
    """How long after the last failure the next attempt waits, or None if not yet."""
    if failures < allowed:
        return None
    login = runtime.settings().login
    doubled = login.first_delay.timedelta * (2 ** min(failures - allowed, 20))
    return min(doubled, login.longest_delay.timedelta)


def _failures_since(
    db: Session, account_key: str, source: str | None, stages: tuple[str, ...]
) -> tuple[int, datetime | None]:
    """Failed steps of these stages for the account (from `source`, or from anywhere),
    since the last completed sign-in (from there) or the memory's horizon."""
    login = runtime.settings().login
    since = runtime.now() - login.failures_remembered.timedelta
    succeeded = select(func.max(LoginAttempt.at)).where(
        LoginAttempt.account_key == account_key,
        LoginAttempt.succeeded.is_(True),
        LoginAttempt.stage == "totp",
    )
    failed = select(func.count(), func.max(LoginAttempt.at)).where(
        LoginAttempt.account_key == account_key,
        LoginAttempt.succeeded.is_(False),
        LoginAttempt.stage.in_(stages),
    )
    if source is not None:
        succeeded = succeeded.where(LoginAttempt.source == source)
        failed = failed.where(LoginAttempt.source == source)
    last_success = db.scalar(succeeded)
    if last_success is not None and last_success > since:
        since = last_success
    count, last = db.execute(failed.where(LoginAttempt.at > since)).one()
    return int(count or 0), last


# Addresses this worker has found held back, and until when: a held-back address is turned
# away on its next attempts without a query (the hold can only end when its time comes;
# nothing shortens it). Bounded; each worker keeps its own.
_HELD_MAX = 10_000


def _held() -> dict[tuple[str, str], datetime]:
    held: dict[tuple[str, str], datetime] = current_app.extensions.setdefault("mash.held", {})
    return held


def held_address(source: str, kind: str) -> Wait | None:
    """The wait this worker already knows for an address (`kind`: "sign_in" or "token"),
    from memory alone."""
    until = _held().get((source, kind))
    if until is None:
        return None
    if until <= runtime.now():
        _held().pop((source, kind), None)
        return None
    return Wait(until, "address")


def _remember_held(source: str, kind: str, wait: Wait) -> None:
    held = _held()
    if len(held) >= _HELD_MAX:
        now = runtime.now()
        for key in [key for key, until in held.items() if until <= now] or list(held)[:1000]:
            held.pop(key, None)
    held[(source, kind)] = wait.until


def _address_wait(db: Session, source: str, stages: tuple[str, ...]) -> Wait | None:
    kind = "token" if stages == (CLIENT_AUTH_STAGE,) else "sign_in"
    known = held_address(source, kind)
    if known is not None:
        return known
    login = runtime.settings().login
    window = login.address_window.timedelta
    recent = list(
        db.scalars(
            select(LoginAttempt.at)
            .where(
                LoginAttempt.source == source,
                LoginAttempt.succeeded.is_(False),
                LoginAttempt.stage.in_(stages),
                LoginAttempt.at > runtime.now() - window,
            )
            .order_by(LoginAttempt.at.desc())
            .limit(login.address_failures)
        )
    )
    if len(recent) < login.address_failures:
        return None
    wait = Wait(recent[-1] + window, "address")
    _remember_held(source, kind, wait)
    return wait


def _known_address(db: Session, account_key: str, source: str) -> bool:
    horizon = runtime.now() - runtime.settings().login.known_address.timedelta
    return (
        db.scalar(
            select(LoginAttempt.id)
            .where(
                LoginAttempt.account_key == account_key,
                LoginAttempt.source == source,
                LoginAttempt.succeeded.is_(True),
                LoginAttempt.stage == "totp",
                LoginAttempt.at > horizon,
            )
            .limit(1)
        )
        is not None
    )


def sign_in_wait(db: Session, account_key: str, source: str) -> Wait | None:
    """Whether a sign-in step for this account from this address must wait, and until
    when. Checked before the password or code is looked at."""
    now = runtime.now()
    login = runtime.settings().login
    waits = []
    by_address = _address_wait(db, source, SIGN_IN_STAGES)
    if by_address is not None:
        return by_address  # the address alone keeps it waiting: nothing more to look up
    count, last = _failures_since(db, account_key, source, SIGN_IN_STAGES)
    delay = _delay(count, login.account_address_failures)
    if delay is not None and last is not None and last + delay > now:
        waits.append(Wait(last + delay, "account_address"))
    count, last = _failures_since(db, account_key, None, SIGN_IN_STAGES)
    delay = _delay(count, login.account_failures)
    if (
        delay is not None
        and last is not None
        and last + delay > now
        and not _known_address(db, account_key, source)
    ):
        waits.append(Wait(last + delay, "account"))
    return max(waits, key=lambda wait: wait.until) if waits else None


def record_failure(account_key: str, stage: str, source: str, email: str) -> None:
    """A failed step, in its own transaction (the page that saw it rolls back). The step
    that takes an account past `account_failures` tells its governance lead."""
    login = runtime.settings().login
    with database().transaction() as own:
        own.add(
            LoginAttempt(
                account_key=account_key,
                at=runtime.now(),
                stage=stage,
                succeeded=False,
                source=source,
            )
        )
        own.flush()
        count, _last = _failures_since(own, account_key, None, SIGN_IN_STAGES)
        user = (
            own.scalar(select(User).where(User.email == email.strip().lower()))
            if count == login.account_failures
            else None
        )
        if user is not None:
            notify(
                own,
                agency=user.agency.code,
                role=Role.GOVERNANCE_LEAD,
                kind="sign_in.held_back",
                object_type="User",
                object_id=str(user.id),
            )


def turned_away(
    source: str, wait: Wait, *, email: str | None, action: str, known: bool = False
) -> None:
    """Log every attempt turned away; audit the first per address and window, so that a
    flood is one event, not thousands. The event names the account's id if the email is
    one's (else "unknown"), or the client id at the token endpoint; never what was typed.
    `known`: the hold came from this worker's memory, so its first attempt is already in
    the trail."""
    log.info("attempt_held_back", reason=wait.reason, retry_after=wait.retry_after())
    if known:
        return
    window_start = runtime.now() - runtime.settings().login.address_window.timedelta
    with database().transaction() as own:
        marked = own.scalar(
            select(LoginAttempt.id)
            .where(
                LoginAttempt.source == source,
                LoginAttempt.stage == HELD_STAGE,
                LoginAttempt.at > window_start,
            )
            .limit(1)
        )
        if marked is not None:
            return
        actor, agency = "unknown", None
        if email is not None:
            user = own.scalar(select(User).where(User.email == email.strip().lower()))
            if user is not None:
                actor, agency = str(user.id), user.agency.code
        own.add(
            LoginAttempt(
                account_key=f"held:{source}",
                at=runtime.now(),
                stage=HELD_STAGE,
                succeeded=False,
                source=source,
            )
        )
    record_on_its_own(
        EventDraft(
            kind="sign_in.held_back",
            actor_type="user" if action.startswith("sign_in") else "client",
            actor_id=actor,
            agency=agency,
            action=action,
            decision="deny",
            reason=f"too many attempts ({wait.reason}); retry after {wait.retry_after()} s",
        )
    )


def failures_before(db: Session, account_key: str) -> tuple[int, datetime | None]:
    """For the person who has just signed in: the failed steps for their account between
    their previous completed sign-in and this one (from anywhere), and the last one."""
    completions = list(
        db.scalars(
            select(LoginAttempt.at)
            .where(
                LoginAttempt.account_key == account_key,
                LoginAttempt.succeeded.is_(True),
                LoginAttempt.stage == "totp",
            )
            .order_by(LoginAttempt.at.desc())
            .limit(2)
        )
    )
    if not completions:
        return 0, None
    query = select(func.count(), func.max(LoginAttempt.at)).where(
        LoginAttempt.account_key == account_key,
        LoginAttempt.succeeded.is_(False),
        LoginAttempt.stage.in_(SIGN_IN_STAGES),
        LoginAttempt.at <= completions[0],
    )
    if len(completions) == 2:
        query = query.where(LoginAttempt.at > completions[1])
    count, last = db.execute(query).one()
    return int(count or 0), last


def forget_failures(db: Session, account_key: str) -> int:
    """`mash-hub users unlock`: the account's failed steps are forgotten, everywhere."""
    result = db.execute(
        delete(LoginAttempt).where(
            LoginAttempt.account_key == account_key, LoginAttempt.succeeded.is_(False)
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune(db: Session) -> int:
    """Scheduler job: forget attempts older than anything still needs (failures past the
    memory, successes past `known_address`)."""
    login = runtime.settings().login
    now = runtime.now()
    oldest_kept = max(login.failures_remembered.timedelta, login.known_address.timedelta)
    result = db.execute(delete(LoginAttempt).where(LoginAttempt.at < now - oldest_kept))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def token_wait(db: Session, client_pk: object | None, source: str) -> Wait | None:
    """Whether /oauth/token must refuse this caller for now: too many failed client
    authentications from its address, or its client already issued its tokens for the
    minute. Checked before the client's credentials are."""
    by_address = _address_wait(db, source, (CLIENT_AUTH_STAGE,))
    if by_address is not None:
        return by_address
    if client_pk is None:
        return None
    limit = runtime.settings().api.tokens_per_minute
    recent = list(
        db.scalars(
            select(ApiToken.issued_at)
            .where(
                ApiToken.client_pk == client_pk,
                ApiToken.issued_at > runtime.now() - timedelta(minutes=1),
            )
            .order_by(ApiToken.issued_at.desc())
            .limit(limit)
        )
    )
    if len(recent) < limit:
        return None
    return Wait(recent[-1] + timedelta(minutes=1), "client")


def record_token_failure(source: str, client_id: str) -> None:
    with database().transaction() as own:
        own.add(
            LoginAttempt(
                account_key=hashlib.sha256(f"client:{client_id}".encode()).hexdigest(),
                at=runtime.now(),
                stage=CLIENT_AUTH_STAGE,
                succeeded=False,
                source=source,
            )
        )
