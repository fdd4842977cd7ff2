"""`mash-hub doctor`: checks a configuration as the hub would run it, and says what is
wrong and how to fix it, one line a check.

It does not start the app (a broken configuration may not let it start): it reads the
settings, connects as the hub connects, and checks each thing the hub relies on. Every
check runs, so one run names every fault.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mash_hub.audit.signing import key_id, signing_key
from mash_hub.config import ConfigError, Settings, readable_master_key
from mash_hub.crypto import keys
from mash_hub.db import Database, head_revision
from mash_hub.operations.leadership import leader_alive, lock_path
from mash_hub.operations.roles import AUDIT_TABLES, SEALER_COLUMNS
from mash_hub.policy.check import check_policies


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    applies: bool = True

    def line(self) -> str:
        if not self.applies:
            return f"n/a    {self.name}: {self.detail}"
        if self.ok:
            return f"ok     {self.name}: {self.detail}"
        return f"FAULT  {self.name}: {self.detail}. Fix: {self.fix}"


def _fault(name: str, detail: str, fix: str) -> Check:
    return Check(name, False, detail, fix)


def _not_applicable(name: str, why: str) -> Check:
    return Check(name, True, why, applies=False)


def examine(settings: Settings) -> list[Check]:
    """Every check, in the order a person would fix them."""
    database = Database(settings.database.url)
    try:
        engine = database.engine
        checks = [_reachable(engine)]
        reachable = checks[0].ok
        postgres = engine.dialect.name == "postgresql"
        role_checks: tuple[tuple[str, Callable[[Engine], Check]], ...] = (
            ("role", _role),
            ("row-level security", _row_level_security),
            ("audit grants", _audit_grants),
        )
        for name, check in role_checks:
            if not postgres:
                checks.append(_not_applicable(name, "SQLite has no roles"))
            elif reachable:
                checks.append(_guarded(name, partial(check, engine)))
        # Read even when the database cannot be: a missing key is a fault of its own.
        checks.append(_guarded("master key", lambda: _master_key(database, settings, reachable)))
        checks.append(
            _guarded("audit signing key", lambda: _signing_key(engine, settings, reachable))
        )
        checks.append(_policies(settings))
        if reachable:
            checks.append(_guarded("scheduler", lambda: _scheduler(engine, settings)))
        checks.append(_checkpoint_file(settings))
        return checks
    finally:
        database.dispose()


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except SQLAlchemyError as err:
        return _fault(
            name,
            f"could not be checked ({type(err).__name__})",
            "fix the database faults above first",
        )


def _reachable(engine: Engine) -> Check:
    try:
        with engine.connect() as conn:
            user = conn.scalar(text("SELECT current_user")) if _pg(engine) else "sqlite"
            revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
    except SQLAlchemyError as err:
        return _fault(
            "database",
            f"cannot be read with [database] url ({type(err).__name__})",
            "check the address, the role's password, and that `mash-hub init-db` has run",
        )
    head = head_revision()
    if revision != head:
        return _fault(
            "database",
            f"at migration {revision}, the hub needs {head}",
            "run `mash-hub init-db` as the schema owner",
        )
    return Check("database", True, f"reached as {user}, at migration {head}")


def _pg(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _role(engine: Engine) -> Check:
    with engine.connect() as conn:
        user, superuser, bypass = conn.execute(
            text(
                "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
            )
        ).one()
        owned = conn.scalar(
            text(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                "AND tableowner = current_user"
            )
        )
        # A member of such a role could SET ROLE to it and escape the policies.
        can_become = conn.scalars(
            text(
                "SELECT g.rolname FROM pg_roles g WHERE g.rolname <> current_user "
                "AND pg_has_role(current_user, g.oid, 'MEMBER') AND (g.rolsuper OR "
                "g.rolbypassrls OR EXISTS (SELECT 1 FROM pg_tables t WHERE "
                "t.schemaname = 'public' AND t.tableowner = g.rolname)) ORDER BY g.rolname"
            )
        ).all()
    wrong = []
    if superuser:
        wrong.append("is a superuser")
    if bypass:
        wrong.append("has BYPASSRLS")
    if owned:
        wrong.append(f"owns {owned} of the tables")
    if can_become and not superuser:
        wrong.append(f"may act as {', '.join(can_become)} (a member)")
    if wrong:
        return _fault(
            "role",
            f"the hub connects as {user}, which {' and '.join(wrong)}: row-level security "
            "does not bind it",
            "connect as the application role: `mash-hub init-db --app-role NAME` as the "
            "owner, then put that role in [database] url",
        )
    return Check("role", True, f"{user}: not the owner, no superuser, no BYPASSRLS")


def _row_level_security(engine: Engine) -> Check:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname, c.relrowsecurity FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
                "WHERE c.relname IN (SELECT tablename FROM pg_policies "
                "WHERE schemaname = 'public')"
            )
        ).all()
    off = sorted(str(name) for name, enabled in rows if not enabled)
    if not rows:
        return _fault(
            "row-level security",
            "no table has a row-level security policy",
            "run `mash-hub init-db` as the schema owner (the migrations make the policies)",
        )
    if off:
        return _fault(
            "row-level security",
            f"switched off on {', '.join(off)}",
            "ALTER TABLE ... ENABLE ROW LEVEL SECURITY as the owner, or re-run the migrations",
        )
    return Check("row-level security", True, f"in force on {len(rows)} tables")


def _audit_grants(engine: Engine) -> Check:
    too_wide = []
    whole_table_update = set()
    with engine.connect() as conn:
        for table in AUDIT_TABLES:
            for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
                if conn.scalar(
                    text("SELECT has_table_privilege(current_user, :t, :p)"),
                    {"t": table, "p": privilege},
                ):
                    too_wide.append(f"{privilege} on {table}")
                    if privilege == "UPDATE":
                        whole_table_update.add(table)
        updatable = conn.execute(
            text(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = ANY(:tables) "
                "AND has_column_privilege(current_user, "
                "quote_ident(table_name), column_name, 'UPDATE') "
                "ORDER BY table_name, ordinal_position"
            ),
            {"tables": list(AUDIT_TABLES)},
        ).all()
        can_lock = conn.scalar(
            text("SELECT has_function_privilege(current_user, 'audit_seal_lock()', 'EXECUTE')")
        )
    sealable = set()
    for table, column in updatable:
        if table == "audit_events" and column in SEALER_COLUMNS:
            sealable.add(column)
        elif table not in whole_table_update:
            too_wide.append(f"UPDATE of {table}.{column}")
    if too_wide:
        return _fault(
            "audit grants",
            f"the hub's role may {', '.join(too_wide)}: the trail would not be append-only",
            "run `mash-hub init-db --app-role NAME` as the owner (it takes them back)",
        )
    if not can_lock or sealable != set(SEALER_COLUMNS):
        return _fault(
            "audit grants",
            "the hub's role may not seal the trail (it needs EXECUTE on audit_seal_lock() "
            f"and UPDATE of audit_events {' and '.join(SEALER_COLUMNS)})",
            "run `mash-hub init-db --app-role NAME` as the owner",
        )
    return Check("audit grants", True, "read and add only, plus the sealer's hash columns")


def _unread_database(name: str, what: str) -> Check:
    return Check(name, True, f"can be read; {what} once the database can be", applies=False)


def _master_key(database: Database, settings: Settings, reachable: bool) -> Check:
    try:
        master = readable_master_key(settings)
    except ConfigError as err:
        return _fault(
            "master key",
            str(err),
            "set [keys] master_key (MASH_KEYS__MASTER_KEY) or master_key_file to the 32-byte "
            "base64 key the agency keys were wrapped under",
        )
    if not reachable:
        return _unread_database("master key", "compared with the agency keys")
    with database.transaction() as session:
        problem = keys.master_key_mismatch(session, master)
    if problem is not None:
        return _fault(
            "master key",
            problem,
            "give the hub the master key it was set up with; to change keys use "
            "`mash-hub keys rotate-master`, never a new key in the configuration",
        )
    return Check("master key", True, f"opens the agency keys (id {keys.master_key_id(master)})")


def _signing_key(engine: Engine, settings: Settings, reachable: bool) -> Check:
    try:
        current = key_id(signing_key(settings).public_key())
    except (ConfigError, OSError, ValueError) as err:
        return _fault(
            "audit signing key",
            str(err),
            "set [audit] signing_key (MASH_AUDIT__SIGNING_KEY) or signing_key_file to the "
            "32-byte base64 Ed25519 seed",
        )
    if not reachable:
        return _unread_database("audit signing key", "compared with the checkpoints' key")
    with Session(engine) as session:
        newest = session.scalar(
            text("SELECT key_id FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
        )
    if newest is not None and newest != current:
        return _fault(
            "audit signing key",
            f"it is key {current}, but the newest checkpoint was signed with key {newest}",
            "give the hub the signing key it has been using; the auditors' public key "
            "would not verify new checkpoints",
        )
    return Check("audit signing key", True, f"key {current}, as the checkpoints were signed")


def _policies(settings: Settings) -> Check:
    directory = settings.firewall.policies_path()
    findings = check_policies(directory, datetime.now(UTC).date())
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        return _fault(
            "policies",
            f"{len(errors)} error(s) in {directory}, the first {errors[0]}",
            "run `mash-hub policies check` and correct each error",
        )
    return Check("policies", True, f"{directory} is valid")


def _scheduler(engine: Engine, settings: Settings) -> Check:
    if not leader_alive(
        engine, lock_path(settings.app.instance_path, settings.scheduler.lock_file)
    ):
        return _fault(
            "scheduler",
            "no scheduler leads: requests will not expire, nor the trail be sealed",
            "run `mash-hub scheduler` beside the web server (one leads, others stand by)",
        )
    return Check("scheduler", True, "a leader holds the lock")


def _checkpoint_file(settings: Settings) -> Check:
    path = settings.audit.checkpoint_path(settings.app.instance_path)
    fix = (
        "make it (or the folder it goes in) writable by the hub's user, or point "
        "[audit] checkpoint_file somewhere that is"
    )
    if path.is_dir():
        return _fault("checkpoint file", f"{path} is a folder, not a file", fix)
    if path.exists():
        if not os.access(path, os.W_OK):
            return _fault("checkpoint file", f"{path} cannot be written", fix)
        return Check("checkpoint file", True, f"{path} can be written")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the sealer makes the folders that are missing
    if not folder.is_dir():
        return _fault("checkpoint file", f"{path} cannot be written: {folder} is not a folder", fix)
    if not os.access(folder, os.W_OK | os.X_OK):
        return _fault("checkpoint file", f"{path} cannot be written: {folder} is not writable", fix)
    return Check("checkpoint file", True, f"{path} can be made")


def report(settings: Settings, out: Callable[[str], None]) -> int:
    """Print each check; 0 if nothing is wrong, 1 otherwise."""
    checks = examine(settings)
    for check in checks:
        out(check.line())
    faults = sum(1 for check in checks if not check.ok)
    out(f"{faults} fault(s)" if faults else "no faults")
    return 1 if faults else 0
