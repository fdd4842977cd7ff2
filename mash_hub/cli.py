"""The `mash-hub` command: database, demo data, users, API clients, and the web server."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from mash_hub import create_app
from mash_hub.audit.cli import audit
from mash_hub.authz.permissions import Role, Scope
from mash_hub.commands import HubContext, pass_hub, unit_of_work
from mash_hub.config import ConfigError, load_settings
from mash_hub.crypto.cli import keys
from mash_hub.outbox.cli import notifications
from mash_hub.policy.cli import policies
from mash_hub.policy.pdp import PolicyConfigError


@click.group()
@click.option(
    "--config",
    "config_path",
    envvar="MASH_CONFIG",
    default=None,
    help="TOML settings file (default: $MASH_CONFIG, else built-in defaults).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """MASH Hub: the multi-agency safeguarding hub."""
    ctx.obj = HubContext(config_path, create_app)


@cli.command("init-db")
@click.option(
    "--app-role",
    default=None,
    help="PostgreSQL: also create or update this role for the hub to connect as (not the "
    "owner, no superuser, no BYPASSRLS) with every grant it needs. Run as the schema owner.",
)
@click.option(
    "--app-password-stdin",
    is_flag=True,
    help="Set the application role's password from the first line of standard input.",
)
@pass_hub
def init_db(hub: HubContext, app_role: str | None, app_password_stdin: bool) -> None:
    """Create or upgrade the database schema by running the migrations."""
    from mash_hub.db import Database, head_revision, upgrade
    from mash_hub.operations import roles

    if app_password_stdin and not app_role:
        raise click.UsageError("--app-password-stdin needs --app-role")
    password = sys.stdin.readline().rstrip("\n") if app_password_stdin else None
    if app_password_stdin and not password:
        raise click.UsageError("no password on standard input")
    database = Database(hub.settings.database.url)
    try:
        if app_role is not None:
            roles.checked_role_name_for(database.engine, app_role)
        upgrade(database.engine)
        click.echo(f"database at migration {head_revision()}")
        if app_role is not None:
            report = roles.set_up_app_role(database.engine, app_role, password)
            click.echo(report.summary())
            click.echo(
                "the hub connects as: "
                + roles.app_role_url(hub.settings.database.url, app_role)
                + " (give its password in the configuration or MASH_DATABASE__URL)"
            )
    except roles.RoleSetupError as err:
        raise click.UsageError(str(err)) from err
    finally:
        database.dispose()


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option(
    "--threads",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Threads per worker; each handles one request at a time, once it has arrived.",
)
@click.option(
    "--timeout",
    default=30,
    show_default=True,
    type=click.IntRange(1),
    help="Seconds a request may wait on the database (PostgreSQL), and a worker may "
    "stop answering before it is replaced.",
)
@click.option(
    "--read-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.5),
    help="Seconds a client has to send a whole request before it is answered 408.",
)
@pass_hub
def serve(
    hub: HubContext,
    host: str,
    port: int,
    workers: int,
    threads: int,
    timeout: int,
    read_timeout: float,
) -> None:
    """Serve the hub with gunicorn."""
    from mash_hub.web import server

    # Every worker counts for /metrics in files of this run's own: set before the app,
    # and so the metrics library, loads (it reads the setting once, when imported).
    # Off the database's disk (memory, by default): see [metrics] directory.
    metrics_dir = hub.settings.metrics.directory_for(hub.settings.app.instance_path)
    metrics_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    held = metrics_dir.lstat()
    if stat.S_ISLNK(held.st_mode) or held.st_uid != os.getuid() or held.st_mode & 0o022:
        # A shared folder (/dev/shm) where someone else made the name first.
        raise click.ClickException(
            f"{metrics_dir} is not this user's own folder: remove it, or set [metrics] directory"
        )
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()  # an earlier run's counts
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    # Loaded here, once, before any worker starts: a broken configuration or policy set
    # fails now, with one line.
    app = hub.app
    click.echo(f"MASH Hub on http://{host}:{port} ({hub.settings.app.mode} mode)")
    master = os.getpid()
    try:
        server.serve(
            app,
            host=host,
            port=port,
            workers=workers,
            threads=threads,
            timeout=timeout,
            read_timeout=read_timeout,
        )
    finally:
        # A worker leaving passes through here too (it was forked inside serve): only the
        # master, once the server has stopped, gives the memory back.
        if os.getpid() == master:
            for counts in metrics_dir.glob("*.db"):
                counts.unlink(missing_ok=True)
            if not hub.settings.metrics.directory:
                with contextlib.suppress(OSError):  # not empty: someone else's files stay
                    metrics_dir.rmdir()  # the default folder, made at start


@cli.command()
@pass_hub
def doctor(hub: HubContext) -> None:
    """Check this configuration as the hub would run it: each fault with its fix."""
    from mash_hub.operations import doctor as checks

    try:
        # The keys are among the checks: one missing is a fault, not the end of the run.
        settings = load_settings(hub.config_path, read_keys=False)
    except ConfigError as err:
        click.echo(f"FAULT  configuration: {err}. Fix: correct the setting named")
        sys.exit(1)
    sys.exit(checks.report(settings, click.echo))


@cli.command("backup")
@click.option(
    "--to",
    "to_dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder to write the archive into.",
)
@click.option(
    "--database-url",
    default=None,
    help="The database to back up, as its owner (default: [database] url).",
)
@pass_hub
def backup_command(hub: HubContext, to_dir: Path, database_url: str | None) -> None:
    """Write the database, the checkpoint file and the audit public key into one dated
    archive (no private key). On PostgreSQL, run as the schema owner (pg_dump): the app
    role cannot read past row-level security."""
    from mash_hub.operations import backup

    try:
        archive = backup.backup(hub.settings, to_dir, datetime.now(UTC), database_url)
    except backup.BackupError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"backup written to {archive}")


class RestoreRefused(click.ClickException):
    exit_code = 2


@cli.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--database-url",
    default=None,
    help="The new, empty database to restore into, as its owner (default: [database] url).",
)
@click.option(
    "--app-role",
    default=None,
    help="PostgreSQL: then set up this application role on it, as `init-db --app-role`.",
)
@click.option(
    "--checkpoints",
    "checkpoints_to",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the archive's checkpoint file here (a new path) and verify against it "
    "(default: the hub's own checkpoint file, restored from the archive only if missing).",
)
@click.pass_context
def restore_command(
    ctx: click.Context,
    archive: Path,
    database_url: str | None,
    app_role: str | None,
    checkpoints_to: Path | None,
) -> None:
    """Restore a backup into an empty database, then verify its audit trail against the
    checkpoint file (this hub's own, if it has one: a restore older than it is reported
    as truncated, exit 3). Exit 2 if the restore is refused (a damaged archive, a target
    that is not empty, a missing or too old PostgreSQL client)."""
    from mash_hub.audit.cli import verify_command
    from mash_hub.db import make_engine
    from mash_hub.operations import backup, roles

    hub = ctx.find_object(HubContext)
    assert hub is not None  # noqa: S101 - set by the group
    url = database_url or hub.settings.database.url
    try:
        if app_role is not None:
            if backup.parse_url(url).get_backend_name() != "postgresql":
                raise roles.RoleSetupError("--app-role is for PostgreSQL: SQLite has no roles")
            app_role = roles.checked_role_name(app_role)
        restored = backup.restore(hub.settings, archive, url, checkpoints_to)
    except (backup.BackupError, roles.RoleSetupError) as err:
        raise RestoreRefused(str(err)) from err
    if app_role is not None:
        engine = make_engine(url)
        try:
            click.echo(roles.set_up_app_role(engine, app_role).summary())
        except roles.RoleSetupError as err:
            raise click.ClickException(
                f"the database was restored, but the app role was not set up: {err}"
            ) from err
        finally:
            engine.dispose()
    click.echo(
        f"restored a {restored.dialect} database backed up at {restored.created_at} by hub "
        f"{restored.hub_version}, at migration {restored.migration} ({restored.events} audit "
        "events then)"
    )
    if restored.dialect == "postgresql" and app_role is None:
        click.echo(
            "the hub's role has no grants on it yet: run `mash-hub init-db --app-role NAME` "
            "against it as the owner (or restore with --app-role)"
        )
    click.echo(f"checkpoint file {restored.checkpoints_path}: {restored.checkpoints_note}")
    click.echo(f"audit public key written to {restored.public_key_path}")
    if restored.key_warning is not None:
        click.echo(f"warning: {restored.key_warning}", err=True)
    ctx.invoke(
        verify_command,
        public_key_path=restored.public_key_path,
        checkpoints_path=restored.checkpoints_path,
        database_url=url,
    )


@cli.command("scheduler")
@click.option("--once", is_flag=True, help="Run every job once now, then exit.")
@pass_hub
def scheduler_command(hub: HubContext, once: bool) -> None:
    """Run the scheduled jobs (request expiry, escalation, ...): one leader per database."""
    from mash_hub import scheduler

    if once:
        for name, changed in scheduler.run_all_once(hub.app).items():
            click.echo(f"{name}: {changed}")
        return
    app = hub.app  # settings, policy set and database first: the banner means it is up
    click.echo("MASH Hub scheduler: waiting to lead, then running jobs (Ctrl-C stops)")
    scheduler.serve(app)


# ------------------------------------------------------------------------------- demo


@cli.command()
@click.option(
    "--credentials",
    "credentials_path",
    default=None,
    help="Where to write the demo credentials (default: <instance>/demo-credentials.json).",
)
@click.option(
    "--cases/--no-cases",
    default=True,
    help="Also enter a few invented contacts at different stages (only into an empty hub).",
)
@click.option(
    "--reset",
    is_flag=True,
    help="Start over: empty the database (every contact, sign-in and audit event) first.",
)
@pass_hub
def demo(hub: HubContext, credentials_path: str | None, cases: bool, reset: bool) -> None:
    """Seed the agencies, one user per role, the demo API clients and a few invented cases.
    Run again, it keeps the data and every sign-in the credentials file still holds.
    Never in production."""
    if hub.settings.app.production:
        raise click.ClickException("refusing to load demo data in production mode")
    from mash_hub import demo_accounts

    if reset:
        _start_over(hub)  # before the app opens the database
    path = Path(credentials_path or Path(hub.app.instance_path) / "demo-credentials.json")
    with unit_of_work(hub) as db:
        seeded = demo_accounts.seed(db, _previous_credentials(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"users": seeded.users, "clients": seeded.clients}, out, indent=2)
        out.write("\n")
    click.echo(f"demo sign-ins: {seeded.summary()}")
    click.echo(f"credentials written to {path}")
    if cases:
        _demo_cases(hub, seeded.clients)


def _previous_credentials(path: Path) -> dict[str, Any]:
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return previous if isinstance(previous, dict) else {}


def _start_over(hub: HubContext) -> None:
    """An empty database at the newest migration, and no checkpoint file (it vouches for
    the trail just emptied). The old file is kept beside it, renamed."""
    from mash_hub.db import Database, empty_database, upgrade

    database = Database(hub.settings.database.url)
    try:
        empty_database(database.engine)
        upgrade(database.engine)
    except SQLAlchemyError as err:
        raise click.ClickException(
            "the database could not be emptied: --reset needs the schema owner's "
            f"connection ({type(err).__name__})"
        ) from err
    finally:
        database.dispose()
    checkpoints = hub.settings.audit.checkpoint_path(hub.settings.app.instance_path)
    if checkpoints.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        checkpoints.rename(checkpoints.with_name(f"{checkpoints.name}.before-reset-{stamp}"))
    click.echo("demo reset: the database is empty and at the newest migration")


def _demo_cases(hub: HubContext, clients: list[dict[str, Any]]) -> None:
    from mash_hub import demo_cases
    from mash_hub.contacts.models import Contact

    with unit_of_work(hub) as db:
        existing = db.scalar(select(func.count()).select_from(Contact)) or 0
    if existing:
        click.echo(f"demo cases skipped: the hub already holds {existing} contacts")
        return
    with hub.app.app_context():
        try:
            references = demo_cases.load(hub.app, clients, hub.app.extensions["mash.clock"].now())
        except demo_cases.DemoCaseError as refused:
            raise click.ClickException(f"demo cases refused: {refused}") from refused
    click.echo(f"demo cases entered through the API: {', '.join(references)}")


# ------------------------------------------------------------------------------ users


@cli.group()
def users() -> None:
    """Create, disable and list user accounts."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", "display_name", required=True, help="The person's name, as shown.")
@click.option("--agency", "agency_code", required=True, help="Agency code, e.g. csc or health.")
@click.option(
    "--role",
    "roles",
    required=True,
    multiple=True,
    type=click.Choice([r.value for r in Role]),
    help="Repeat for more than one role.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the initial password from standard input instead of generating one.",
)
@pass_hub
def users_create(
    hub: HubContext,
    email: str,
    display_name: str,
    agency_code: str,
    roles: tuple[str, ...],
    password_stdin: bool,
) -> None:
    """Create a user. They set up their authenticator app at first sign-in."""
    from mash_hub.identity import services as identity

    password = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.token_urlsafe(12)
    try:
        with unit_of_work(hub) as db:
            user = identity.create_user(
                db,
                email=email,
                display_name=display_name,
                agency_code=agency_code,
                roles=frozenset(Role(r) for r in roles),
                password=password,
            )
            user_id = user.id
    except identity.IdentityError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"created user {user_id}")
    if not password_stdin:
        click.echo(f"initial password (shown once): {password}")


@users.command("disable")
@click.argument("email")
@pass_hub
def users_disable(hub: HubContext, email: str) -> None:
    """Disable a user and end their sessions."""
    from mash_hub.identity import services as identity

    try:
        with unit_of_work(hub) as db:
            user_id = identity.disable_user(db, email).id
    except identity.IdentityError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"disabled user {user_id}; their sessions end on their next request")


@users.command("unlock")
@click.argument("email")
@pass_hub
def users_unlock(hub: HubContext, email: str) -> None:
    """Let a person sign in again at once: forget their account's failed attempts."""
    from mash_hub.identity import services as identity

    try:
        with unit_of_work(hub) as db:
            user, forgotten = identity.unlock_user(db, email)
            user_id = user.id
    except identity.IdentityError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"unlocked user {user_id}: {forgotten} failed attempt(s) forgotten")


@users.command("list")
@pass_hub
def users_list(hub: HubContext) -> None:
    """List every user: email, agency, roles, status."""
    from mash_hub.identity import services as identity

    with unit_of_work(hub) as db:
        for user in identity.list_users(db):
            status = "active" if user.is_active else "disabled"
            mfa = "mfa" if user.totp_enrolled_at else "mfa-pending"
            roles = ",".join(sorted(user.roles))
            click.echo(f"{user.email}\t{user.agency.code}\t{roles}\t{status}\t{mfa}")


# ---------------------------------------------------------------------------- clients


@cli.group()
def clients() -> None:
    """Register agency systems that use the JSON API."""


@clients.command("create")
@click.option("--agency", "agency_code", required=True)
@click.option(
    "--scopes",
    required=True,
    multiple=True,
    help="Scopes, space- or comma-separated, or repeated: " + ", ".join(s.value for s in Scope),
)
@click.option("--name", default="", help="What the system is, e.g. 'Police case system'.")
@click.option(
    "--jwk",
    "jwk_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A file holding the system's public JWK: it then authenticates with private_key_jwt "
    "(RFC 7523) and has no secret.",
)
@pass_hub
def clients_create(
    hub: HubContext, agency_code: str, scopes: tuple[str, ...], name: str, jwk_file: str | None
) -> None:
    """Register a client. Its secret is shown once and stored only as a hash."""
    from mash_hub.identity import services as identity

    public_jwk = Path(jwk_file).read_text(encoding="utf-8") if jwk_file else None

    wanted = {part for value in scopes for part in value.replace(",", " ").split()}
    unknown = sorted(wanted - {s.value for s in Scope})
    if unknown:
        raise click.ClickException(f"unknown scopes: {', '.join(unknown)}")
    try:
        with unit_of_work(hub) as db:
            client, secret = identity.create_client(
                db,
                agency_code=agency_code,
                scopes=frozenset(Scope(s) for s in wanted),
                name=name,
                public_jwk=public_jwk,
            )
            client_id = client.client_id
    except identity.IdentityError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"client_id: {client_id}")
    if public_jwk is None:
        click.echo(f"client_secret (shown once): {secret}")
    else:
        click.echo("authentication: private_key_jwt with the registered public key")


@clients.command("list")
@pass_hub
def clients_list(hub: HubContext) -> None:
    """List every client: id, agency, scopes, authentication, status, name."""
    from mash_hub.identity import services as identity

    with unit_of_work(hub) as db:
        for client in identity.list_clients(db):
            status = "revoked" if client.revoked_at is not None else "active"
            click.echo(
                f"{client.client_id}\t{client.agency.code}\t{client.scope}\t"
                f"{client.auth_method}\t{status}\t{client.name}"
            )


@clients.command("revoke")
@click.argument("client_id")
@pass_hub
def clients_revoke(hub: HubContext, client_id: str) -> None:
    """Revoke a client: it gets no new tokens, and its live tokens stop on their next call."""
    from mash_hub.identity import services as identity

    try:
        with unit_of_work(hub) as db:
            identity.revoke_client(db, client_id, actor_id="mash-hub-cli")
    except identity.IdentityError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"revoked client {client_id}; its tokens stop working on their next call")


@clients.command("subscribe")
@click.argument("client_id")
@click.option("--url", required=True, help="The callback URL (on [notifications] webhook_allow).")
@click.option(
    "--kinds",
    required=True,
    multiple=True,
    help="Kinds, space- or comma-separated, or repeated: request.sent, request.due_soon, "
    "request.overdue (for a client with requests:read or contributions:write), "
    "decision.returned, decision.approved (screening:read or screening:write).",
)
@pass_hub
def clients_subscribe(hub: HubContext, client_id: str, url: str, kinds: tuple[str, ...]) -> None:
    """Register a webhook for an agency system. Its signing secret is shown once."""
    from mash_hub.identity import services as identity
    from mash_hub.outbox import webhooks

    wanted = [part for value in kinds for part in value.replace(",", " ").split()]
    try:
        with unit_of_work(hub) as db:
            client = identity.client_by_client_id(db, client_id)
            if client is None or client.revoked_at is not None:
                raise click.ClickException(f"no active client {client_id!r}")
            subscription, secret = webhooks.subscribe(
                db,
                webhooks.Subscriber(client.client_id, client.agency.code, client.scopes),
                url,
                wanted,
                actor="mash-hub-cli",
            )
            ident, chosen = str(subscription.id), subscription.kinds
    except webhooks.SubscriptionRefused as refused:
        raise click.ClickException(str(refused)) from refused
    click.echo(f"subscription: {ident}")
    click.echo(f"kinds: {chosen}")
    click.echo(f"signing secret (shown once): {secret}")


@clients.command("subscriptions")
@click.argument("client_id", required=False)
@pass_hub
def clients_subscriptions(hub: HubContext, client_id: str | None) -> None:
    """List live webhook subscriptions (of one client, or all): id, client, URL, kinds."""
    from mash_hub.outbox import webhooks

    with unit_of_work(hub) as db:
        for subscription in webhooks.active(db, client_id):
            click.echo(
                f"{subscription.id}\t{subscription.client_id}\t{subscription.url}\t"
                f"{subscription.kinds}"
            )


@clients.command("unsubscribe")
@click.argument("subscription_id")
@pass_hub
def clients_unsubscribe(hub: HubContext, subscription_id: str) -> None:
    """End a webhook subscription; deliveries not yet made to it are not made."""
    from mash_hub.outbox import webhooks

    try:
        with unit_of_work(hub) as db:
            webhooks.end(db, subscription_id, actor="mash-hub-cli")
    except webhooks.SubscriptionNotFound as err:
        raise click.ClickException(f"no live subscription {subscription_id!r}") from err
    click.echo(f"ended subscription {subscription_id}")


cli.add_command(policies)
cli.add_command(keys)
cli.add_command(audit)
cli.add_command(notifications)


def main() -> None:
    try:
        cli.main(prog_name="mash-hub", standalone_mode=True)
    except ConfigError as err:
        click.echo(f"mash-hub: configuration error: {err}", err=True)
        sys.exit(2)
    except PolicyConfigError as err:
        click.echo(f"mash-hub: the policy set cannot be loaded: {err}", err=True)
        sys.exit(2)
