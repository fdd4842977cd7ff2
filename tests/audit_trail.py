"""A sealed audit trail on a test's database, with ways to verify it (both verifiers) and
to tamper with it as someone with full control of the database."""

from __future__ import annotations

import importlib.util
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select, text

from mash_hub.audit.models import AuditEvent
from mash_hub.audit.sealer import run_once
from mash_hub.audit.services import EventDraft, record_on_its_own
from mash_hub.cli import cli
from mash_hub.db import Database

REPO_ROOT = Path(__file__).resolve().parents[1]
TOOL = REPO_ROOT / "tools" / "verify_audit.py"
TRIGGERS = (
    "audit_events_no_update",
    "audit_events_no_delete",
    "audit_checkpoints_no_update",
    "audit_checkpoints_no_delete",
)


def _load_tool():
    spec = importlib.util.spec_from_file_location("verify_audit_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


verify_tool = _load_tool()


def draft(n: int) -> EventDraft:
    return EventDraft(
        kind="access.decision",
        actor_type="user",
        actor_id=str(uuid.uuid4()),
        action="contact:read",
        decision="allow" if n % 2 else "deny",
        reason=f"rule {n}: reason with a colon: and a\nnewline, ünïcödé",
        agency="police",
        roles=("screener",),
        object_type="contact",
        object_id=str(uuid.uuid4()),
        contact_id=str(uuid.uuid4()) if n % 3 else None,
        isa_ids=("isa-police-csc",),
        policy_ids=("policy0",),
    )


def write_events(app, count: int) -> None:
    with app.app_context():
        for n in range(count):
            record_on_its_own(draft(n))


class Trail:
    """A sealed trail on this test's database, with ways to verify and to tamper with it."""

    def __init__(self, app, settings, clock, admin_url: str, tmp_path: Path) -> None:
        self.app = app
        self.settings = settings
        self.clock = clock
        self.database: Database = app.extensions["mash.db"]
        self.postgres = self.database.engine.dialect.name == "postgresql"
        self.admin_url = admin_url if self.postgres else settings.database.url
        self.checkpoints = settings.audit.checkpoint_path(settings.app.instance_path)
        self.public_key = tmp_path / "audit-public.pem"
        result = CliRunner().invoke(
            cli, ["audit", "export-public-key", "--out", str(self.public_key)], env=self.env()
        )
        assert result.exit_code == 0, result.output

    def env(self) -> dict[str, str]:
        return {
            "MASH_DATABASE__URL": self.settings.database.url,
            "MASH_APP__INSTANCE_PATH": self.settings.app.instance_path,
            "MASH_APP__MODE": "test",
        }

    def seal(self, *, force: bool = True):
        self.clock.advance(timedelta(seconds=1))
        return run_once(self.database, self.settings, self.clock.now(), force=force)

    def rows(self) -> list[AuditEvent]:
        with self.database.transaction() as db:
            return list(db.scalars(select(AuditEvent).order_by(AuditEvent.seq)))

    def cli_verify(self):
        return CliRunner().invoke(
            cli,
            [
                "audit",
                "verify",
                "--public-key",
                str(self.public_key),
                "--checkpoints",
                str(self.checkpoints),
            ],
            env=self.env(),
        )

    def tool_verify(self, capsys) -> tuple[int, str]:
        capsys.readouterr()
        status = verify_tool.main(
            [
                "--database",
                self.settings.database.url,
                "--checkpoints",
                str(self.checkpoints),
                "--public-key",
                str(self.public_key),
                "--quiet",
            ]
        )
        captured = capsys.readouterr()
        return status, captured.out + captured.err

    def tamper(self, *statements: str, params: list[dict] | None = None) -> None:
        """As someone with full control of the database: past the grants and triggers."""
        engine = create_engine(self.admin_url)
        with engine.begin() as conn:
            if self.postgres:
                conn.execute(text("SET LOCAL session_replication_role = replica"))
            else:
                for name in TRIGGERS:
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
            for n, statement in enumerate(statements):
                conn.execute(text(statement), (params or [{}] * len(statements))[n])
        engine.dispose()


@pytest.fixture
def trail(app, settings, clock, admin_database_url, tmp_path) -> Trail:
    return Trail(app, settings, clock, admin_database_url, tmp_path)


def expect_damage(trail: Trail, capsys, kind: str, seq: int | None) -> None:
    where = f"event seq {seq} " if seq is not None else ""
    result = trail.cli_verify()
    assert result.exit_code == 1, result.output
    assert f"FAILED: {where}" in result.output and f"{kind}:" in result.output, result.output
    status, output = trail.tool_verify(capsys)
    assert status == 1, output
    assert f"FAILED: {where}" in output and f"{kind}:" in output, output
