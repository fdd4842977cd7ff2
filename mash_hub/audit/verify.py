"""Checking the audit trail: the hash chain, and the signed checkpoints against it.

What is checked, in this order (the first failure is reported and the check stops):

1. every checkpoint, from the checkpoint file and from the database, carries a valid
   Ed25519 signature by the given public key ("bad signature"); the two lists agree
   ("checkpoint mismatch"); there is at least one checkpoint once any event is sealed
   ("unsigned");
2. walking the events in seq order, each sealed event's hash matches its canonical
   encoding ("altered"), its prev_hash is the hash of the sealed event before it ("broken
   link": an event deleted, inserted or moved), no sealed event follows an unsealed one
   ("out of order"), and where a checkpoint names its seq, its hash is the signed head
   ("rewritten": the chain was recomputed without the signing key);
3. no checkpoint names a seq beyond the last sealed event, or one that has no event
   ("truncated"). A database that lacks only checkpoints signed after its own newest one
   (restored from a backup older than the checkpoint file, or cut at the end) is reported
   here, as truncated, not as a checkpoint mismatch: what is missing is its newest part.

The sealer signs a checkpoint of the head every time it seals, so every sealed event lies
under a signature: a sealed event after the newest checkpoint was added or rewritten by
someone without the signing key ("unsigned"). Only events not yet sealed carry no
signature; the report counts them (``pending``).

``tools/verify_audit.py`` makes the same checks without importing the hub.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from mash_hub.audit import chain

PROGRESS_EVERY = 10000
# Exit status of both verifiers: 0 intact, 1 damage, 2 the inputs could not be read, 3 the
# database ends before the checkpoint file (truncated; see ``Report.older_than_file``).
EXIT_DAMAGE = 1
EXIT_OLDER_THAN_FILE = 3


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head: str
    at: str
    key_id: str
    signature: str
    source: str  # "file" or "database"


@dataclass(frozen=True)
class Damage:
    kind: str
    detail: str
    seq: int | None = None
    event_id: str | None = None

    def __str__(self) -> str:
        where = "" if self.seq is None else f"event seq {self.seq} (id {self.event_id}): "
        return f"{where}{self.kind}: {self.detail}"


@dataclass
class Report:
    events: int = 0
    sealed: int = 0
    pending: int = 0
    checkpoints: int = 0
    last_checkpoint_seq: int = 0
    unprotected: int = 0
    # Checkpoints in the file signed after the database's newest one.
    later_in_file: int = 0
    damage: Damage | None = field(default=None)
    # The damage is only that the database ends before the checkpoint file does: its
    # newest events, and the checkpoints that signed them, are not in it (a restore from
    # an earlier backup, or a cut at the end). Exit status EXIT_OLDER_THAN_FILE.
    older_than_file: bool = False

    @property
    def ok(self) -> bool:
        return self.damage is None


class VerifyError(Exception):
    """The inputs could not be read (not damage to the trail itself)."""


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = load_pem_public_key(pem)
    except ValueError as err:
        raise VerifyError(f"not a PEM public key: {err}") from err
    if not isinstance(key, Ed25519PublicKey):
        raise VerifyError("the public key is not an Ed25519 key")
    return key


def read_checkpoint_file(path: Path) -> list[Checkpoint]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise VerifyError(f"cannot read the checkpoint file {path}: {err.strerror}") from err
    found = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            found.append(
                Checkpoint(
                    int(item["seq"]),
                    str(item["head"]),
                    str(item["at"]),
                    str(item["key_id"]),
                    str(item["signature"]),
                    "file",
                )
            )
        except (ValueError, KeyError, TypeError) as err:
            raise VerifyError(f"{path}, line {number}: not a checkpoint ({err})") from err
    return found


def _signed(public_key: Ed25519PublicKey, cp: Checkpoint) -> bool:
    try:
        signature = base64.b64decode(cp.signature, validate=True)
        public_key.verify(signature, chain.checkpoint_message(cp.seq, cp.head, cp.at))
    except (InvalidSignature, ValueError):
        return False
    return True


def check_checkpoints(
    public_key: Ed25519PublicKey,
    from_file: Sequence[Checkpoint],
    from_db: Sequence[Checkpoint],
    report: Report | None = None,
) -> tuple[dict[int, str], Damage | None]:
    """The signed heads by seq, or the first damage among the checkpoints."""
    for cp in (*from_file, *from_db):
        if not _signed(public_key, cp):
            return {}, Damage(
                "bad signature",
                f"the checkpoint at seq {cp.seq} in the {cp.source} is not signed by this key",
            )
    file_keys = {(c.seq, c.head, c.at) for c in from_file}
    db_keys = {(c.seq, c.head, c.at) for c in from_db}
    later = later_than_database(file_keys, db_keys)
    if report is not None:
        report.later_in_file = len(later)
    for seq, _head, at in sorted((file_keys ^ db_keys) - later):
        where = "the database" if (seq, _head, at) in db_keys else "the checkpoint file"
        other = "the checkpoint file" if where == "the database" else "the database"
        return {}, Damage(
            "checkpoint mismatch",
            f"the checkpoint at seq {seq} signed at {at} is in {where} but not in {other}",
        )
    heads: dict[int, str] = {}
    for seq, head, _at in sorted(file_keys):
        if heads.setdefault(seq, head) != head:
            return {}, Damage("bad signature", f"two signed checkpoints disagree at seq {seq}")
    if heads.get(0, chain.GENESIS) != chain.GENESIS:
        return {}, Damage("rewritten", "the checkpoint at seq 0 does not name the empty chain")
    return heads, None


def later_than_database(
    file_keys: set[tuple[int, str, str]], db_keys: set[tuple[int, str, str]]
) -> set[tuple[int, str, str]]:
    """The file's checkpoints signed after the database's newest one: what a database
    restored from an older backup lacks. Left to the chain walk, which reports the events
    they name as missing from the end ("truncated")."""
    newest_at = max((at for _seq, _head, at in db_keys), default="")
    newest_seq = max((seq for seq, _head, _at in db_keys), default=0)
    return {key for key in file_keys - db_keys if key[2] > newest_at and key[0] >= newest_seq}


class ChainWalker:
    """Walks sealed events in seq order against the signed heads; ``feed`` may be called
    with successive batches. Stops at the first damage (``report.damage``)."""

    def __init__(self, heads: dict[int, str], report: Report) -> None:
        self.heads = heads
        self.report = report
        report.last_checkpoint_seq = max(heads, default=0)
        self.prev = chain.GENESIS
        self.last_sealed = 0
        self.matched: set[int] = set()

    def feed(self, rows: Iterable[Sequence[Any]]) -> bool:
        """Check the rows; False once damage is found."""
        report = self.report
        heads = self.heads
        last_checkpoint = report.last_checkpoint_seq
        encode_row = chain.encode_row
        sha256 = hashlib.sha256
        prev = self.prev
        last_sealed = self.last_sealed
        sealed = unprotected = count = 0
        pending = report.pending
        damage = None
        for row in rows:
            count += 1
            stored = row[1]
            seq = row[2]
            if stored is None:
                pending += 1
                continue
            if pending:
                damage = Damage("out of order", "sealed after an unsealed event", seq, row[3])
                break
            if sha256(encode_row(row)).hexdigest() != stored:
                damage = Damage("altered", "its contents do not match its hash", seq, row[3])
                break
            if row[0] != prev:
                damage = Damage(
                    "broken link",
                    f"its prev_hash is not the hash of the event before it (seq {last_sealed}): "
                    "an event was deleted, inserted or moved",
                    seq,
                    row[3],
                )
                break
            if seq in heads:
                if heads[seq] != stored:
                    damage = Damage(
                        "rewritten",
                        f"its hash differs from the head signed in the checkpoint at seq {seq}: "
                        "the chain was recomputed",
                        seq,
                        row[3],
                    )
                    break
                self.matched.add(seq)
            prev = stored
            last_sealed = seq
            sealed += 1
            if seq > last_checkpoint:
                unprotected += 1
        self.prev, self.last_sealed = prev, last_sealed
        report.pending = pending
        report.events += count
        report.sealed += sealed
        report.unprotected += unprotected
        if damage is not None:
            report.damage = Damage(damage.kind, damage.detail, damage.seq, str(damage.event_id))
            return False
        return True

    def finish(self) -> Report:
        """After the last row: checkpoints that name events past the end, or gone."""
        report = self.report
        if report.damage is not None:
            return report
        heads = self.heads
        beyond = [seq for seq in heads if seq > self.last_sealed]
        if beyond and report.later_in_file:
            report.older_than_file = True
            report.damage = Damage(
                "truncated",
                f"the database ends at seq {self.last_sealed}, but the checkpoint file has "
                f"{report.later_in_file} later checkpoint(s), up to seq {max(beyond)}: the "
                "database is older than the file (restored from an earlier backup) or its "
                "newest events were removed",
            )
        elif beyond:
            report.damage = Damage(
                "truncated",
                f"a signed checkpoint names seq {max(beyond)}, but the chain ends at seq "
                f"{self.last_sealed}: events were removed from the end",
            )
        elif unmatched := sorted(s for s in heads if s > 0 and s not in self.matched):
            report.damage = Damage(
                "truncated",
                f"the signed checkpoint at seq {unmatched[0]} names an event that is gone",
            )
        elif report.sealed and not heads:
            report.damage = Damage("unsigned", "no signed checkpoint covers the chain")
        elif report.unprotected:
            report.damage = Damage(
                "unsigned",
                f"{report.unprotected} sealed event(s) after the checkpoint at seq "
                f"{report.last_checkpoint_seq} carry no signature: added or rewritten at the end",
            )
        return report


def _batches(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def verify(
    rows: Iterable[Sequence[Any]],
    public_key: Ed25519PublicKey,
    from_file: Sequence[Checkpoint],
    from_db: Sequence[Checkpoint],
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Check the trail. ``rows`` yield (prev_hash, hash, *chain.FIELDS) in seq order."""
    report = Report(checkpoints=len(from_file))
    heads, damage = check_checkpoints(public_key, from_file, from_db, report)
    if damage is not None:
        report.damage = damage
        return report
    walker = ChainWalker(heads, report)
    for batch in _batches(rows, PROGRESS_EVERY):
        ok = walker.feed(batch)
        if progress is not None:
            progress(len(batch))
        if not ok:
            break
    return walker.finish()
