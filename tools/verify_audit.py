#!/usr/bin/env python3
"""Verify a MASH Hub audit trail without trusting the hub.

Needs only Python 3.11, `cryptography` and `sqlalchemy` (with `psycopg` for PostgreSQL);
imports nothing from the hub, so an auditor can read it in full and run it anywhere:

    python tools/verify_audit.py --database sqlite:///instance/mash.db \\
        --checkpoints audit-checkpoints.jsonl --public-key audit-public-key.pem

    python tools/verify_audit.py --database postgresql+psycopg://auditor@db/mash ...

It recomputes every event's SHA-256 from its canonical encoding, follows the prev_hash
links in seq order, and checks every Ed25519-signed checkpoint (from the file and the
database) against the chain. Exit status 0: intact; 1: damage, naming the first bad event
and the kind of damage; 2: the inputs could not be read; 3: truncated, the only damage
being that the database ends before the checkpoint file (its newest events, and the
checkpoints that signed them, are missing: restored from an earlier backup, or cut).

The encoding (the same as mash_hub/audit/chain.py documents):

    hash   = hex SHA-256 of UTF-8( "mash-audit/1" + "\\n" field ... ), fields in order
             prev_hash, seq, id, at, kind, actor_type, actor_id, agency, roles, action,
             object_type, object_id, contact_id, decision, isa_ids, clauses, policy_ids,
             reason, break_glass, request_id, client_address
    field  = "~" for NULL, else <length in code points> ":" <text>
    text   : seq decimal; id 32 lowercase hex digits; at whole microseconds since the Unix
             epoch (UTC); break_glass "true"/"false"; the first prev_hash is 64 zeros
    checkpoint message = UTF-8( "mash-audit-checkpoint/1\\n<seq>\\n<head>\\n<at>" ),
             <at> as YYYY-MM-DDTHH:MM:SS.ffffffZ

Events appended after the newest checkpoint are protected by the chain alone: cutting
them off the end cannot be detected. The report says how many such events there are.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

GENESIS = "0" * 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
FIELDS = (
    "seq", "id", "at", "kind", "actor_type", "actor_id", "agency", "roles", "action",
    "object_type", "object_id", "contact_id", "decision", "isa_ids", "clauses", "policy_ids",
    "reason", "break_glass", "request_id", "client_address",
)  # fmt: skip

metadata = sa.MetaData()
events_table = sa.Table(
    "audit_events",
    metadata,
    sa.Column("seq", sa.BigInteger),
    sa.Column("id", sa.Uuid),
    sa.Column("at", sa.DateTime(timezone=True)),
    *(sa.Column(name, sa.Text) for name in FIELDS[3:] if name != "break_glass"),
    sa.Column("break_glass", sa.Boolean),
    sa.Column("prev_hash", sa.Text),
    sa.Column("hash", sa.Text),
)
checkpoints_table = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("id", sa.BigInteger),
    sa.Column("seq", sa.BigInteger),
    sa.Column("head", sa.Text),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("key_id", sa.Text),
    sa.Column("signature", sa.Text),
)


class Damage(Exception):
    exit_status = 1

    def __init__(self, kind, detail, seq=None, event_id=None):
        where = "" if seq is None else f"event seq {seq} (id {event_id}): "
        super().__init__(f"{where}{kind}: {detail}")
        self.kind = kind


class OlderThanFile(Damage):
    """Truncated: the database ends before the checkpoint file does."""

    exit_status = 3


def _field(value):
    return "~" if value is None else f"{len(value)}:{value}"


def encode(prev_hash, row):
    seq, ident, at = row[0], row[1], row[2]
    ident = ident if isinstance(ident, uuid.UUID) else uuid.UUID(str(ident))
    micros = (at - (_NAIVE_EPOCH if at.tzinfo is None else _EPOCH)) // _MICROSECOND
    texts = [prev_hash, str(seq), ident.hex, str(micros), *row[3:17]]
    texts.append("true" if row[17] else "false")
    texts.extend(row[18:20])
    return ("mash-audit/1" + "".join("\n" + _field(t) for t in texts)).encode("utf-8")


def time_text(at):
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds") + "Z"


def signed(public_key, seq, head, at, signature):
    message = f"mash-audit-checkpoint/1\n{seq}\n{head}\n{at}".encode()
    try:
        public_key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def read_file(path):
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                item = json.loads(line)
                found.append((int(item["seq"]), item["head"], item["at"], item["signature"]))
            except (ValueError, KeyError, TypeError) as err:
                raise OSError(f"{path}, line {number}: not a checkpoint ({err})") from err
    return found


def signed_heads(public_key, from_file, from_db):
    for source, items in (("checkpoint file", from_file), ("database", from_db)):
        for seq, head, at, signature in items:
            if not signed(public_key, seq, head, at, signature):
                raise Damage(
                    "bad signature",
                    f"the checkpoint at seq {seq} in the {source} is not signed by this key",
                )
    in_file = {c[:3] for c in from_file}
    in_db = {c[:3] for c in from_db}
    # Checkpoints the file has from after the database's newest one: a database restored
    # from an older backup, or cut at the end. The chain walk reports them as truncated.
    newest_at = max((at for _seq, _head, at in in_db), default="")
    newest_seq = max((seq for seq, _head, _at in in_db), default=0)
    later = {c for c in in_file - in_db if c[2] > newest_at and c[0] >= newest_seq}
    for seq, head, at in sorted((in_file ^ in_db) - later):
        where, other = (
            ("the database", "the checkpoint file")
            if (seq, head, at) in in_db
            else ("the checkpoint file", "the database")
        )
        raise Damage(
            "checkpoint mismatch",
            f"the checkpoint at seq {seq} signed at {at} is in {where} but not in {other}",
        )
    heads = {}
    for seq, head, _at in sorted(in_file):
        if heads.setdefault(seq, head) != head:
            raise Damage("bad signature", f"two signed checkpoints disagree at seq {seq}")
    if heads.get(0, GENESIS) != GENESIS:
        raise Damage("rewritten", "the checkpoint at seq 0 does not name the empty chain")
    return heads, len(later)


def check(conn, public_key, from_file, progress=None):
    """Return a summary line, or raise Damage at the first fault."""
    from_db = [
        (r.seq, r.head, time_text(r.at), r.signature)
        for r in conn.execute(sa.select(checkpoints_table).order_by(checkpoints_table.c.id))
    ]
    heads, later_in_file = signed_heads(public_key, from_file, from_db)
    last_checkpoint = max(heads, default=0)
    columns = [events_table.c.prev_hash, events_table.c.hash]
    columns += [events_table.c[name] for name in FIELDS]
    rows = conn.execution_options(yield_per=10000).execute(
        sa.select(*columns).order_by(events_table.c.seq)
    )
    try:
        return _walk(rows, heads, last_checkpoint, len(from_file), progress, later_in_file)
    finally:
        rows.close()


def _walk(rows, heads, last_checkpoint, checkpoints, progress, later_in_file=0):
    prev, last_sealed, sealed, pending, unprotected, matched = GENESIS, 0, 0, 0, 0, set()
    sha256 = hashlib.sha256
    for count, row in enumerate(rows, 1):
        if progress and count % 100000 == 0:
            progress(count)
        stored_prev, stored, fields = row[0], row[1], tuple(row[2:])
        seq, event_id = fields[0], fields[1]
        if stored is None:
            pending += 1
            continue
        if pending:
            raise Damage("out of order", "sealed after an unsealed event", seq, event_id)
        if sha256(encode(str(stored_prev), fields)).hexdigest() != stored:
            raise Damage("altered", "its contents do not match its hash", seq, event_id)
        if stored_prev != prev:
            raise Damage(
                "broken link",
                f"its prev_hash is not the hash of the event before it (seq {last_sealed}): "
                "an event was deleted, inserted or moved",
                seq,
                event_id,
            )
        if seq in heads:
            if heads[seq] != stored:
                raise Damage(
                    "rewritten",
                    f"its hash differs from the head signed in the checkpoint at seq {seq}: "
                    "the chain was recomputed",
                    seq,
                    event_id,
                )
            matched.add(seq)
        prev, last_sealed = stored, seq
        sealed += 1
        if seq > last_checkpoint:
            unprotected += 1
    beyond = [seq for seq in heads if seq > last_sealed]
    if beyond and later_in_file:
        raise OlderThanFile(
            "truncated",
            f"the database ends at seq {last_sealed}, but the checkpoint file has "
            f"{later_in_file} later checkpoint(s), up to seq {max(beyond)}: the database is "
            "older than the file (restored from an earlier backup) or its newest events "
            "were removed",
        )
    if beyond:
        raise Damage(
            "truncated",
            f"a signed checkpoint names seq {max(beyond)}, but the chain ends at seq "
            f"{last_sealed}: events were removed from the end",
        )
    unmatched = sorted(s for s in heads if s > 0 and s not in matched)
    if unmatched:
        raise Damage(
            "truncated",
            f"the signed checkpoint at seq {unmatched[0]} names an event that is gone",
        )
    if sealed and not heads:
        raise Damage("unsigned", "no signed checkpoint covers the chain")
    if unprotected:
        raise Damage(
            "unsigned",
            f"{unprotected} sealed event(s) after the checkpoint at seq {last_checkpoint} "
            "carry no signature: added or rewritten at the end",
        )
    return (
        f"OK: {sealed} sealed event(s), {pending} pending, {checkpoints} signed "
        f"checkpoint(s); the last at seq {last_checkpoint}, the head of the chain"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description="Verify a MASH Hub audit trail.")
    parser.add_argument("--database", required=True, help="SQLAlchemy URL of the hub database")
    parser.add_argument("--checkpoints", required=True, type=Path, help="checkpoint file")
    parser.add_argument("--public-key", required=True, type=Path, help="PEM public key")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    try:
        public_key = load_pem_public_key(args.public_key.read_bytes())
        if not isinstance(public_key, Ed25519PublicKey):
            raise ValueError("the public key is not an Ed25519 key")
        from_file = read_file(args.checkpoints) if args.checkpoints.exists() else []
        engine = sa.create_engine(args.database)
    except (OSError, ValueError) as err:
        print(f"verify_audit: {err}", file=sys.stderr)
        return 2

    def progress(count):
        if not args.quiet:
            print(f"... {count} events checked", file=sys.stderr, flush=True)

    try:
        with engine.connect() as conn:
            print(check(conn, public_key, from_file, progress))
    except Damage as damage:
        print(f"FAILED: {damage}", file=sys.stderr)
        return damage.exit_status
    except sa.exc.SQLAlchemyError as err:
        print(f"verify_audit: cannot read the database: {err}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
