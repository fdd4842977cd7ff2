"""OAuth2 client credentials with Authlib's server: tokens for agency systems.

Clients authenticate with HTTP Basic, or with private_key_jwt (RFC 7523: a short-lived JWT
signed with the key whose public half the client registered; its jti is used once). A token
carries the scopes asked for (all of the client's when none are named) and lives for [api]
token_lifetime. Only a SHA-256 of each token is stored. A revoked client gets no token,
and its tokens stop working on their next call.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidScopeError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import Flask, current_app, g
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key

from mash_hub import db, runtime
from mash_hub.authz.permissions import Scope
from mash_hub.identity import services as identity
from mash_hub.identity.models import ApiClient
from mash_hub.identity.oidc import external_url

SUPPORTED_SCOPES = [scope.value for scope in Scope]


class OAuthClient(ClientMixin):  # type: ignore[misc]
    """Authlib's view of a registered agency system."""

    def __init__(self, model: ApiClient) -> None:
        self.model = model

    def get_client_id(self) -> str:
        return self.model.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        held = self.model.scope.split()
        if not scope:
            return " ".join(held)
        requested = scope.split()
        if not set(requested) <= set(held):
            return None
        return " ".join(s for s in held if s in requested)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return identity.client_secret_matches(self.model, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == self.model.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = [identity.CLIENT_SECRET_BASIC, identity.PRIVATE_KEY_JWT]

    def validate_requested_scope(self) -> None:
        super().validate_requested_scope()
        requested = self.request.payload.scope
        if requested and self.request.client.get_allowed_scope(requested) is None:
            raise InvalidScopeError("the client does not hold every scope it asked for")


class PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    """RFC 7523 client authentication, checked on the hub's clock.

    iss and sub are the client id, aud is this token endpoint, exp is present and at most
    MAX_ASSERTION_LIFETIME ahead, the signature verifies with the client's registered public
    key under an algorithm of that key's kind, and the jti has not been used before.
    """

    CLIENT_AUTH_METHOD = identity.PRIVATE_KEY_JWT
    MAX_ASSERTION_LIFETIME = 300
    LEEWAY = 60

    def __init__(self) -> None:
        super().__init__(validate_jti=True, leeway=self.LEEWAY)

    def __call__(self, query_client: Any, request: Any) -> OAuthClient | None:
        try:
            client: OAuthClient | None = super().__call__(query_client, request)
        except InvalidClientError as err:
            err.status_code = 401  # the contract: invalid_client is 401, however it failed
            raise
        return client

    def get_audiences(self) -> list[str]:
        return [external_url("oauth.issue_token")]

    def resolve_client_public_key(self, client: OAuthClient) -> Key:
        if client.model.auth_method != identity.PRIVATE_KEY_JWT or not client.model.public_jwk:
            raise InvalidClientError(description="the client does not use private_key_jwt")
        return JWKRegistry.import_key(json.loads(client.model.public_jwk))

    def process_assertion_claims(self, assertion: str, key: Key) -> dict[str, Any]:
        algorithms = identity.ASSERTION_ALGORITHMS.get(key.key_type, ())
        try:
            token = jwt.decode(assertion, key, algorithms=list(algorithms))
        except (JoseError, ValueError) as err:
            raise InvalidClientError(description="the client assertion does not verify") from err
        claims: dict[str, Any] = dict(token.claims)
        now = int(runtime.now().timestamp())
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=self.LEEWAY,
            iss={"essential": True},
            sub={"essential": True},
            aud={"essential": True, "values": self.get_audiences()},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as err:
            raise InvalidClientError(description=f"client assertion: {err.description}") from err
        if claims["iss"] != claims["sub"]:
            raise InvalidClientError(description="client assertion: iss and sub must match")
        if not isinstance(claims["exp"], int) or claims["exp"] > now + self.MAX_ASSERTION_LIFETIME:
            raise InvalidClientError(description="client assertion: exp is too far ahead")
        g.client_assertion_claims = claims  # per request: this object serves every thread
        return claims

    def verify_claims(self, claims: Any) -> None:  # done in process_assertion_claims
        return None

    def authenticate_client(self, client: OAuthClient) -> OAuthClient:
        authenticated: OAuthClient = super().authenticate_client(client)
        claims: dict[str, Any] = g.client_assertion_claims
        expires = datetime.fromtimestamp(claims["exp"] + self.LEEWAY, UTC)
        if not identity.use_assertion_once(client.model, str(claims["jti"]), expires):
            raise InvalidClientError(description="client assertion: jti has been used before")
        return authenticated


def _query_client(client_id: str) -> OAuthClient | None:
    model = identity.client_by_client_id(db.session(), client_id)
    if model is None or model.revoked_at is not None:
        return None
    return OAuthClient(model)


def _save_token(token: dict[str, Any], request: Any) -> None:
    client: OAuthClient = request.client
    identity.store_token(db.session(), client.model, token["access_token"], token.get("scope", ""))


def init_app(app: Flask) -> AuthorizationServer:
    lifetime = app.extensions["mash.settings"].api.token_lifetime.seconds
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"client_credentials": lifetime}
    app.config["OAUTH2_SCOPES_SUPPORTED"] = SUPPORTED_SCOPES
    # One server per app: a module-level one would keep the first app's settings.
    server = AuthorizationServer()
    server.init_app(app, query_client=_query_client, save_token=_save_token)
    server.register_grant(ClientCredentialsGrant)
    server.register_client_auth_method(identity.PRIVATE_KEY_JWT, PrivateKeyJwt())
    app.extensions["mash.oauth_server"] = server
    return server


def token_server() -> AuthorizationServer:
    server: AuthorizationServer = current_app.extensions["mash.oauth_server"]
    return server
