"""Sign-in with an agency's own identity provider (OpenID Connect), with Authlib's client.

Authorization code flow with PKCE (S256). The ID token is checked here, on the hub's
clock: signature with an allowed algorithm (never "none"), iss, aud, azp, exp, iat, nonce
and at_hash; then MFA evidence (amr or acr), then the group-to-role mapping. People are
keyed by (issuer, subject): an email address is only a contact detail and never finds or
merges an account.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from authlib.integrations.flask_client import OAuth
from authlib.oidc.core import CodeIDToken
from flask import Flask, current_app, url_for
from joserfc import jwt
from joserfc.errors import (
    ExpiredTokenError,
    InvalidClaimError,
    InvalidTokenError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from mash_hub import runtime
from mash_hub.authz.permissions import Role
from mash_hub.config import OidcProviderSettings
from mash_hub.identity import services as identity
from mash_hub.identity.models import OidcIdentity, User, UserRole

# Set as a password hash, this can never verify: OIDC accounts sign in only at their provider.
NO_PASSWORD = "!oidc-no-password"  # noqa: S105 - a marker, not a secret
HTTP_TIMEOUT_SECONDS = 10


class SignInRefused(Exception):
    """The provider's answer is not good enough to sign this person in.

    `reason` is a short code for the log and the audit; `actor` is who it was about, as far
    as is known (a hash of issuer and subject once the ID token has been verified).
    """

    def __init__(self, reason: str, actor: str = "", detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.actor = actor
        self.detail = detail


def init_app(app: Flask) -> None:
    """One Authlib registry per app (a module-level one keeps the first app's clients)."""
    oauth = OAuth(app)
    providers: dict[str, OidcProviderSettings] = app.extensions["mash.settings"].oidc.providers
    for name, provider in providers.items():
        oauth.register(
            name=name,
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            server_metadata_url=provider.issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={
                "scope": " ".join(provider.scopes),
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "client_secret_basic",
                "default_timeout": HTTP_TIMEOUT_SECONDS,
            },
        )
    app.extensions["mash.oidc"] = oauth


def providers() -> dict[str, OidcProviderSettings]:
    configured: dict[str, OidcProviderSettings] = runtime.settings().oidc.providers
    return configured


def client(name: str) -> Any:
    return current_app.extensions["mash.oidc"].create_client(name)


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL of the hub, under [app] public_url: never from a request's Host,
    which the caller chooses (a token audience taken from it would accept an assertion
    signed for any other server). Production requires public_url; without it, in
    development and tests, the hub is http://localhost."""
    return public_base() + url_for(endpoint, **values)


def public_base() -> str:
    return runtime.settings().app.public_url.rstrip("/") or DEVELOPMENT_PUBLIC_URL


DEVELOPMENT_PUBLIC_URL = "http://localhost"


def state_is_fresh(stored: object) -> bool:
    """Authlib keeps a sign-in's state with an expiry but does not check it on return."""
    if not isinstance(stored, dict):
        return False
    expires = stored.get("exp")
    # Authlib stamps it with the system time, so it is checked against the system time.
    return isinstance(expires, int | float) and expires >= time.time()


def button_label(name: str, provider: OidcProviderSettings) -> str:
    return f"Sign in with {provider.display_name or name}"


# ------------------------------------------------------------------ the ID token


@dataclass(frozen=True)
class VerifiedSignIn:
    issuer: str
    subject: str
    claims: dict[str, Any]

    @property
    def actor(self) -> str:
        """A stable short id for the log and audit: no email, fits the audit's actor_id."""
        digest = hashlib.sha256(f"{self.issuer}#{self.subject}".encode()).hexdigest()
        return f"oidc:{digest[:40]}"


def _header(id_token: str) -> dict[str, Any]:
    try:
        first = id_token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    except (ValueError, UnicodeDecodeError) as err:
        raise SignInRefused("malformed_id_token") from err
    if not isinstance(header, dict):
        raise SignInRefused("malformed_id_token")
    return header


def verify_id_token(
    provider: OidcProviderSettings,
    metadata: dict[str, Any],
    jwks: dict[str, Any],
    token: dict[str, Any],
    nonce: str,
) -> VerifiedSignIn:
    """Check the ID token from the token endpoint, or raise SignInRefused saying why."""
    id_token = token.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise SignInRefused("no_id_token")
    if metadata.get("issuer") != provider.issuer:
        raise SignInRefused("wrong_issuer", detail="discovery issuer differs from the config")
    alg = _header(id_token).get("alg")
    if alg not in provider.algorithms:
        # "none", HMAC with a guessable secret, or anything the provider was not set up with.
        raise SignInRefused("unexpected_algorithm", detail=str(alg)[:32])
    try:
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        decoded = jwt.decode(id_token, keys, algorithms=[alg])
    except (JoseError, ValueError) as err:
        raise SignInRefused("bad_signature", detail=type(err).__name__) from err
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {
            "iss": {"essential": True, "value": provider.issuer},
            "aud": {"essential": True, "value": provider.client_id},
            "sub": {"essential": True},
            "nonce": {"essential": True, "value": nonce},
        },
        {
            "nonce": nonce,
            "client_id": provider.client_id,
            "access_token": token.get("access_token"),
        },
    )
    subject = claims.get("sub")
    try:
        claims.validate(
            now=int(runtime.now().timestamp()), leeway=runtime.settings().oidc.leeway.seconds
        )
    except ExpiredTokenError as err:
        raise SignInRefused("id_token_expired") from err
    except (InvalidClaimError, MissingClaimError) as err:
        claim = getattr(err, "claim", "") or ""
        reason = {
            "aud": "wrong_audience",
            "azp": "wrong_audience",
            "iss": "wrong_issuer",
            "nonce": "nonce_mismatch",
            "at_hash": "access_token_mismatch",
        }.get(claim, "invalid_id_token")
        raise SignInRefused(reason, detail=claim) from err
    except (InvalidTokenError, JoseError) as err:
        raise SignInRefused("invalid_id_token", detail=type(err).__name__) from err
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise SignInRefused("invalid_id_token", detail="sub")
    return VerifiedSignIn(provider.issuer, subject, dict(claims))


def has_mfa_evidence(provider: OidcProviderSettings, claims: dict[str, Any]) -> bool:
    amr = claims.get("amr")
    if isinstance(amr, list) and any(isinstance(m, str) and m in provider.mfa_amr for m in amr):
        return True
    acr = claims.get("acr")
    return isinstance(acr, str) and acr in provider.mfa_acr


def mapped_roles(provider: OidcProviderSettings, claims: dict[str, Any]) -> frozenset[Role]:
    groups = claims.get(provider.groups_claim)
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list):
        return frozenset()
    return frozenset(
        Role(provider.group_roles[g])
        for g in groups
        if isinstance(g, str) and g in provider.group_roles
    )


# --------------------------------------------------------------------- accounts


@dataclass(frozen=True)
class SignedIn:
    user: User
    created: bool


def sign_in_account(
    db: Session, name: str, provider: OidcProviderSettings, verified: VerifiedSignIn
) -> SignedIn:
    """The account for (issuer, subject): found, or created for a mapped group. Refuses the
    sign-in (SignInRefused) rather than guess; the caller's unit of work commits."""
    claims = verified.claims
    if not has_mfa_evidence(provider, claims):
        raise SignInRefused("no_mfa_evidence", verified.actor)
    roles = mapped_roles(provider, claims)
    if not roles:
        raise SignInRefused("no_mapped_group", verified.actor)
    now = runtime.now()
    link = db.scalar(
        select(OidcIdentity).where(
            OidcIdentity.issuer == verified.issuer, OidcIdentity.subject == verified.subject
        )
    )
    email = identity.normalise_email(str(claims.get("email") or ""))
    display_name = str(claims.get("name") or "").strip()[:120]
    if link is not None:
        user = link.user
        if not user.is_active:
            raise SignInRefused("account_disabled", verified.actor)
        if user.agency.code != provider.agency:
            raise SignInRefused("agency_mismatch", verified.actor)
        link.last_sign_in_at = now
        # The provider's groups decide the roles at every sign-in: leaving a group ends a role.
        if user.roles != roles:
            user.role_grants = [UserRole(role=role.value) for role in sorted(roles)]
        if email and email != user.email and not _email_taken(db, email, user.id):
            user.email = email
        if display_name:
            user.display_name = display_name
        db.flush()
        return SignedIn(user, created=False)
    if not email or "@" not in email or len(email) > identity.EMAIL_MAX:
        raise SignInRefused("no_email", verified.actor)
    if _email_taken(db, email, None):
        # Never link by email: a matching address is not proof it is the same person.
        raise SignInRefused("email_in_use", verified.actor)
    user = User(
        id=uuid.uuid4(),
        email=email,
        display_name=display_name or email,
        agency=identity.agency_by_code(db, provider.agency),
        password_hash=NO_PASSWORD,
        created_at=now,
    )
    user.role_grants = [UserRole(role=role.value) for role in sorted(roles)]
    db.add(user)
    db.add(
        OidcIdentity(
            user=user,
            provider=name,
            issuer=verified.issuer,
            subject=verified.subject,
            created_at=now,
            last_sign_in_at=now,
        )
    )
    db.flush()
    return SignedIn(user, created=True)


def _email_taken(db: Session, email: str, other_than: uuid.UUID | None) -> bool:
    query = select(User.id).where(User.email == email)
    if other_than is not None:
        query = query.where(User.id != other_than)
    return db.scalar(query) is not None
