"""The PostgreSQL application role: the one the hub connects as, set up by the schema
owner with `mash-hub init-db --app-role NAME`.

Row-level security, the firewall's second layer, binds only a role that is neither the
tables' owner nor a superuser and has no BYPASSRLS. So the hub runs as such a role, with
exactly what it needs: use of the schema, reading and writing the tables and sequences,
on a contact's amendments only reading and adding, and on the audit tables only reading,
adding, and the sealer's one fill of the two hash columns (through `audit_seal_lock()`,
a function that runs as the owner). Running it
again brings an existing role back to exactly that, and says what it changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

AUDIT_TABLES = ("audit_events", "audit_checkpoints")
# Case history kept like the trail: the hub only adds to it and reads it (a contact's
# amendments during screening: who changed what, when and why).
APPEND_ONLY_TABLES = ("contact_amendments", "criteria_checks")
# What the sealer may change in audit_events (the triggers refuse anything else).
SEALER_COLUMNS = ("prev_hash", "hash")
SEAL_LOCK = "audit_seal_lock()"
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class RoleSetupError(ValueError):
    """The role cannot be set up as asked: the message says why, in plain words."""


@dataclass
class RoleReport:
    role: str
    created: bool = False
    changes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.created:
            return f"application role {self.role} created with the hub's grants"
        if self.changes:
            return f"application role {self.role} updated: " + "; ".join(self.changes)
        return f"application role {self.role} already as the hub needs it: nothing changed"


def checked_role_name(name: str) -> str:
    if not ROLE_NAME.match(name or ""):
        raise RoleSetupError(
            "the role name must be 1 to 63 lower-case letters, digits or underscores, "
            "starting with a letter or underscore"
        )
    return name


def checked_role_name_for(engine: Engine, name: str) -> str:
    """Refuse before anything runs: a SQLite hub, or a name that is not a plain one."""
    if engine.dialect.name != "postgresql":
        raise RoleSetupError("--app-role is for PostgreSQL: a SQLite hub has no roles")
    return checked_role_name(name)


def _attributes(conn: Connection, role: str) -> dict[str, bool] | None:
    row = conn.execute(
        text(
            "SELECT rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, rolcanlogin "
            "FROM pg_roles WHERE rolname = :r"
        ),
        {"r": role},
    ).first()
    if row is None:
        return None
    return dict(
        zip(("superuser", "bypassrls", "createdb", "createrole", "login"), row, strict=True)
    )


def _table_privileges(conn: Connection, role: str) -> dict[str, set[str]]:
    rows = conn.execute(
        text(
            "SELECT c.relname, p.privilege_type FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
            "CROSS JOIN LATERAL aclexplode(c.relacl) p "
            "JOIN pg_roles r ON r.oid = p.grantee AND r.rolname = :r "
            "WHERE c.relkind IN ('r', 'p')"
        ),
        {"r": role},
    ).all()
    found: dict[str, set[str]] = {}
    for table, privilege in rows:
        found.setdefault(str(table), set()).add(str(privilege))
    return found


def _column_updates(conn: Connection, role: str) -> list[tuple[str, str]]:
    """The audit tables' columns the role was granted UPDATE on one by one."""
    rows = conn.execute(
        text(
            "SELECT c.relname, a.attname FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
            "CROSS JOIN LATERAL aclexplode(a.attacl) p "
            "JOIN pg_roles r ON r.oid = p.grantee AND r.rolname = :r "
            "WHERE c.relname = ANY(:tables) AND p.privilege_type = 'UPDATE' "
            "AND NOT a.attisdropped ORDER BY c.relname, a.attnum"
        ),
        {"r": role, "tables": list(AUDIT_TABLES)},
    ).all()
    return [(str(table), str(column)) for table, column in rows]


def _tables(conn: Connection) -> list[str]:
    return [
        str(name)
        for (name,) in conn.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname"
            )
        )
    ]


def wanted_privileges(table: str) -> set[str]:
    if table in AUDIT_TABLES or table in APPEND_ONLY_TABLES:
        return {"SELECT", "INSERT"}
    return {"SELECT", "INSERT", "UPDATE", "DELETE"}


def set_up_app_role(engine: Engine, role: str, password: str | None = None) -> RoleReport:
    """Create or correct the application role and its grants, idempotently. Run as the
    schema owner (the role that ran the migrations)."""
    if engine.dialect.name != "postgresql":
        raise RoleSetupError("--app-role is for PostgreSQL: a SQLite hub has no roles")
    role = checked_role_name(role)
    try:
        return _set_up(engine, role, password)
    except ProgrammingError as err:
        # The server's own words (never the statement, which may hold the password).
        said = getattr(getattr(err.orig, "diag", None), "message_primary", None)
        raise RoleSetupError(
            f"PostgreSQL refused: {said or type(err.orig).__name__}. Run this as the schema "
            "owner, with CREATEROLE (or as a superuser)"
        ) from None


def _set_up(engine: Engine, role: str, password: str | None) -> RoleReport:
    report = RoleReport(role)
    with engine.begin() as conn:
        owner = conn.scalar(text("SELECT current_user"))
        if owner == role:
            raise RoleSetupError(
                f"{role} is the role running this command (the schema owner): the hub "
                "must connect as another role, or row-level security does not bind it"
            )
        attributes = _attributes(conn, role)
        if attributes is None:
            conn.execute(
                text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE')
            )
            report.created = True
        else:
            wrong = [
                name
                for name in ("superuser", "bypassrls", "createdb", "createrole")
                if attributes[name]
            ]
            if not attributes["login"]:
                wrong.append("nologin")
            if wrong:
                conn.execute(
                    text(
                        f'ALTER ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE'
                    )
                )
                report.changes.append("removed " + ", ".join(wrong).upper())
        _leave_privileged_roles(conn, role, report)
        if password is not None:
            # The password is passed as a literal by the server's own quoting function,
            # never pasted into the statement text.
            quoted = conn.scalar(text("SELECT quote_literal(:p)"), {"p": password})
            conn.execute(text(f'ALTER ROLE "{role}" PASSWORD {quoted}'))
            report.changes.append("password set")
        _grant(conn, role, report)
    return report


def _leave_privileged_roles(conn: Connection, role: str, report: RoleReport) -> None:
    """Take the role out of any role it could SET ROLE to and so escape row-level
    security: a superuser, one with BYPASSRLS, or one owning the hub's tables (the schema
    owner running this, say). A membership through a role in between is refused."""
    direct = conn.execute(
        text(
            "SELECT g.rolname FROM pg_auth_members m "
            "JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
            "WHERE u.rolname = :r AND (g.rolsuper OR g.rolbypassrls "
            "OR g.rolname = current_user OR EXISTS (SELECT 1 FROM pg_tables t "
            "WHERE t.schemaname = 'public' AND t.tableowner = g.rolname)) ORDER BY g.rolname"
        ),
        {"r": role},
    ).scalars()
    for granted in direct:
        conn.execute(text(f'REVOKE "{granted}" FROM "{role}"'))
        report.changes.append(f"took it out of role {granted}")
    indirect = (
        conn.execute(
            text(
                "SELECT g.rolname FROM pg_roles g "
                "WHERE g.rolname <> :r AND pg_has_role(:r, g.oid, 'MEMBER') AND (g.rolsuper "
                "OR g.rolbypassrls OR g.rolname = current_user OR EXISTS (SELECT 1 FROM "
                "pg_tables t WHERE t.schemaname = 'public' AND t.tableowner = g.rolname)) "
                "ORDER BY g.rolname"
            ),
            {"r": role},
        )
        .scalars()
        .all()
    )
    if indirect:
        raise RoleSetupError(
            f"{role} is a member, through another role, of {', '.join(indirect)}, and so "
            "could act as it and escape row-level security: revoke that membership, then "
            "run this again"
        )


def _grant(conn: Connection, role: str, report: RoleReport) -> None:
    has_usage = conn.scalar(text("SELECT has_schema_privilege(:r, 'public', 'USAGE')"), {"r": role})
    if not has_usage:
        conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
        if not report.created:
            report.changes.append("granted use of the schema")
    held = _table_privileges(conn, role)
    for table in _tables(conn):
        wanted = wanted_privileges(table)
        have = held.get(table, set())
        missing = wanted - have
        extra = have - wanted
        if missing:
            conn.execute(text(f'GRANT {", ".join(sorted(missing))} ON "{table}" TO "{role}"'))
            if not report.created:
                report.changes.append(f"granted {', '.join(sorted(missing))} on {table}")
        if extra:
            conn.execute(text(f'REVOKE {", ".join(sorted(extra))} ON "{table}" FROM "{role}"'))
            report.changes.append(f"revoked {', '.join(sorted(extra))} on {table}")
    for table, column in _column_updates(conn, role):
        if table == "audit_events" and column in SEALER_COLUMNS:
            continue
        conn.execute(text(f'REVOKE UPDATE ("{column}") ON "{table}" FROM "{role}"'))
        report.changes.append(f"revoked UPDATE of {table}.{column}")
    columns = ", ".join(SEALER_COLUMNS)
    can_seal = all(
        conn.scalar(
            text("SELECT has_column_privilege(:r, 'audit_events', :c, 'UPDATE')"),
            {"r": role, "c": column},
        )
        for column in SEALER_COLUMNS
    )
    if not can_seal:
        conn.execute(text(f'GRANT UPDATE ({columns}) ON audit_events TO "{role}"'))
        if not report.created:
            report.changes.append("granted the sealer's hash columns")
    sequences = [
        name
        for (name,) in conn.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind = 'S'"
            )
        )
        if not conn.scalar(
            text("SELECT has_sequence_privilege(:r, :s, 'USAGE')"),
            {"r": role, "s": f'public."{name}"'},
        )
    ]
    if sequences:
        conn.execute(text(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"'))
        if not report.created:
            report.changes.append("granted the sequences")
    # Only the app role may take the sealer's lock; nobody else through PUBLIC.
    public_can = conn.scalar(
        text(
            "SELECT EXISTS (SELECT 1 FROM pg_proc p CROSS JOIN LATERAL aclexplode(p.proacl) a "
            "WHERE p.proname = 'audit_seal_lock' AND a.grantee = 0)"
        )
    )
    if public_can:
        conn.execute(text(f"REVOKE ALL ON FUNCTION {SEAL_LOCK} FROM PUBLIC"))
        report.changes.append("revoked the sealer's lock from PUBLIC")
    may_lock = conn.scalar(
        text("SELECT has_function_privilege(:r, 'audit_seal_lock()', 'EXECUTE')"), {"r": role}
    )
    if not may_lock:
        conn.execute(text(f'GRANT EXECUTE ON FUNCTION {SEAL_LOCK} TO "{role}"'))
        if not report.created:
            report.changes.append("granted the sealer's lock")


def app_role_url(owner_url: str, role: str) -> str:
    """The owner's URL with the app role as its user (no password: give it in the
    configuration or the environment)."""
    return (
        make_url(owner_url).set(username=role, password=None).render_as_string(hide_password=False)
    )
