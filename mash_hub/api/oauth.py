"""OAuth2 client credentials with Authlib's server: tokens for agency systems.

Clients authenticate with HTTP Basic; a token carries the scopes asked for (all of the
client's when none are named) and lives for [api] token_lifetime. Only a SHA-256 of each
token is stored.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from flask import Flask, current_app

from mash_hub import db
from mash_hub.authz.permissions import Scope
from mash_hub.identity import services as identity
from mash_hub.identity.models import ApiClient

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
        return endpoint == "token" and method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

    def validate_requested_scope(self) -> None:
        super().validate_requested_scope()
        requested = self.request.payload.scope
        if requested and self.request.client.get_allowed_scope(requested) is None:
            raise InvalidScopeError("the client does not hold every scope it asked for")


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
    app.extensions["mash.oauth_server"] = server
    return server


def token_server() -> AuthorizationServer:
    server: AuthorizationServer = current_app.extensions["mash.oauth_server"]
    return server
