"""The token endpoint and the JSON API v1 views."""

from __future__ import annotations

import base64
import json

from authlib.oauth2.rfc6749.errors import InsecureTransportError
from flask import Blueprint, Flask, Response, jsonify, request
from flask_wtf.csrf import CSRFProtect

from mash_hub import db
from mash_hub.api import oauth
from mash_hub.api.openapi import document
from mash_hub.authz import Permission, acting_principal, public, requires
from mash_hub.http.body import json_body
from mash_hub.http.errors import ApiError, token_refusal
from mash_hub.identity import services as identity
from mash_hub.identity import throttle
from mash_hub.outbox import webhooks

oauth_bp = Blueprint("oauth", __name__, url_prefix="/oauth")
api_bp = Blueprint("api", __name__, url_prefix="/api/v1")


def init_app(app: Flask, csrf: CSRFProtect) -> None:
    oauth.init_app(app)
    # Token and API calls carry credentials in headers, never cookies: no CSRF exposure.
    csrf.exempt(oauth_bp)
    csrf.exempt(api_bp)
    app.register_blueprint(oauth_bp)
    app.register_blueprint(api_bp)


@oauth_bp.route("/token", methods=["POST"])
@public  # the client authenticates here, with HTTP Basic, inside Authlib's grant
def issue_token() -> Response:
    if not _basic_credentials_readable(request.headers.get("Authorization", "")):
        # Authlib raises on Basic credentials that are not base64 of UTF-8 "id:secret";
        # to the client that is simply a failed authentication.
        refused = jsonify(error="invalid_client", error_description="unreadable credentials")
        refused.status_code = 401
        refused.headers["WWW-Authenticate"] = 'Basic realm="mash-hub"'
        return refused
    # Before any credential is checked: has this address failed too often, or has this
    # client had its tokens for the minute? (Security review V5: 60 of 60 were issued.)
    source = throttle.source_of(request.remote_addr)
    claimed = _claimed_client_id()
    client = identity.client_by_client_id(db.session(), claimed) if claimed else None
    wait = throttle.token_wait(db.session(), client.id if client is not None else None, source)
    if wait is not None:
        db.rollback_request()
        throttle.turned_away(source, wait, email=None, action="token:issue")
        return token_refusal(
            429,
            "rate_limited",
            f"too many token requests: try again in {wait.retry_after()} s",
            retry_after=wait.retry_after(),
        )
    try:
        response: Response = oauth.token_server().create_token_response()
    except InsecureTransportError:
        # A token is never issued over plain HTTP, save to this machine in development.
        return token_refusal(400, "invalid_request", "use HTTPS")
    if response.status_code == 401:
        db.rollback_request()
        throttle.record_token_failure(source, claimed or "")
    return response


def _claimed_client_id() -> str | None:
    """The client the caller says it is (not yet checked): from HTTP Basic, the form's
    client_id, or the issuer of a private_key_jwt assertion."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    if request.form.get("client_id"):
        return request.form["client_id"][:64]
    assertion = request.form.get("client_assertion", "")
    try:
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        issuer = claims.get("iss") if isinstance(claims, dict) else None
    except (IndexError, ValueError, UnicodeDecodeError):
        return None
    return issuer[:64] if isinstance(issuer, str) and issuer else None


def _basic_credentials_readable(header: str) -> bool:
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic":
        return True  # no Basic credentials: Authlib answers invalid_client itself
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    return ":" in decoded


@api_bp.route("/openapi.json")
@public
def openapi() -> Response:
    return jsonify(document())


@api_bp.route("/whoami")
@requires(Permission.API_TOKEN_READ)
def whoami() -> Response:
    principal = acting_principal()
    return jsonify(
        {
            "client_id": principal.id,
            "agency": principal.agency,
            "scopes": sorted(s.value for s in principal.scopes),
        }
    )


@api_bp.route("/agencies")
@requires(Permission.API_AGENCIES_READ)
def agencies() -> Response:
    return jsonify(
        {
            "agencies": [
                {"code": a.code, "name": a.name, "mash_core": a.mash_core}
                for a in identity.list_agencies(db.session())
            ],
            "next_cursor": None,
        }
    )


# --- webhook subscriptions ---------------------------------------------------------------


@api_bp.route("/subscriptions", methods=["POST"])
@requires(Permission.API_SUBSCRIPTIONS_MANAGE)
def subscribe() -> tuple[Response, int]:
    principal = acting_principal()
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(
            422, "send a JSON object with url and kinds", fields={"body": "not an object"}
        )
    subscriber = webhooks.Subscriber(principal.id, principal.agency, principal.scopes)
    try:
        subscription, secret = webhooks.subscribe(
            db.session(), subscriber, body.get("url"), body.get("kinds"), actor=principal.id
        )
    except webhooks.SubscriptionRefused as refused:
        raise ApiError(422, "the subscription has problems", fields=refused.fields) from refused
    return jsonify({**webhooks.as_json(subscription), "secret": secret}), 201


@api_bp.route("/subscriptions")
@requires(Permission.API_SUBSCRIPTIONS_MANAGE)
def subscriptions() -> Response:
    own = webhooks.active(db.session(), acting_principal().id)
    return jsonify({"subscriptions": [webhooks.as_json(s) for s in own]})


@api_bp.route("/subscriptions/<subscription_id>", methods=["DELETE"])
@requires(Permission.API_SUBSCRIPTIONS_MANAGE)
def unsubscribe(subscription_id: str) -> tuple[str, int]:
    principal = acting_principal()
    try:
        webhooks.end(db.session(), subscription_id, actor=principal.id, client_id=principal.id)
    except webhooks.SubscriptionNotFound as missing:
        raise ApiError(404, "no such subscription of this client") from missing
    return "", 204
