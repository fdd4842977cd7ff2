"""MASH Hub: the multi-agency safeguarding hub's shared system.

`create_app(settings)` builds the app; nothing happens at import time.
"""

from __future__ import annotations

import functools
from pathlib import Path

import structlog
from flask import Flask, Response
from flask_wtf.csrf import CSRFProtect
from govuk_frontend_wtf.main import WTFormsHelpers
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, PrefixLoader
from werkzeug.middleware.proxy_fix import ProxyFix

from mash_hub import agencies, presenting_issues
from mash_hub.clock import Clock
from mash_hub.config import ConfigError, Settings, load_settings
from mash_hub.db import REPO_ROOT, Database, close_request, commit_request, rollback_request
from mash_hub.deadlines import WorkingCalendar
from mash_hub.policy import PolicyDecisionPoint


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Flask:
    from mash_hub import logs
    from mash_hub.api import views as api_views
    from mash_hub.audit_api import views as audit_views
    from mash_hub.authz import check_every_endpoint_declared, public
    from mash_hub.breaches import views as breach_views
    from mash_hub.break_glass import views as break_glass_views
    from mash_hub.casefile import views as casefile_views
    from mash_hub.contacts import views as contact_views
    from mash_hub.contacts.hooks import ContactHooks, install
    from mash_hub.contacts.identifiers import format_nhs_number
    from mash_hub.criteria import services as criteria_services
    from mash_hub.criteria import views as criteria_views
    from mash_hub.disclosure import views as disclosure_views
    from mash_hub.firewall import records
    from mash_hub.governance import views as governance_views
    from mash_hub.home import views as home_views
    from mash_hub.http.confirm import confirmations
    from mash_hub.identity import views as identity_views
    from mash_hub.models import firewall_tables
    from mash_hub.notifications import views as notification_views
    from mash_hub.operations import health, metrics
    from mash_hub.people import services as people
    from mash_hub.people import views as people_views
    from mash_hub.referrals import services as referrals
    from mash_hub.referrals import views as referral_views
    from mash_hub.reports import views as report_views
    from mash_hub.screening import views as screening_views
    from mash_hub.sharing import services as sharing
    from mash_hub.sharing import views as sharing_views
    from mash_hub.web import errors, filters, gate, security
    from mash_hub.web.sessions import DatabaseSessionInterface

    settings = settings or load_settings()
    logs.configure(settings)
    app = Flask(
        __name__,
        template_folder=None,
        static_folder="static",
        instance_path=str(Path(settings.app.instance_path).resolve()),
    )
    app.config.update(
        SECRET_KEY=settings.app.secret_key,
        MAX_CONTENT_LENGTH=settings.api.max_body_bytes,
        TESTING=settings.app.mode == "test",
        # The server-side session bounds a form's life; a fixed CSRF expiry would only
        # lose someone's half-typed contact.
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=settings.app.production,
        JSON_SORT_KEYS=False,
    )
    if settings.app.trusted_proxies:
        # The client and scheme as the proxies in front saw them, from their headers only:
        # the sign-in throttle and the audit's client address are per real client.
        hops = settings.app.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    database = Database(settings.database.url, settings.database.echo)
    app.extensions["mash.settings"] = settings
    app.extensions["mash.clock"] = clock or Clock()
    app.extensions["mash.db"] = database
    app.extensions["mash.master_key"] = settings.master_key_bytes()
    app.extensions["mash.keys_verified"] = _check_master_key(
        database, settings, app.extensions["mash.master_key"]
    )
    try:
        app.extensions["mash.calendar"] = WorkingCalendar.from_settings(settings.calendar)
    except ValueError as err:
        raise ConfigError(f"{settings.source}: [calendar] {err}") from err
    # Parsed and checked once: an app with a broken policy set does not start.
    app.extensions["mash.pdp"] = PolicyDecisionPoint.from_dir(settings.firewall.policies_path())
    # The firewall guards tables owned by the packages built on it: it is handed them.
    records.install(firewall_tables())
    # People, sharing and referrals build on contacts; contacts reaches them only through
    # these.
    install(
        app,
        ContactHooks(
            created=people.suggest_for_contact,
            rated=sharing.contact_rated,
            closed=sharing.contact_closed,
            requests=sharing.requests_on_opened_contact,
            amended=people.subject_amended,
            # An onward referral carries the criteria check recorded before the approval.
            stepped_up=referrals.step_up_from,
            approved=functools.partial(
                referrals.outcome_approved, criteria=criteria_services.latest_recorded
            ),
        ),
    )

    app.jinja_loader = ChoiceLoader(
        [
            FileSystemLoader(str(REPO_ROOT / "templates")),
            PrefixLoader(
                {
                    "govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja"),
                    "govuk_frontend_wtf": PackageLoader("govuk_frontend_wtf"),
                }
            ),
        ]
    )
    WTFormsHelpers(app)
    # Pages name agencies; codes are for the API and the policies.
    app.add_template_filter(agencies.agency_name, "agency_name")
    app.add_template_filter(agencies.agency_names, "agency_names")
    # Presenting issues by their plain-English labels; codes are for the API and reports.
    app.add_template_filter(presenting_issues.label, "issue_label")
    # NHS numbers in their 3-3-4 form, as people read them (review m13).
    app.add_template_filter(lambda text: format_nhs_number(text) or text, "nhs")
    # The layout shows each confirmation once, as a success banner (#13, review m2).
    app.context_processor(lambda: {"confirmations": confirmations()})
    app.session_interface = DatabaseSessionInterface(database, settings)

    # Order matters: ids and CSRF first, then the gate; after_request runs in reverse.
    security.init_app(app)
    filters.init_app(app)
    logs.init_app(app)
    csrf = CSRFProtect(app)
    errors.init_app(app)
    identity_views.init_app(app)
    home_views.init_app(app)
    notification_views.init_app(app)
    health.init_app(app, keys_verified)
    metrics.init_app(app)
    api_views.init_app(app, csrf)
    contact_views.init_app(app, csrf)
    casefile_views.init_app(app, csrf)
    screening_views.init_app(app, csrf)
    break_glass_views.init_app(app)
    breach_views.init_app(app)
    criteria_views.init_app(app, csrf)
    governance_views.init_app(app)
    report_views.init_app(app)
    people_views.init_app(app)
    audit_views.init_app(app, csrf)
    sharing_views.init_app(app, csrf)
    referral_views.init_app(app, csrf)
    disclosure_views.init_app(app)
    gate.init_app(app)

    @app.after_request
    def _end_unit_of_work(response: Response) -> Response:
        # One unit of work per request: all of it commits, or none of it.
        if response.status_code < 400:
            commit_request()
        else:
            rollback_request()
        return response

    @app.teardown_appcontext
    def _discard_unit_of_work(_exc: BaseException | None) -> None:
        close_request()

    @public
    def static(filename: str) -> Response:
        return app.send_static_file(filename)

    app.view_functions["static"] = static
    check_every_endpoint_declared(app)
    return app


__all__ = ["create_app"]


def _check_master_key(database: Database, settings: Settings, master: bytes) -> bool:
    """Refuse to start with a master key that cannot open the agency keys; True once it
    is known to open them. A database that cannot be reached (or is not set up yet) is
    not a reason to refuse: each data call then fails closed by itself, and `/readyz`
    checks the key again (`keys_verified`)."""
    from sqlalchemy.exc import SQLAlchemyError

    from mash_hub.crypto import keys

    try:
        with database.transaction() as db:
            problem = keys.master_key_mismatch(db, master)
    except SQLAlchemyError:
        structlog.get_logger(__name__).warning("master_key_not_checked")
        return False
    finally:
        # The check's connection is not kept: the app may yet fail to start, and a server
        # forks its workers from this process, each to open connections of its own.
        database.engine.dispose()
    if problem is not None:
        raise ConfigError(f"{settings.source}: [keys] master_key: {problem}")
    return True


def keys_verified(app: Flask) -> bool:
    """Whether this app's master key is known to open the agency keys: checked at start,
    or now if the database was away then (a wrong key found now is not ready, and the
    next start refuses it)."""
    if app.extensions.get("mash.keys_verified"):
        return True
    from mash_hub.crypto import keys

    database: Database = app.extensions["mash.db"]
    with database.transaction() as db:
        verified = keys.master_key_mismatch(db, app.extensions["mash.master_key"]) is None
    app.extensions["mash.keys_verified"] = verified
    return verified
