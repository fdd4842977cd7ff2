"""The token endpoint and the JSON API v1 views."""

from __future__ import annotations

import base64

from authlib.oauth2.rfc6749.errors import InsecureTransportError
from flask import Blueprint, Flask, Response, jsonify, request
from flask_wtf.csrf import CSRFProtect

from mash_hub import db
from mash_hub.api import oauth
from mash_hub.api.openapi import document
from mash_hub.authz import Permission, acting_principal, public, requires
from mash_hub.identity import services as identity

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
    try:
        response: Response = oauth.token_server().create_token_response()
    except InsecureTransportError:
        # A token is never issued over plain HTTP, save to this machine in development.
        refused = jsonify(error="invalid_request", error_description="use HTTPS")
        refused.status_code = 400
        return refused
    return response


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
