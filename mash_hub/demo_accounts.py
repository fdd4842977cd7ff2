"""The demo's sign-ins for `mash-hub demo`: one user per role for each agency that holds
it, and one API client per agency system.

Run again, it keeps every sign-in that still works: a demo user whose password and
authenticator secret in the credentials file still match keeps them, and so does an API
client whose secret still matches. Only what is missing is made, and only what the file
can no longer sign in with is given new secrets in place (never deleted: a demo user who
has used the hub is named in its records, and on dc1dfa7 deleting them failed on those
references; usability review D1). Each run says how many it kept, made and renewed.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from mash_hub.agencies import AGENCIES
from mash_hub.authz.permissions import Role, Scope
from mash_hub.identity import services as identity
from mash_hub.identity.models import ApiClient, User

DEMO_PASSWORD_BYTES = 12
DEMO_CLIENT_PREFIX = "Demo "


@dataclass
class Seeded:
    users: list[dict[str, Any]] = field(default_factory=list)
    clients: list[dict[str, Any]] = field(default_factory=list)
    kept: int = 0
    made: int = 0
    renewed: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.users)} users, {len(self.clients)} API clients "
            f"({self.kept} kept as they were, {self.made} new, {self.renewed} given new secrets)"
        )


def accounts() -> list[tuple[str, Role]]:
    """One user per role, for each agency that holds that role in a MASH."""
    found = [("police", Role.SCREENER), ("csc", Role.SCREENER), ("csc", Role.MASH_MANAGER)]
    # A researcher in each partner; in Early Help Family Support, the team member who
    # accepts or declines the families the MASH refers to it.
    found += [
        (code, Role.AGENCY_RESEARCHER)
        for code in ("health", "education", "probation", "housing", "yos", "earlyhelp")
    ]
    found += [
        (code, Role.GOVERNANCE_LEAD)
        for code in (
            "csc", "police", "health", "education", "probation", "housing", "yos", "earlyhelp"
        )
    ]  # fmt: skip
    found.append(("csc", Role.ADMIN))
    return found


def systems() -> list[tuple[str, frozenset[Scope]]]:
    """One API client per agency system: police and CSC enter and screen contacts,
    partners answer requests, early help takes its referrals, and CSC's governance system
    reads the trail."""
    screening = frozenset({Scope.CONTACTS_WRITE, Scope.SCREENING_READ, Scope.SCREENING_WRITE})
    partner = frozenset({Scope.REQUESTS_READ, Scope.CONTRIBUTIONS_WRITE})
    found = [("police", screening), ("csc", screening)]
    found += [(code, partner) for code in ("health", "education", "probation", "housing", "yos")]
    # Early help's case system takes the families referred to it over the API.
    found.append(("earlyhelp", frozenset({Scope.REFERRALS_READ, Scope.REFERRALS_WRITE})))
    found.append(("csc", frozenset({Scope.AUDIT_READ})))
    return found


def seed(db: Session, previous: dict[str, Any]) -> Seeded:
    """The demo agencies, users and clients, keeping what `previous` (the last
    credentials file, or nothing) still signs in with."""
    identity.ensure_agencies(db)
    known_users = _by(previous.get("users"), "email")
    known_clients = _by(previous.get("clients"), "client_id")
    seeded = Seeded()
    for agency_code, role in accounts():
        seeded.users.append(_user(db, seeded, agency_code, role, known_users))
    taken: set[str] = set()
    for agency_code, scopes in systems():
        seeded.clients.append(_client(db, seeded, agency_code, scopes, known_clients, taken))
    return seeded


def _by(entries: object, key: str) -> dict[str, dict[str, Any]]:
    if not isinstance(entries, list):
        return {}
    return {str(e[key]): e for e in entries if isinstance(e, dict) and key in e}


def _user(
    db: Session, seeded: Seeded, agency_code: str, role: Role, known: dict[str, Any]
) -> dict[str, Any]:
    email = f"{role.value.replace('_', '.')}.{agency_code}@demo.mash.test"
    existing = db.scalar(select(User).where(User.email == email))
    before = known.get(email)
    if existing is not None and before is not None and _still_signs_in(existing, before):
        seeded.kept += 1
        return {**before, "agency": agency_code, "role": role.value}
    password = secrets.token_urlsafe(DEMO_PASSWORD_BYTES)
    seed = os.urandom(20)
    if existing is None:
        agency_name = next(a.name for a in AGENCIES if a.code == agency_code)
        identity.create_user(
            db,
            email=email,
            display_name=f"Demo {_in_a_sentence(role.label)}, {agency_name}",
            agency_code=agency_code,
            roles=frozenset({role}),
            password=password,
            totp_seed=seed,
        )
        seeded.made += 1
    else:
        # The file no longer signs this user in (lost, or from another database): new
        # secrets in place, and any session signed in with the old ones ends.
        existing.password_hash = identity.hash_password(password)
        identity.set_totp_secret(existing, seed)
        existing.totp_last_step = None
        identity.revoke_sessions_of(db, existing.id)
        seeded.renewed += 1
    return {
        "email": email,
        "password": password,
        "totp_secret": identity.secret_as_text(seed),
        "agency": agency_code,
        "role": role.value,
    }


def _still_signs_in(user: User, before: dict[str, Any]) -> bool:
    try:
        identity.password_hasher().verify(user.password_hash, str(before.get("password", "")))
        written = base64.b32decode(str(before.get("totp_secret", "")).upper(), casefold=True)
    except (VerificationError, InvalidHashError, binascii.Error, ValueError):
        return False
    return identity.totp_secret(user) == written


def _client(
    db: Session,
    seeded: Seeded,
    agency_code: str,
    scopes: frozenset[Scope],
    known: dict[str, Any],
    taken: set[str],
) -> dict[str, Any]:
    name = f"{DEMO_CLIENT_PREFIX}{agency_code} system"
    wanted = " ".join(sorted(s.value for s in scopes))
    active = [
        client
        for client in db.scalars(
            select(ApiClient).where(ApiClient.name == name, ApiClient.revoked_at.is_(None))
        )
        if client.scope == wanted and client.client_id not in taken
    ]
    for client in active:
        before = known.get(client.client_id)
        if before is not None and identity.client_secret_matches(
            client, str(before.get("client_secret", ""))
        ):
            taken.add(client.client_id)
            seeded.kept += 1
            return {**before, "agency": agency_code, "scopes": wanted.split()}
    # None the file can still use: those are revoked (kept, as the trail names them).
    for client in active:
        identity.revoke_client(db, client.client_id, actor_id="mash-hub-demo")
    client, secret = identity.create_client(db, agency_code=agency_code, scopes=scopes, name=name)
    taken.add(client.client_id)
    seeded.renewed += 1 if active else 0
    seeded.made += 0 if active else 1
    return {
        "client_id": client.client_id,
        "client_secret": secret,
        "agency": agency_code,
        "scopes": wanted.split(),
    }


def _in_a_sentence(label: str) -> str:
    """A role's label inside a sentence: "screener", but "MASH manager", not "mash manager"."""
    first, _, rest = label.partition(" ")
    return label if first.isupper() else f"{first.lower()} {rest}".strip()
