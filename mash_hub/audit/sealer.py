"""The sealer: links new audit events into the hash chain and signs checkpoints.

Events are inserted with NULL hashes, so concurrent writers never wait for one another;
the sealer later fills ``prev_hash`` and ``hash`` in ``seq`` order (the one change the
append-only triggers allow). On PostgreSQL it first calls ``audit_seal_lock()``, which
waits for every inserting transaction in flight, so an event with a lower seq can never
commit after a higher one was sealed.

The scheduler calls :func:`run_once` every few seconds; ``mash-hub audit seal`` calls it
with ``force=True``. Each run is one transaction; a checkpoint is appended to the file
outside the database only after that transaction commits. Hashes are deterministic, so a
run that fails is simply repeated by the next one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from mash_hub.audit import chain, signing
from mash_hub.audit.models import AuditCheckpoint, AuditEvent
from mash_hub.config import Settings
from mash_hub.db import Database

BATCH = 5000
_COLUMNS = [getattr(AuditEvent, name) for name in chain.FIELDS]


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str


@dataclass(frozen=True)
class SealResult:
    sealed: int
    head: Head
    checkpoint: AuditCheckpoint | None


def chain_head(db: Session) -> Head:
    row = db.execute(
        select(AuditEvent.seq, AuditEvent.hash)
        .where(AuditEvent.hash.is_not(None))
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    return Head(0, chain.GENESIS) if row is None else Head(row.seq, str(row.hash))


def seal_pending(db: Session) -> tuple[int, Head]:
    """Give every unsealed event its place in the chain, in seq order. Returns how many
    were sealed and the new head. Runs in the caller's unit of work."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT audit_seal_lock()"))
    else:
        # SQLite: take the write lock before reading (a write that changes nothing), so
        # the snapshot read below is the newest and cannot go stale before the update.
        db.execute(text("UPDATE audit_events SET hash = hash WHERE 0"))
    head = chain_head(db)
    sealed = 0
    while True:
        rows = db.execute(
            select(*_COLUMNS)
            .where(AuditEvent.hash.is_(None), AuditEvent.seq > head.seq)
            .order_by(AuditEvent.seq)
            .limit(BATCH)
        ).all()
        if not rows:
            return sealed, head
        changes = []
        prev = head.hash
        for row in rows:
            digest = chain.event_hash(prev, tuple(row))
            changes.append({"seq": row.seq, "prev_hash": prev, "hash": digest})
            prev = digest
        db.execute(update(AuditEvent), changes)
        sealed += len(changes)
        head = Head(rows[-1].seq, prev)


def latest_checkpoint(db: Session) -> AuditCheckpoint | None:
    return db.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1))


def write_checkpoint(db: Session, settings: Settings, head: Head, now: datetime) -> AuditCheckpoint:
    """Sign the head and store the checkpoint in the caller's unit of work."""
    key = signing.signing_key(settings)
    checkpoint = AuditCheckpoint(
        seq=head.seq,
        head=head.hash,
        at=now,
        key_id=signing.key_id(key.public_key()),
        signature=signing.sign(key, chain.checkpoint_message(head.seq, head.hash, now)),
    )
    db.add(checkpoint)
    db.flush()
    return checkpoint


def checkpoint_line(checkpoint: AuditCheckpoint) -> str:
    return json.dumps(
        {
            "seq": checkpoint.seq,
            "head": checkpoint.head,
            "at": chain.time_text(checkpoint.at),
            "key_id": checkpoint.key_id,
            "signature": checkpoint.signature,
        },
        separators=(",", ":"),
    )


def append_to_file(path: Path, checkpoint: AuditCheckpoint) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(checkpoint_line(checkpoint) + "\n")
        out.flush()
        os.fsync(out.fileno())


def run_once(
    database: Database, settings: Settings, now: datetime, *, force: bool = False
) -> SealResult:
    """Seal pending events and sign a checkpoint of the new head, every time the head has
    moved (or at once with ``force``): every sealed event is then under a signature, and
    only events not yet sealed lack one.

    For the scheduler: call it every few seconds with the current time. Safe to run from
    several processes: PostgreSQL serialises sealers with the seal lock, SQLite with its
    single writer.
    """
    with database.transaction() as db:
        sealed, head = seal_pending(db)
        last = latest_checkpoint(db)
        due = last is None or head.seq != last.seq
        checkpoint = write_checkpoint(db, settings, head, now) if force or due else None
        if checkpoint is not None:
            db.expunge(checkpoint)
    if checkpoint is not None:
        append_to_file(settings.audit.checkpoint_path(settings.app.instance_path), checkpoint)
    return SealResult(sealed, head, checkpoint)
