"""`mash-hub audit ...`: seal the chain now, verify it, export the public key."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from mash_hub.commands import HubContext


@click.group("audit")
def audit() -> None:
    """The tamper-evident audit trail: seal, verify, export the public key."""


def _hub() -> HubContext:
    hub = click.get_current_context().find_object(HubContext)
    assert hub is not None
    return hub


@audit.command("seal")
def seal() -> None:
    """Seal every pending event into the chain and sign a checkpoint at once."""
    from mash_hub.audit.sealer import run_once
    from mash_hub.clock import Clock
    from mash_hub.db import Database

    settings = _hub().settings
    database = Database(settings.database.url)
    try:
        result = run_once(database, settings, Clock().now(), force=True)
    finally:
        database.dispose()
    click.echo(
        f"sealed {result.sealed} event(s); head seq {result.head.seq} {result.head.hash[:16]}…; "
        f"checkpoint written to {settings.audit.checkpoint_path(settings.app.instance_path)}"
    )


@audit.command("export-public-key")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def export_public_key(out: Path | None) -> None:
    """Print (or write) the PEM public key that verifies the signed checkpoints."""
    from mash_hub.audit.signing import public_key_pem

    pem = public_key_pem(_hub().settings)
    if out is None:
        click.echo(pem, nl=False)
    else:
        out.write_text(pem, encoding="ascii")
        click.echo(f"public key written to {out}")


@audit.command("verify")
@click.option(
    "--public-key",
    "public_key_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="PEM public key (default: derived from the configured signing key).",
)
@click.option(
    "--checkpoints",
    "checkpoints_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Checkpoint file (default: [audit] checkpoint_file).",
)
@click.option("--database", "database_url", default=None, help="Database URL (default: config).")
def verify_command(
    public_key_path: Path | None, checkpoints_path: Path | None, database_url: str | None
) -> None:
    """Check the hash chain and the signed checkpoints; exit 1 naming the first damage, or 3
    if the only damage is that the database ends before the checkpoint file (truncated:
    restored from an earlier backup, or its newest events removed)."""
    from sqlalchemy import func, select

    from mash_hub.audit import chain
    from mash_hub.audit.models import AuditCheckpoint, AuditEvent
    from mash_hub.audit.signing import public_key_pem
    from mash_hub.audit.verify import (
        EXIT_DAMAGE,
        EXIT_OLDER_THAN_FILE,
        Checkpoint,
        VerifyError,
        load_public_key,
        read_checkpoint_file,
        verify,
    )
    from mash_hub.db import make_engine

    settings = _hub().settings
    try:
        pem = (
            public_key_path.read_bytes()
            if public_key_path is not None
            else public_key_pem(settings).encode()
        )
        public_key = load_public_key(pem)
        path = checkpoints_path or settings.audit.checkpoint_path(settings.app.instance_path)
        from_file = read_checkpoint_file(path) if path.exists() else []
    except VerifyError as err:
        raise click.ClickException(str(err)) from err
    engine = make_engine(database_url or settings.database.url)
    table = AuditEvent.__table__
    columns: list[Any] = [table.c.prev_hash, table.c.hash, *(table.c[n] for n in chain.FIELDS)]
    try:
        with engine.connect() as conn:
            from_db = [
                Checkpoint(c.seq, c.head, chain.time_text(c.at), c.key_id, c.signature, "database")
                for c in conn.execute(select(AuditCheckpoint.__table__).order_by("id"))
            ]
            total = conn.scalar(select(func.count()).select_from(table)) or 0
            rows = conn.execution_options(yield_per=10000).execute(
                select(*columns).order_by(table.c.seq)
            )
            try:
                with click.progressbar(length=total, label="verifying", file=sys.stderr) as bar:
                    report = verify(rows, public_key, from_file, from_db, progress=bar.update)
            finally:
                rows.close()
    finally:
        engine.dispose()
    if report.damage is not None:
        click.echo(f"FAILED: {report.damage}", err=True)
        raise SystemExit(EXIT_OLDER_THAN_FILE if report.older_than_file else EXIT_DAMAGE)
    click.echo(
        f"OK: {report.sealed} sealed event(s), {report.pending} pending, "
        f"{report.checkpoints} signed checkpoint(s); the last at seq "
        f"{report.last_checkpoint_seq}, the head of the chain"
    )
