"""An OpenID Connect provider for the tests, built with Authlib's server and served on
127.0.0.1 in a thread: discovery, JWKS, authorize (approves at once, as `person`) and token.

Tests set `person` to who signs in there, and `tamper` to make the provider misbehave the
way an attacker or a broken provider would (wrong nonce, alg "none", wrong audience...).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.models import AuthorizationCodeMixin
from flask import Flask, jsonify, request
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from werkzeug.serving import make_server

from mash_hub.clock import FrozenClock

CLIENT_ID = "mash-hub-test"
CLIENT_SECRET = "test-provider-secret-" + "x" * 16  # noqa: S105 - test provider only


@dataclass
class Person:
    sub: str = "officer-0001"
    email: str = "ada.jones@police.example"
    name: str = "Ada Jones"
    groups: list[str] = field(default_factory=lambda: ["MASH-PPD-Screeners"])
    amr: list[str] | None = field(default_factory=lambda: ["pwd", "mfa"])
    acr: str | None = None


@dataclass
class _Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    person: Person
    auth_time: int

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return self.person.acr

    def get_amr(self) -> list[str] | None:
        return self.person.amr


class _Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, redirect_uris: list[str]) -> None:
        self.redirect_uris = redirect_uris

    def get_client_id(self) -> str:
        return CLIENT_ID

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, CLIENT_SECRET)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


class TestIdentityProvider:
    """Start with `start()`, stop with `stop()`; `issuer` is its http://127.0.0.1:<port>."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, clock: FrozenClock, redirect_uris: list[str]) -> None:
        self.clock = clock
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key-1", "use": "sig"})
        self.signing_key: RSAKey | None = None  # sign with another key than the published one
        self.person = Person()
        # (header, claims) -> (header, claims), or "alg-none" to send an unsigned token.
        self.tamper: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
        self.unsigned = False
        self.hs256_secret: str | None = None  # sign with HMAC under this shared secret
        self.authorize_requests: list[dict[str, str]] = []
        self.codes: dict[str, _Code] = {}
        self.client = _Client(redirect_uris)
        self.app = self._build()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)

    # ------------------------------------------------------------------- Authlib

    def _build(self) -> Flask:
        provider = self
        app = Flask("test_identity_provider")
        app.config["OAUTH2_ERROR_URIS"] = []
        server = AuthorizationServer(
            app,
            query_client=lambda cid: provider.client if cid == CLIENT_ID else None,
            save_token=lambda token, req: None,
        )

        class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

            def save_authorization_code(self, code: str, req: Any) -> None:
                data = req.payload.data
                provider.codes[code] = _Code(
                    code=code,
                    client_id=CLIENT_ID,
                    redirect_uri=req.payload.redirect_uri,
                    scope=req.scope,
                    nonce=data.get("nonce"),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                    person=req.user,
                    auth_time=provider.now(),
                )

            def query_authorization_code(self, code: str, client: Any) -> _Code | None:
                return provider.codes.get(code)

            def delete_authorization_code(self, authorization_code: _Code) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: _Code) -> Person:
                return authorization_code.person

        class OpenID(OpenIDCode):  # type: ignore[misc]
            def exists_nonce(self, nonce: str, req: Any) -> bool:
                return any(c.nonce == nonce for c in provider.codes.values())

            def resolve_client_private_key(self, client: Any) -> RSAKey:
                return provider.signing_key or provider.key

            def get_client_algorithm(self, client: Any) -> str:
                return "RS256"

            def get_encode_header(self, client: Any) -> dict[str, Any]:
                return {"alg": "RS256", "kid": "test-key-1"}

            def get_client_claims(self, client: Any) -> dict[str, Any]:
                now = provider.now()
                return {"iss": provider.issuer, "aud": [CLIENT_ID], "iat": now, "exp": now + 300}

            def generate_user_info(self, user: Person, scope: str) -> UserInfo:
                return UserInfo(sub=user.sub, email=user.email, name=user.name, groups=user.groups)

            def encode_id_token(self, token: dict[str, Any], req: Any) -> str:
                signed = super().encode_id_token(token, req)
                if provider.tamper is None and not provider.unsigned and not provider.hs256_secret:
                    return str(signed)
                decoded = jwt.decode(signed, provider.signing_key or provider.key)
                header, claims = dict(decoded.header), dict(decoded.claims)
                if provider.tamper is not None:
                    provider.tamper(header, claims)
                if provider.unsigned:
                    return _unsigned(claims)
                if provider.hs256_secret:
                    secret = OctKey.import_key(provider.hs256_secret)
                    return str(jwt.encode({"alg": "HS256"}, claims, secret))
                return str(jwt.encode(header, claims, provider.signing_key or provider.key))

        server.register_grant(CodeGrant, [CodeChallenge(required=True), OpenID(require_nonce=True)])

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return jsonify(
                issuer=provider.issuer,
                authorization_endpoint=f"{provider.issuer}/authorize",
                token_endpoint=f"{provider.issuer}/token",
                jwks_uri=f"{provider.issuer}/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                code_challenge_methods_supported=["S256"],
                token_endpoint_auth_methods_supported=["client_secret_basic"],
            )

        @app.get("/jwks")
        def jwks() -> Any:
            return jsonify(keys=[provider.key.as_dict(private=False)])

        @app.get("/authorize")
        def authorize() -> Any:
            provider.authorize_requests.append(request.args.to_dict())
            if request.args.get("code_challenge_method") != "S256":
                return jsonify(error="invalid_request", error_description="PKCE S256 required"), 400
            grant = server.get_consent_grant(end_user=provider.person)
            return server.create_authorization_response(grant=grant, grant_user=provider.person)

        @app.post("/token")
        def token() -> Any:
            return server.create_token_response()

        return app

    def now(self) -> int:
        return int(self.clock.now().timestamp())


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unsigned(claims: dict[str, Any]) -> str:
    """An ID token with alg "none": header and claims, and an empty signature."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
