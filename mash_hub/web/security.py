"""Per-request ids, CSP nonces and the security headers every response carries."""

from __future__ import annotations

import secrets
import uuid
from urllib.parse import urlsplit

from flask import Flask, Response, g, has_request_context, request
from werkzeug.exceptions import BadRequest

from mash_hub import runtime

STATIC_PREFIXES = ("/static/",)
# Load-balancer probes and the metrics scrape (mash_hub.operations), answered at any Host:
# they use the server's own address, not the public one.
PROBE_PATHS = ("/healthz", "/readyz", "/metrics")


def is_api_request() -> bool:
    return request.path.startswith(("/api/", "/oauth/"))


def request_id() -> str:
    # setdefault: a before_request hook may never have run (CSRF aborts before it).
    rid: str = g.setdefault("request_id", uuid.uuid4().hex)
    return rid


def csp_nonce() -> str:
    nonce: str = g.setdefault("csp_nonce", secrets.token_urlsafe(18))
    return nonce


def origin() -> runtime.Origin:
    """The request id and client address that audit events record."""
    if not has_request_context():
        return None, None
    return request_id(), request.remote_addr


def init_app(app: Flask) -> None:
    production = app.extensions["mash.settings"].app.production
    runtime.set_origin(app, origin)

    public_url = app.extensions["mash.settings"].app.public_url
    expected_host = urlsplit(public_url).netloc.lower() if public_url else None

    @app.before_request
    def _assign_ids() -> None:
        request_id()
        csp_nonce()
        # The hub answers under its configured address only: a request naming another Host
        # is refused before anything reads it (a 400, never a 500 or a redirect elsewhere).
        # Health probes come from the load balancer, at the server's own address.
        if (
            expected_host is not None
            and request.host.lower() != expected_host
            and request.path not in PROBE_PATHS
        ):
            raise BadRequest("this hub answers only at its configured address")

    @app.context_processor
    def _template_ids() -> dict[str, str]:
        return {"cspNonce": csp_nonce(), "request_id": request_id()}

    @app.after_request
    def _headers(response: Response) -> Response:
        nonce = csp_nonce()
        headers = response.headers
        headers["Content-Security-Policy"] = (
            "default-src 'self'; "
            f"script-src 'self' 'nonce-{nonce}'; "
            f"style-src 'self' 'nonce-{nonce}'; "
            "img-src 'self' data:; font-src 'self'; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'"
        )
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Frame-Options"] = "DENY"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains" + (
            "; preload" if production else ""
        )
        headers["X-Request-Id"] = request_id()
        if not request.path.startswith(STATIC_PREFIXES):
            # Signed-in pages and API answers carry case data: never store them anywhere.
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"
        headers.pop("Server", None)
        return response
