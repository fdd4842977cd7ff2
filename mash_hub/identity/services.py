"""Accounts, passwords, sign-in with TOTP, lockout, sessions and API clients.

Services add and flush; the caller's unit of work commits. The one exception is the
record of a sign-in attempt, which must survive the error answer it leads to, so it is
written in a transaction of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from flask import has_request_context
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mash_hub import runtime, uktime
from mash_hub.agencies import AGENCIES
from mash_hub.audit.services import EventDraft, record, record_kept, record_on_its_own
from mash_hub.authz.gate import Principal
from mash_hub.authz.permissions import (
    Role,
    Scope,
    permissions_for_roles,
    permissions_for_scopes,
)
from mash_hub.config import PasswordSettings
from mash_hub.crypto import resealing
from mash_hub.crypto.resealing import ResealError
from mash_hub.crypto.sealing import SealError, open_sealed, purpose_key, seal
from mash_hub.db import after_rollback, database
from mash_hub.firewall import duties
from mash_hub.firewall.decisions import require
from mash_hub.identity import throttle
from mash_hub.identity.models import (
    Agency,
    ApiClient,
    ApiRateWindow,
    ApiToken,
    ClientAssertionUse,
    LoginAttempt,
    User,
    UserRole,
    WebSession,
)
from mash_hub.notifications.models import Notification
from mash_hub.notifications.services import notify
from mash_hub.outbox import webhooks
from mash_hub.policy.types import Action

TOTP_DIGITS = 6
TOTP_STEP_SECONDS = 30
TOTP_WINDOW_STEPS = 1  # accept the previous and next code too, for clock drift
EMAIL_MAX = 254


class IdentityError(ValueError):
    """A request about accounts or clients that cannot be carried out, with the reason."""


# ---------------------------------------------------------------------------- agencies


def ensure_agencies(db: Session) -> list[Agency]:
    """Create the hub's agencies if missing (idempotent)."""
    existing = {a.code: a for a in db.scalars(select(Agency))}
    for info in AGENCIES:
        if info.code not in existing:
            agency = Agency(code=info.code, name=info.name, mash_core=info.mash_core)
            db.add(agency)
            existing[info.code] = agency
    db.flush()
    return [existing[info.code] for info in AGENCIES]


def agency_by_code(db: Session, code: str) -> Agency:
    agency = db.scalar(select(Agency).where(Agency.code == code))
    if agency is None:
        raise IdentityError(f"unknown agency {code!r}")
    return agency


def list_agencies(db: Session) -> list[Agency]:
    return list(db.scalars(select(Agency).order_by(Agency.code)))


# --------------------------------------------------------------------------- passwords


@lru_cache(maxsize=8)
def _hasher(policy: PasswordSettings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=policy.argon2_time_cost,
        memory_cost=policy.argon2_memory_cost,
        parallelism=policy.argon2_parallelism,
    )


def password_hasher() -> PasswordHasher:
    return _hasher(runtime.settings().passwords)


@lru_cache(maxsize=8)
def _dummy_hash(policy: PasswordSettings) -> str:
    # Verified against when the account is unknown, so both answers take as long.
    return _hasher(policy).hash(secrets.token_urlsafe(16))


def password_problem(password: str) -> str | None:
    policy = runtime.settings().passwords
    if len(password) < policy.min_length:
        return f"Password must be {policy.min_length} characters or more"
    if len(password) > policy.max_length:
        return f"Password must be {policy.max_length} characters or fewer"
    return None


def hash_password(password: str) -> str:
    problem = password_problem(password)
    if problem:
        raise IdentityError(problem)
    return password_hasher().hash(password)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def account_key(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


# ------------------------------------------------------------------- sign-in and lockout


def audit_sign_in_refused(email: str, stage: str, reason: str) -> None:
    """Put a refused sign-in step in the audit trail, in its own transaction (the page that
    refused it rolls back): the account's id if the email belongs to one, else 'unknown'.
    Never the email typed, the password or the code."""
    with database().transaction() as own:
        user = own.scalar(select(User).where(User.email == normalise_email(email)))
        actor, agency = (str(user.id), user.agency.code) if user is not None else ("unknown", None)
    record_on_its_own(
        EventDraft(
            kind="sign_in.refused",
            actor_type="user",
            actor_id=actor,
            agency=agency,
            action=f"sign_in:{stage}",
            decision="deny",
            reason=reason,
        )
    )


def record_success(db: Session, key: str, stage: str, source: str | None = None) -> None:
    """A successful step commits with the sign-in it belongs to."""
    db.add(
        LoginAttempt(account_key=key, at=runtime.now(), stage=stage, succeeded=True, source=source)
    )


def verify_password(db: Session, email: str, password: str) -> User | None:
    """The user for these credentials, or None. Same work for unknown and known accounts."""
    hasher = password_hasher()
    user = db.scalar(select(User).where(User.email == normalise_email(email)))
    stored = user.password_hash if user is not None else _dummy_hash(runtime.settings().passwords)
    try:
        hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_active:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


def load_active_user(db: Session, user_id: str) -> User | None:
    try:
        ident = uuid.UUID(user_id)
    except (TypeError, ValueError):
        return None
    user: User | None = db.get(User, ident)
    if user is None or not user.is_active:
        return None
    return user


# ------------------------------------------------------------------------------- TOTP


# TOTP seeds are sealed under this purpose of the master key, bound to their row.
_TOTP_PURPOSE = "totp-secret"
_TOTP_COLUMN = "users.totp_secret_sealed"


def _totp_key() -> bytes:
    return purpose_key(runtime.master_key(), _TOTP_PURPOSE)


def _totp_aad(user: User) -> bytes:
    return _totp_aad_of(user.id)


def _totp_aad_of(user_id: uuid.UUID) -> bytes:
    return f"{_TOTP_COLUMN}:{user_id}".encode()


def reseal_totp_secrets(db: Session, old_master: bytes, new_master: bytes) -> int:
    """Re-seal every TOTP seed under `new_master` in a master key rotation, or nobody could
    sign in afterwards. Seeds already under the new key (a re-run) are left alone."""
    old_key = purpose_key(old_master, _TOTP_PURPOSE)
    new_key = purpose_key(new_master, _TOTP_PURPOSE)
    rows = db.execute(
        select(User.id, User.totp_secret_sealed)
        .where(User.totp_secret_sealed.is_not(None))
        .order_by(User.id)
        .with_for_update(of=User)
    ).all()
    count = 0
    for user_id, sealed in rows:
        if sealed is None:  # pragma: no cover - excluded by the query
            continue
        aad = _totp_aad_of(user_id)
        try:
            secret = open_sealed(old_key, sealed, aad)
        except SealError:
            try:
                open_sealed(new_key, sealed, aad)
            except SealError as err:
                raise ResealError(
                    f"the TOTP secret of user {user_id} opens under neither master key"
                ) from err
            continue  # already re-sealed by an earlier run
        db.execute(
            update(User)
            .where(User.id == user_id)
            .values(totp_secret_sealed=seal(new_key, secret, aad))
        )
        count += 1
    return count


resealing.register(_TOTP_COLUMN, reseal_totp_secrets)


def totp_secret(user: User) -> bytes | None:
    if user.totp_secret_sealed is None:
        return None
    return open_sealed(_totp_key(), user.totp_secret_sealed, _totp_aad(user))


def set_totp_secret(user: User, secret: bytes) -> None:
    user.totp_secret_sealed = seal(_totp_key(), secret, _totp_aad(user))


def begin_enrolment(user: User) -> None:
    """Give a not-yet-enrolled user a fresh secret to enrol (on the password step's POST)."""
    if user.totp_enrolled_at is None and user.totp_secret_sealed is None:
        set_totp_secret(user, os.urandom(20))


def secret_as_text(secret: bytes) -> str:
    return base64.b32encode(secret).decode().rstrip("=")


def provisioning_uri(user: User, secret: bytes) -> str:
    issuer = runtime.settings().login.totp_issuer
    label = quote(f"{issuer}:{user.email}")
    return (
        f"otpauth://totp/{label}?secret={secret_as_text(secret)}&issuer={quote(issuer)}"
        f"&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECONDS}"
    )


def totp_code(secret: bytes, at: datetime) -> str:
    # SHA-1 is what RFC 6238 and every authenticator app use; HMAC-SHA1 is not broken.
    totp = TOTP(secret, TOTP_DIGITS, SHA1(), TOTP_STEP_SECONDS, enforce_key_length=False)  # noqa: S303
    return totp.generate(int(at.timestamp())).decode()


def verify_totp(db: Session, user: User, code: str) -> bool:
    """Accept a code once: a code at or before the last accepted time step is a replay."""
    secret = totp_secret(user)
    if secret is None or len(code) != TOTP_DIGITS or not (code.isascii() and code.isdigit()):
        return False
    now_step = int(runtime.now().timestamp()) // TOTP_STEP_SECONDS
    matched: int | None = None
    for step in range(now_step - TOTP_WINDOW_STEPS, now_step + TOTP_WINDOW_STEPS + 1):
        expected = totp_code(secret, _step_time(step))
        if hmac.compare_digest(expected, code):
            matched = step
    if matched is None or (user.totp_last_step is not None and matched <= user.totp_last_step):
        return False
    # A conditional update, so two workers given the same code cannot both accept it.
    result = db.execute(
        update(User)
        .where(
            User.id == user.id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < matched),
        )
        .values(totp_last_step=matched)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return False
    db.refresh(user, ["totp_last_step"])
    return True


class StepUpLocked(Exception):
    """Too many wrong security codes for sensitive actions: fresh codes are refused, right
    or wrong, until the oldest of the recent failures leaves the window."""

    def __init__(self, until: datetime) -> None:
        at = uktime.clock(until)
        super().__init__(f"Too many wrong security codes: try again after {at} (UK time)")
        self.until = until


STEP_UP_STAGE = "step_up"


def _step_up_key(user: User) -> str:
    return f"step-up:{user.id}"


def _recent_step_up_failures(db: Session, user: User) -> list[datetime]:
    since = runtime.now() - runtime.settings().login.failure_window.timedelta
    return list(
        db.scalars(
            select(LoginAttempt.at)
            .where(
                LoginAttempt.account_key == _step_up_key(user),
                LoginAttempt.succeeded.is_(False),
                LoginAttempt.at > since,
            )
            .order_by(LoginAttempt.at)
        )
    )


def _locked_until(failures: list[datetime]) -> datetime | None:
    login = runtime.settings().login
    if len(failures) < login.max_failures:
        return None
    return failures[-login.max_failures] + login.failure_window.timedelta


def verify_step_up(
    db: Session,
    user: User,
    code: str,
    action: str,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    contact_id: str | None = None,
) -> bool:
    """`verify_totp` for a fresh code asked for before a sensitive action (an export,
    break-glass, a deletion, a disclosure). Wrong codes are counted like sign-in failures,
    in their own transaction so every worker sees them; at the limit the account's step-up
    is locked for the window (StepUpLocked, before the code is even looked at) and the
    governance lead of the user's agency is told in the hub. Each refusal is audited (the
    action and ids, never the code), and the event survives the page rolling back. `db` is
    the request's unit of work."""

    def refused(reason: str) -> None:
        record_kept(
            db,
            EventDraft(
                kind="step_up.refused",
                actor_type="user",
                actor_id=str(user.id),
                agency=user.agency.code,
                roles=tuple(sorted(role.value for role in user.roles)),
                action=action,
                object_type=object_type,
                object_id=object_id,
                contact_id=contact_id,
                decision="deny",
                reason=reason,
            ),
        )

    failures = _recent_step_up_failures(db, user)
    until = _locked_until(failures)
    if until is not None:
        refused("step-up locked after too many wrong codes")
        raise StepUpLocked(until)
    if verify_totp(db, user, code):
        return True
    _kept_in_request(db, lambda session: _step_up_failed(session, user))
    refused("security code wrong or already used")
    if len(failures) + 1 == runtime.settings().login.max_failures:
        _kept_in_request(db, lambda session: _tell_lead_step_up_locked(session, user))
    return False


def _step_up_failed(session: Session, user: User) -> None:
    session.add(
        LoginAttempt(
            account_key=_step_up_key(user),
            at=runtime.now(),
            stage=STEP_UP_STAGE,
            succeeded=False,
        )
    )


def _kept_in_request(db: Session, write: Callable[[Session], object]) -> None:
    """Write in the request's unit of work (no second transaction waiting on its locks) and,
    if that unit of work rolls back, write again in a transaction of its own, after the
    rollback has let its locks go: a refused code counts however the page ends."""
    write(db)
    db.flush()
    if has_request_context():
        after_rollback(lambda: _write_on_its_own(write))


def _write_on_its_own(write: Callable[[Session], object]) -> None:
    with database().transaction() as own:
        write(own)


WRONG_CODE = "The security code is not correct, or has already been used"


def step_up_refusal(
    db: Session,
    user: User,
    code: str,
    action: str,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    contact_id: str | None = None,
) -> str | None:
    """`verify_step_up` for a form: None when the fresh code is accepted, else what to tell
    the person, in plain English (a wrong code, or step-up locked until a UK time)."""
    try:
        accepted = verify_step_up(
            db,
            user,
            code,
            action,
            object_type=object_type,
            object_id=object_id,
            contact_id=contact_id,
        )
    except StepUpLocked as locked:
        return str(locked)
    return None if accepted else WRONG_CODE


@dataclass(frozen=True)
class StepUpNotice:
    at: datetime
    user_name: str
    what: str


ACCOUNT_NOTICES = {
    "step_up.locked": "Too many wrong security codes for a sensitive action",
    "sign_in.held_back": "Many failed sign-ins to their account from elsewhere",
}


def step_up_notices(db: Session, principal: Principal, limit: int = 10) -> list[StepUpNotice]:
    """For a governance lead: the people of their own agency whose step-up was locked
    after too many wrong security codes, or whose account others failed to sign in to so
    often that sign-ins from unfamiliar places are held back; newest first."""
    if Role.GOVERNANCE_LEAD not in principal.roles:
        return []
    sent = db.execute(
        select(Notification.created_at, Notification.object_id, Notification.kind)
        .where(
            Notification.recipient_agency == principal.agency,
            Notification.recipient_role == Role.GOVERNANCE_LEAD.value,
            Notification.kind.in_(ACCOUNT_NOTICES),
        )
        .order_by(Notification.created_at.desc())
        .limit(limit)
    ).all()
    ids = {uuid.UUID(object_id) for _at, object_id, _kind in sent}
    names = {
        str(ident): name
        for ident, name in db.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    }
    return [
        StepUpNotice(at, names.get(object_id, "A user"), ACCOUNT_NOTICES[kind])
        for at, object_id, kind in sent
    ]


def _tell_lead_step_up_locked(session: Session, user: User) -> None:
    """The lead of the user's agency learns of the lock in the hub."""
    notify(
        session,
        agency=user.agency.code,
        role=Role.GOVERNANCE_LEAD,
        kind="step_up.locked",
        object_type="User",
        object_id=str(user.id),
    )


def _step_time(step: int) -> datetime:
    return datetime.fromtimestamp(step * TOTP_STEP_SECONDS, UTC)


def confirm_enrolment(db: Session, user: User, code: str) -> bool:
    if user.totp_enrolled_at is not None:
        raise IdentityError("already enrolled")
    if not verify_totp(db, user, code):
        return False
    user.totp_enrolled_at = runtime.now()
    return True


# ------------------------------------------------------------------------------ users


def create_user(
    db: Session,
    *,
    email: str,
    display_name: str,
    agency_code: str,
    roles: frozenset[Role],
    password: str,
    totp_seed: bytes | None = None,
) -> User:
    email = normalise_email(email)
    if not email or "@" not in email or len(email) > EMAIL_MAX:
        raise IdentityError("enter an email address like name@example.org")
    if not roles:
        raise IdentityError("a user needs at least one role")
    if db.scalar(select(User.id).where(User.email == email)) is not None:
        raise IdentityError("a user with that email address already exists")
    agency = agency_by_code(db, agency_code)
    user = User(
        id=uuid.uuid4(),
        email=email,
        display_name=display_name.strip() or email,
        agency=agency,
        password_hash=hash_password(password),
        created_at=runtime.now(),
    )
    user.role_grants = [UserRole(role=role.value) for role in sorted(roles)]
    if totp_seed is not None:
        set_totp_secret(user, totp_seed)
        user.totp_enrolled_at = runtime.now()
    db.add(user)
    db.flush()
    return user


def user_by_email(db: Session, email: str) -> User:
    user = db.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise IdentityError("no user with that email address")
    return user


def list_users(db: Session, agency: str | None = None) -> list[User]:
    """Every account, or (given an agency code) that agency's accounts only."""
    query = select(User).order_by(User.email)
    if agency is not None:
        query = query.join(Agency, Agency.id == User.agency_id).where(Agency.code == agency)
    return list(db.scalars(query))


def users_for_admin(db: Session, principal: Principal) -> list[User]:
    """The accounts of the administrator's own agency, decided and audited by the firewall
    (`users:manage` on that agency's directory); AccessDenied (403) otherwise."""
    require(principal, Action.USERS_MANAGE, duties.user_directory(principal.agency))
    return list_users(db, agency=principal.agency)


def disable_user(db: Session, email: str) -> User:
    """Disable an account and end every session it has, effective on its next request."""
    user = user_by_email(db, email)
    now = runtime.now()
    if user.disabled_at is None:
        user.disabled_at = now
    revoke_sessions_of(db, user.id)
    db.flush()
    return user


def failed_sign_ins_before(db: Session, user: User) -> tuple[int, datetime | None]:
    """What the person is told when they sign in: failed attempts on their account (from
    anywhere) since their previous sign-in, and when the last was."""
    return throttle.failures_before(db, account_key(user.email))


def unlock_user(db: Session, email: str) -> tuple[User, int]:
    """`mash-hub users unlock`: forget the account's failed sign-in steps (from every
    address) and wrong step-up codes, so nothing holds the person back; audited."""
    user = user_by_email(db, email)
    forgotten = throttle.forget_failures(db, account_key(user.email))
    forgotten += throttle.forget_failures(db, _step_up_key(user))
    record(
        db,
        EventDraft(
            kind="user.unlocked",
            actor_type="system",
            actor_id="operator",
            agency=user.agency.code,
            action="user:unlock",
            decision="allow",
            object_type="user",
            object_id=str(user.id),
            reason=f"{forgotten} failed attempt(s) forgotten",
        ),
    )
    return user, forgotten


def revoke_sessions_of(db: Session, user_id: uuid.UUID) -> None:
    db.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=runtime.now())
        .execution_options(synchronize_session=False)
    )


def principal_for_user(user: User) -> Principal:
    roles = user.roles
    return Principal(
        kind="user",
        id=str(user.id),
        agency=user.agency.code,
        roles=roles,
        scopes=frozenset(),
        permissions=permissions_for_roles(roles),
    )


# ---------------------------------------------------------------------------- clients


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


PRIVATE_KEY_JWT = "private_key_jwt"
CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 - a method name
# Signature algorithms a client's assertion may use, by the kind of its registered key.
ASSERTION_ALGORITHMS = {"RSA": ("RS256", "PS256"), "EC": ("ES256", "ES384"), "OKP": ("EdDSA",)}
MIN_RSA_BITS = 2048


def create_client(
    db: Session,
    *,
    agency_code: str,
    scopes: frozenset[Scope],
    name: str = "",
    public_jwk: str | None = None,
) -> tuple[ApiClient, str]:
    """Register an agency system. The secret is returned once and stored hashed.

    With `public_jwk` (a JSON Web Key) the client authenticates with private_key_jwt
    (RFC 7523) instead: it has no secret, and the returned secret is empty.
    """
    if not scopes:
        raise IdentityError("a client needs at least one scope")
    agency = agency_by_code(db, agency_code)
    secret = "" if public_jwk is not None else secrets.token_urlsafe(32)
    client = ApiClient(
        client_id=f"{agency.code}-{secrets.token_hex(8)}",
        # No secret for a key-based client: an empty hash never equals a SHA-256.
        secret_hash=_secret_hash(secret) if secret else "",
        name=name or f"{agency.name} system",
        agency=agency,
        scope=" ".join(sorted(s.value for s in scopes)),
        created_at=runtime.now(),
        auth_method=CLIENT_SECRET_BASIC if public_jwk is None else PRIVATE_KEY_JWT,
        public_jwk=None if public_jwk is None else checked_public_jwk(public_jwk),
    )
    db.add(client)
    db.flush()
    return client, secret


def checked_public_jwk(text: str) -> str:
    """The key as compact JSON, if it is a public signing key strong enough to trust."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise IdentityError("the JWK is not valid JSON") from err
    if not isinstance(data, dict):
        raise IdentityError("the JWK must be one JSON object (one key, not a key set)")
    if "d" in data or "k" in data:
        raise IdentityError("give the public key only: the JWK holds private or secret material")
    if data.get("kty") not in ASSERTION_ALGORITHMS:
        raise IdentityError(f"the JWK's kty must be one of {', '.join(ASSERTION_ALGORITHMS)}")
    if data["kty"] == "RSA":
        modulus = str(data.get("n", ""))
        try:
            bits = int.from_bytes(base64.urlsafe_b64decode(modulus + "=" * (-len(modulus) % 4)))
        except ValueError as err:
            raise IdentityError("the JWK cannot be read (its modulus)") from err
        if bits.bit_length() < MIN_RSA_BITS:
            raise IdentityError(f"an RSA key must have at least {MIN_RSA_BITS} bits")
    try:
        key = JWKRegistry.import_key(data)
    except (JoseError, ValueError, TypeError) as err:
        raise IdentityError(f"the JWK cannot be read ({type(err).__name__})") from err
    return json.dumps(key.as_dict(private=False), separators=(",", ":"), sort_keys=True)


def list_clients(db: Session) -> list[ApiClient]:
    return list(db.scalars(select(ApiClient).order_by(ApiClient.created_at, ApiClient.client_id)))


def revoke_client(db: Session, client_id: str, *, actor_id: str = "operator") -> ApiClient:
    """End a client's access: its live tokens stop working on their next call. Audited in
    the same unit of work, so a revocation and its record commit together."""
    client = client_by_client_id(db, client_id)
    if client is None:
        raise IdentityError("no client with that client id")
    now = runtime.now()
    if client.revoked_at is None:
        client.revoked_at = now
        record(
            db,
            EventDraft(
                kind="client.revoked",
                actor_type="system",
                actor_id=actor_id,
                action="revoke_client",
                decision="allow",
                reason="revoked by an operator",
                agency=client.agency.code,
                object_type="api_client",
                object_id=client.client_id,
            ),
        )
    db.execute(
        update(ApiToken)
        .where(ApiToken.client_pk == client.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    # Its webhooks stop too: nothing more is delivered to a system that lost its access.
    for subscription in webhooks.active(db, client.client_id):
        webhooks.end(db, str(subscription.id), actor=actor_id)
    db.flush()
    return client


def use_assertion_once(client: ApiClient, jti: str, expires_at: datetime) -> bool:
    """Record a private_key_jwt assertion's jti; False if it was seen before (a replay).

    In a transaction of its own, committed before the token is issued: the primary key
    makes two workers given the same assertion race to one insert, and a later failure of
    the token request cannot un-record it.
    """
    if not jti or len(jti) > 255:
        return False
    now = runtime.now()
    try:
        with database().transaction() as own:
            own.execute(
                delete(ClientAssertionUse).where(
                    ClientAssertionUse.client_pk == client.id,
                    ClientAssertionUse.expires_at < now,
                )
            )
            own.add(ClientAssertionUse(client_pk=client.id, jti=jti, expires_at=expires_at))
    except IntegrityError:
        return False
    return True


@dataclass(frozen=True)
class RateCheck:
    allowed: bool
    retry_after: int  # seconds until the window ends (when refused)
    limit: int


def take_rate_slot(client_pk: uuid.UUID) -> RateCheck:
    """Count one API call against the client's fixed window; refuse above [api] rate_limit.

    One atomic upsert committed on its own (`Database.counting`), so every worker counts in
    the same row and a call that fails (and rolls back) still counts.
    """
    api = runtime.settings().api
    window = api.rate_limit_window.seconds
    now = runtime.now()
    start_ts = int(now.timestamp()) // window * window
    start = datetime.fromtimestamp(start_ts, UTC)
    with database().counting() as own:
        dialect = own.dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            insert(ApiRateWindow)
            .values(client_pk=client_pk, window_start=start, count=1)
            .on_conflict_do_update(
                index_elements=["client_pk", "window_start"],
                set_={"count": ApiRateWindow.count + 1},
            )
            .returning(ApiRateWindow.count)
        )
        count = int(own.execute(statement).scalar_one())
        if count == 1:  # a new window: forget the client's old ones
            own.execute(
                delete(ApiRateWindow).where(
                    ApiRateWindow.client_pk == client_pk, ApiRateWindow.window_start < start
                )
            )
    retry_after = max(1, start_ts + window - int(now.timestamp()))
    return RateCheck(count <= api.rate_limit, retry_after, api.rate_limit)


def client_by_client_id(db: Session, client_id: str) -> ApiClient | None:
    if not client_id or len(client_id) > 64:
        return None
    return db.scalar(select(ApiClient).where(ApiClient.client_id == client_id))


def client_secret_matches(client: ApiClient, secret: str) -> bool:
    return hmac.compare_digest(client.secret_hash, _secret_hash(secret))


def store_token(db: Session, client: ApiClient, access_token: str, scope: str) -> ApiToken:
    now = runtime.now()
    lifetime = runtime.settings().api.token_lifetime.timedelta
    token = ApiToken(
        token_hash=_secret_hash(access_token),
        client=client,
        scope=scope,
        issued_at=now,
        expires_at=now + lifetime,
    )
    db.add(token)
    db.flush()
    return token


@dataclass(frozen=True)
class TokenCheck:
    principal: Principal | None
    problem: str  # why there is no principal, for the 401 message
    client_pk: uuid.UUID | None = None  # whose rate limit the call counts against


def principal_for_token(db: Session, access_token: str) -> TokenCheck:
    if not access_token or len(access_token) > 512:
        return TokenCheck(None, "the access token is missing or malformed")
    token = db.scalar(select(ApiToken).where(ApiToken.token_hash == _secret_hash(access_token)))
    if token is None:
        return TokenCheck(None, "the access token is not valid")
    now = runtime.now()
    if token.expires_at <= now:
        return TokenCheck(None, "the access token has expired")
    if token.revoked_at is not None or token.client.revoked_at is not None:
        return TokenCheck(None, "the access token has been revoked")
    scopes = frozenset(Scope(s) for s in token.scope.split() if s in _SCOPE_VALUES)
    return TokenCheck(
        Principal(
            kind="client",
            id=token.client.client_id,
            agency=token.client.agency.code,
            roles=frozenset(),
            scopes=scopes,
            permissions=permissions_for_scopes(scopes),
        ),
        "",
        token.client.id,
    )


_SCOPE_VALUES = frozenset(s.value for s in Scope)


def token_lifetime() -> timedelta:
    return runtime.settings().api.token_lifetime.timedelta


def user_counts_by_agency(db: Session) -> list[tuple[str, int, int]]:
    """(agency name, active users, disabled users) for every agency, in register order."""
    rows = db.execute(
        select(Agency.code, Agency.name, User.disabled_at.is_(None), func.count(User.id))
        .join(User, User.agency_id == Agency.id, isouter=True)
        .group_by(Agency.code, Agency.name, User.disabled_at.is_(None))
    ).all()
    counts: dict[str, list[int]] = {}
    names: dict[str, str] = {}
    for code, name, active, count in rows:
        names[code] = name
        tally = counts.setdefault(code, [0, 0])
        if count:
            tally[0 if active else 1] += count
    order = [info.code for info in AGENCIES]
    return [
        (names[code], counts[code][0], counts[code][1])
        for code in sorted(counts, key=lambda c: order.index(c) if c in order else len(order))
    ]
