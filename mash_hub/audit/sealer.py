"""The sealer: links new audit events into the hash chain and signs checkpoints.

Events are inserted with NULL hashes, so concurrent writers never wait for one another;
the sealer later fills ``prev_hash`` and ``hash`` in ``seq`` order (the one change the
append-only triggers allow). On PostgreSQL it first calls ``audit_seal_lock()``, which
waits for every inserting transaction in flight, so an event with a lower seq can never
commit after a higher one was sealed.

The scheduler calls :func:`run_once` every few seconds; ``mash-hub audit seal`` calls it
with ``force=True``. A run seals in batches of at most ``BATCH`` events, each batch with its
signed checkpoint in a transaction of its own, so the seal lock is held for one batch at a
time and a backlog never stalls the requests that write events for long. Each checkpoint is
appended to the file outside the database after its transaction commits; a process that
dies between the two leaves the file one line short, and the next run appends the missing
lines (they are the database's own, byte for byte), so a crash is never taken for
tampering. Hashes are deterministic, so a batch that fails is simply repeated by the next
run.
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

# About 0.2 s of sealing under the lock on a shared 2-core machine (the review measured 52 s
# for 300,000 events in one transaction).
BATCH = 1000
# How far back the file's last line is looked for among the database's checkpoints: a
# crash loses the append of one run, so a handful would do.
CATCH_UP = 50
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


def seal_pending(db: Session, limit: int | None = None) -> tuple[int, Head]:
    """Give unsealed events their place in the chain, in seq order: all of them, or the
    first `limit`. Returns how many were sealed and the new head. Runs in the caller's unit
    of work."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT audit_seal_lock()"))
    else:
        # SQLite: take the write lock before reading (a write that changes nothing), so
        # the snapshot read below is the newest and cannot go stale before the update.
        db.execute(text("UPDATE audit_events SET hash = hash WHERE 0"))
    head = chain_head(db)
    sealed = 0
    while limit is None or sealed < limit:
        size = BATCH if limit is None else min(BATCH, limit - sealed)
        rows = db.execute(
            select(*_COLUMNS)
            .where(AuditEvent.hash.is_(None), AuditEvent.seq > head.seq)
            .order_by(AuditEvent.seq)
            .limit(size)
        ).all()
        if not rows:
            break
        changes = []
        prev = head.hash
        for row in rows:
            digest = chain.event_hash(prev, tuple(row))
            changes.append({"seq": row.seq, "prev_hash": prev, "hash": digest})
            prev = digest
        db.execute(update(AuditEvent), changes)
        sealed += len(changes)
        head = Head(rows[-1].seq, prev)
    return sealed, head


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
    append_lines(path, [checkpoint_line(checkpoint)])


def append_lines(path: Path, lines: list[str]) -> None:
    """Append whole lines in one write and wait until they are on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines))
        out.flush()
        os.fsync(out.fileno())


def _file_tail(path: Path) -> tuple[str | None, str]:
    """The file's last whole line (None if it has none) and any unfinished line after it."""
    try:
        with path.open("rb") as source:
            size = source.seek(0, os.SEEK_END)
            # The last line plus a torn one fit well within 8 KiB (a line is ~250 bytes).
            source.seek(max(0, size - 8192))
            tail = source.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None, ""
    whole, _, torn = tail.rpartition("\n")
    if size > 8192 and "\n" not in whole:
        return "", torn  # a last line longer than any of ours: not a checkpoint
    return (whole.rpartition("\n")[2] if whole else None), torn


def catch_up_file(db: Session, path: Path) -> int:
    """Append the checkpoints that the database holds after the file's last line: those of
    a run that died after its commit and before its append. Returns how many.

    Only a file whose last line is one of the database's checkpoints is caught up (or, for
    the very first checkpoint, a file not yet written). A file that names checkpoints the
    database lacks, or is missing while the database holds several, is left as it is for
    `verify` to report: that is what a truncated or replaced trail looks like. A line torn
    by the crash is replaced when it is the start of the line that belongs there."""
    last, torn = _file_tail(path)
    recent = list(
        db.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(CATCH_UP))
    )
    if last is None:
        # Nothing written yet: the very first checkpoint's append may be the one lost.
        missing = [checkpoint_line(c) for c in recent] if len(recent) == 1 else []
    else:
        lines = [checkpoint_line(c) for c in reversed(recent)]
        if last not in lines:
            return 0
        missing = lines[lines.index(last) + 1 :]
    if not missing:
        return 0
    if torn:
        if not missing[0].startswith(torn):
            return 0
        with path.open("r+b") as out:
            out.truncate(out.seek(0, os.SEEK_END) - len(torn.encode("utf-8")))
    append_lines(path, missing)
    return len(missing)


def run_once(
    database: Database, settings: Settings, now: datetime, *, force: bool = False
) -> SealResult:
    """Seal pending events and sign a checkpoint of the new head after every batch that
    moved it (and at least one with ``force``): every sealed event is then under a
    signature, and only events not yet sealed lack one.

    For the scheduler: call it every few seconds with the current time. Safe to run from
    several processes: PostgreSQL serialises sealers with the seal lock, SQLite with its
    single writer.
    """
    path = settings.audit.checkpoint_path(settings.app.instance_path)
    with database.transaction() as db:
        catch_up_file(db, path)
    sealed = 0
    signed: AuditCheckpoint | None = None
    while True:
        with database.transaction() as db:
            batch, head = seal_pending(db, limit=BATCH)
            last = latest_checkpoint(db)
            due = last is None or head.seq != last.seq or (force and signed is None)
            checkpoint = write_checkpoint(db, settings, head, now) if due else None
            if checkpoint is not None:
                db.expunge(checkpoint)
        if checkpoint is not None:
            append_to_file(path, checkpoint)
            signed = checkpoint
        sealed += batch
        if batch < BATCH:
            return SealResult(sealed, head, signed)
