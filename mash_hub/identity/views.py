"""Signing in (password, then TOTP), enrolling an authenticator, signing out, users list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import segno
import structlog
from authlib.integrations.base_client import OAuthError
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, current_user, login_user, logout_user
from markupsafe import Markup
from werkzeug.wrappers.response import Response as BaseResponse

from mash_hub import db, runtime
from mash_hub.audit.services import EventDraft, record, record_on_its_own
from mash_hub.authz import Permission, Role, acting_principal, current_principal, public, requires
from mash_hub.http.errors import token_refusal
from mash_hub.identity import oidc, throttle
from mash_hub.identity import services as identity
from mash_hub.identity.forms import SecurityCodeForm, SignInForm, SignOutForm
from mash_hub.identity.models import User

bp = Blueprint("identity", __name__)
log = structlog.get_logger("mash_hub.identity")

PENDING_KEY = "mfa_pending"
WRONG_CREDENTIALS = "Enter a correct email address and password"
HELD_BACK = {
    "address": "There have been too many attempts to sign in from your network. Wait until "
    "{at} (UK time), then try again",
    "account_address": "There have been too many attempts to sign in to this account. Wait "
    "until {at} (UK time), then try again",
}
WRONG_CODE = "The security code is not correct, or has already been used. Enter the latest code"


def init_app(app: Flask) -> None:
    login_manager = LoginManager()
    login_manager.session_protection = None  # sessions are server-side and renewed at sign-in
    login_manager.init_app(app)

    @login_manager.user_loader
    def _load_user(user_id: str) -> User | None:
        return identity.load_active_user(db.session(), user_id)

    @app.context_processor
    def _signed_in_user() -> dict[str, Any]:
        if not current_user.is_authenticated:
            return {"principal_user": None}
        principal = current_principal()
        roles = sorted(current_user.roles)
        items = [{"href": url_for("home.index"), "text": "Home"}]
        if principal is not None and principal.can(Permission.SCREENING_QUEUE_VIEW):
            items.append({"href": url_for("screening.queue"), "text": "Screening queue"})
        if principal is not None and principal.can(Permission.CONTACTS_CREATE):
            items.append({"href": url_for("screening.intake"), "text": "Record a contact"})
        if principal is not None and principal.can(Permission.CONTACTS_VIEW):
            items.append({"href": url_for("people.search"), "text": "Find a contact"})
        if principal is not None and principal.can(Permission.REQUESTS_ANSWER):
            items.append({"href": url_for("sharing.inbox"), "text": "Requests"})
        if (
            principal is not None
            and principal.can(Permission.REFERRALS_DECIDE)
            and principal.agency in runtime.settings().referrals.receivers.values()
        ):
            items.append({"href": url_for("referrals.inbox"), "text": "Referrals"})
        if principal is not None and principal.can(Permission.USERS_READ):
            items.append({"href": url_for("identity.users"), "text": "Users"})
        if principal is not None and principal.can(Permission.GOVERNANCE_VIEW):
            items.append({"href": url_for("governance.workspace"), "text": "Governance"})
        return {
            "principal_user": current_user,
            "principal_roles": [Role(r).label for r in roles],
            "navigation_items": items,
        }

    oidc.init_app(app)
    app.register_blueprint(bp)
    # First of all, before the session, CSRF or the gate do any work: an address this
    # worker already knows to be held back is turned away at once.
    app.before_request_funcs.setdefault(None, []).insert(0, _turn_away_held_address)


HELD_PATHS = {
    "/sign-in": "sign_in",
    "/sign-in/security-code": "sign_in",
    "/sign-in/set-up-authenticator": "sign_in",
    "/oauth/token": "token",
}


def _turn_away_held_address() -> Response | tuple[str, int, dict[str, str]] | None:
    # The token endpoint is held back on POST; the sign-in pages on any method (a held-back
    # address has no use for the form, and making one costs a session).
    kind = HELD_PATHS.get(request.path)
    if kind is None or (kind == "token" and request.method != "POST"):
        return None
    source = throttle.source_of(request.remote_addr)
    wait = throttle.held_address(source, kind)
    if wait is None:
        return None
    throttle.turned_away(source, wait, email=None, action=f"{kind}:held", known=True)
    if kind == "token":
        return token_refusal(
            429,
            "rate_limited",
            f"too many token requests: try again in {wait.retry_after()} s",
            retry_after=wait.retry_after(),
        )
    page = render_template(
        "identity/held_back.html",
        title="Too many attempts to sign in",
        message=HELD_BACK["address"].format(at=wait.uk_time()),
    )
    return _too_many(page, wait)


def _pending_user() -> User | None:
    """The user who has passed the password step, if that was recent enough."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    try:
        started = datetime.fromisoformat(str(pending.get("at")))
    except ValueError:
        return None
    if runtime.now() - started > runtime.settings().login.mfa_step_timeout.timedelta:
        session.pop(PENDING_KEY, None)
        return None
    return identity.load_active_user(db.session(), str(pending.get("user_id")))


def _source() -> str:
    return throttle.source_of(request.remote_addr)


def _failed_step(key: str, stage: str, email: str) -> None:
    # A failed step changes nothing but the attempt count: drop the request's work first,
    # so the attempt (its own transaction) never waits on this request's locks.
    db.rollback_request()
    throttle.record_failure(key, stage, _source(), email)


def _held_back(email: str, stage: str, wait: throttle.Wait) -> str:
    """Audit (once per address and window) and word a refusal to try now."""
    db.rollback_request()
    throttle.turned_away(_source(), wait, email=email, action=f"sign_in:{stage}")
    return HELD_BACK.get(wait.reason, HELD_BACK["account_address"]).format(at=wait.uk_time())


def _too_many(page: str, wait: throttle.Wait) -> tuple[str, int, dict[str, str]]:
    return page, 429, {"Retry-After": str(wait.retry_after())}


def _complete_sign_in(user: User, key: str) -> BaseResponse:
    identity.record_success(db.session(), key, "totp", _source())
    session.pop(PENDING_KEY, None)
    login_user(user)
    session.regenerate()  # type: ignore[attr-defined]
    log.info("sign_in_completed", user_id=str(user.id))
    return redirect(url_for("home.index"))


@bp.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in() -> BaseResponse | str | tuple[str, int, dict[str, str]]:
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = SignInForm()
    notice = session.pop("notice", None)
    wait = None
    if form.validate_on_submit():
        email = form.email.data or ""
        key = identity.account_key(email)
        request_db = db.session()
        # Before any password is hashed: is this address, or this account from here,
        # trying too often?
        wait = throttle.sign_in_wait(request_db, key, _source())
        if wait is not None:
            form.email.errors = [_held_back(email, "password", wait)]
        else:
            user = identity.verify_password(request_db, email, form.password.data or "")
            if user is None:
                log.info("sign_in_password_refused", account=key[:12])
                _failed_step(key, "password", email)
                identity.audit_sign_in_refused(email, "password", "wrong email or password")
                form.email.errors = [WRONG_CREDENTIALS]
            else:
                identity.record_success(request_db, key, "password", _source())
                identity.begin_enrolment(user)
                session[PENDING_KEY] = {"user_id": str(user.id), "at": runtime.now().isoformat()}
                session.regenerate()  # type: ignore[attr-defined]
                log.info("sign_in_password_accepted", user_id=str(user.id))
                if user.totp_enrolled_at is None:
                    return redirect(url_for("identity.enrol"))
                return redirect(url_for("identity.security_code"))
    page = render_template(
        "identity/sign_in.html",
        form=form,
        title="Sign in to MASH Hub",
        notice=notice,
        providers=[
            {"name": name, "label": oidc.button_label(name, provider)}
            for name, provider in oidc.providers().items()
        ],
    )
    return _too_many(page, wait) if wait is not None else page


# What the refusal page tells the person, by reason. Anything about the token itself gets
# the same words: the person cannot fix it, and the details are in the log and the audit.
REFUSAL_MESSAGES = {
    "no_mfa_evidence": (
        "Your organisation's sign-in did not confirm a second factor (multi-factor "
        "authentication). MASH Hub only accepts sign-ins that used one. Sign in again and "
        "use your security key, authenticator app or code when asked."
    ),
    "no_mapped_group": (
        "Your organisation's account is not in a group that has access to MASH Hub. Ask your "
        "manager or your organisation's IT service desk to add you to the right group."
    ),
    "account_disabled": "Your MASH Hub account has been disabled. Contact your MASH manager.",
    "email_in_use": (
        "A MASH Hub account already uses your email address. Ask a MASH Hub administrator "
        "to link your organisation's account."
    ),
    "no_email": "Your organisation's sign-in did not give an email address for you.",
}
GENERIC_REFUSAL = (
    "We could not confirm your sign-in with your organisation. Go back to the sign-in page "
    "and try again. If this keeps happening, contact your IT service desk."
)


def _refuse_oidc(name: str, err: oidc.SignInRefused) -> tuple[str, int]:
    """Log, audit (in its own transaction: the answer is an error) and explain a refusal."""
    db.rollback_request()
    provider = oidc.providers()[name]
    actor = err.actor or f"oidc:{name}"
    log.warning(
        "oidc_sign_in_refused", provider=name, reason=err.reason, detail=err.detail, actor=actor
    )
    record_on_its_own(
        EventDraft(
            kind="sign_in.oidc_refused",
            actor_type="user",
            actor_id=actor[:64],
            action="sign_in",
            decision="deny",
            reason=err.reason,
            agency=provider.agency,
            object_type="identity_provider",
            object_id=name[:64],
        )
    )
    message = REFUSAL_MESSAGES.get(err.reason, GENERIC_REFUSAL)
    page = render_template(
        "identity/oidc_refused.html",
        title="You cannot sign in to MASH Hub",
        message=message,
        provider_label=oidc.button_label(name, provider),
    )
    return page, 403


@bp.route("/sign-in/oidc/<name>")
@public
def oidc_start(name: str) -> BaseResponse:
    if name not in oidc.providers():
        abort(404)
    redirect_uri = oidc.external_url("identity.oidc_callback", name=name)
    try:
        response: BaseResponse = oidc.client(name).authorize_redirect(redirect_uri)
    except (OAuthError, OSError, ValueError) as err:
        log.error("oidc_provider_unreachable", provider=name, error=type(err).__name__)
        abort(503)
    return response


@bp.route("/sign-in/oidc/<name>/callback")
@public
def oidc_callback(name: str) -> BaseResponse | tuple[str, int]:
    if name not in oidc.providers():
        abort(404)
    provider = oidc.providers()[name]
    remote = oidc.client(name)
    try:
        if request.args.get("error"):
            raise oidc.SignInRefused("provider_error", detail=request.args["error"][:64])
        state = request.args.get("state", "")
        state_data = remote.framework.get_state_data(session, state) if state else None
        if not state_data or not state_data.get("nonce"):
            raise oidc.SignInRefused("state_mismatch")
        if not oidc.state_is_fresh(session.get(f"_state_{name}_{state}")):
            remote.framework.clear_state_data(session, state)
            raise oidc.SignInRefused("state_expired")
        remote.framework.clear_state_data(session, state)
        try:
            token = remote.fetch_access_token(
                code=request.args.get("code", ""),
                redirect_uri=state_data.get("redirect_uri"),
                code_verifier=state_data.get("code_verifier"),
            )
            metadata = remote.load_server_metadata()
            jwks = remote.fetch_jwk_set()
        except (OAuthError, OSError, ValueError) as err:
            raise oidc.SignInRefused("token_exchange_failed", detail=type(err).__name__) from err
        verified = oidc.verify_id_token(provider, metadata, jwks, token, state_data["nonce"])
        signed_in = oidc.sign_in_account(db.session(), name, provider, verified)
    except oidc.SignInRefused as err:
        return _refuse_oidc(name, err)
    user = signed_in.user
    record(
        db.session(),
        EventDraft(
            kind="sign_in.oidc_completed",
            actor_type="user",
            actor_id=str(user.id),
            action="sign_in",
            decision="allow",
            reason="account_created" if signed_in.created else "account_found",
            agency=user.agency.code,
            roles=tuple(sorted(r.value for r in user.roles)),
            object_type="user",
            object_id=str(user.id),
        ),
    )
    session.pop(PENDING_KEY, None)
    login_user(user)
    session.regenerate()  # type: ignore[attr-defined]
    log.info("sign_in_completed", user_id=str(user.id), method="oidc", provider=name)
    return redirect(url_for("home.index"))


@bp.route("/sign-in/security-code", methods=["GET", "POST"])
@public
def security_code() -> BaseResponse | str | tuple[str, int, dict[str, str]]:
    user = _pending_user()
    if user is None:
        return redirect(url_for("identity.sign_in"))
    if user.totp_enrolled_at is None:
        return redirect(url_for("identity.enrol"))
    form = SecurityCodeForm()
    wait = None
    if form.validate_on_submit():
        key = identity.account_key(user.email)
        wait = throttle.sign_in_wait(db.session(), key, _source())
        if wait is not None:
            form.code.errors = [_held_back(user.email, "totp", wait)]
        elif identity.verify_totp(db.session(), user, form.code.data or ""):
            return _complete_sign_in(user, key)
        else:
            log.info("sign_in_code_refused", user_id=str(user.id))
            _failed_step(key, "totp", user.email)
            identity.audit_sign_in_refused(user.email, "totp", "security code wrong or used")
            form.code.errors = [WRONG_CODE]
    page = render_template(
        "identity/security_code.html", form=form, title="Enter your security code"
    )
    return _too_many(page, wait) if wait is not None else page


@bp.route("/sign-in/set-up-authenticator", methods=["GET", "POST"])
@public
def enrol() -> BaseResponse | str | tuple[str, int, dict[str, str]]:
    user = _pending_user()
    if user is None:
        return redirect(url_for("identity.sign_in"))
    if user.totp_enrolled_at is not None:
        return redirect(url_for("identity.security_code"))
    secret = identity.totp_secret(user)
    if secret is None:
        return redirect(url_for("identity.sign_in"))
    form = SecurityCodeForm()
    wait = None
    if form.validate_on_submit():
        key = identity.account_key(user.email)
        wait = throttle.sign_in_wait(db.session(), key, _source())
        if wait is not None:
            form.code.errors = [_held_back(user.email, "totp", wait)]
        elif identity.confirm_enrolment(db.session(), user, form.code.data or ""):
            log.info("totp_enrolled", user_id=str(user.id))
            return _complete_sign_in(user, key)
        else:
            _failed_step(key, "totp", user.email)
            form.code.errors = [WRONG_CODE]
    uri = identity.provisioning_uri(user, secret)
    qr = segno.make(uri, error="m").svg_inline(scale=4, dark="#0b0c0c", light="#ffffff")
    text = identity.secret_as_text(secret)
    grouped = " ".join(text[i : i + 4] for i in range(0, len(text), 4))
    page = render_template(
        "identity/enrol.html",
        form=form,
        title="Set up your authenticator app",
        qr_svg=Markup(qr),  # noqa: S704 - segno's own SVG markup, no user input in it
        secret_text=grouped,
    )
    return _too_many(page, wait) if wait is not None else page


@bp.route("/sign-out", methods=["POST"])
@public
def sign_out() -> Response:
    form = SignOutForm()
    form.validate_on_submit()  # CSRFProtect has already refused a missing token
    user_id = current_user.get_id() if current_user.is_authenticated else None
    logout_user()
    session.revoke()  # type: ignore[attr-defined]
    log.info("signed_out", user_id=user_id)
    response = Response(render_template("identity/signed_out.html", title="You have signed out"))
    response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
    return response


@bp.route("/admin/users")
@requires(Permission.USERS_READ)
def users() -> str:
    """The accounts of the administrator's own agency, decided and audited by the firewall
    (`users:manage` on that agency's directory)."""
    return render_template(
        "identity/users.html",
        title="Users",
        users=identity.users_for_admin(db.session(), acting_principal()),
    )
