"""Audit chain verification against a bare SHA-256 loop over the same bytes.

For N events (default 10,000,000) built in batches like the rows the database driver
hands the verifier (seq, UUID, aware datetime, text...), two loops run batch by batch in
alternating order, so machine noise falls on both alike:

- verify: `mash_hub.audit.verify.ChainWalker.feed`, the verifier's own per-event work:
  canonical encoding, SHA-256, comparison with the stored hash, the prev_hash link and
  the checkpoint lookup;
- bare: `hashlib.sha256(record).hexdigest()` over the very same encoded records,
  prepared beforehand (the floor: hashing alone).

Building and sealing the rows is not timed. Target: verify at most 5x bare.

    .venv/bin/python benchmarks/bench_audit_verify.py [--events N] [--batch B]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from mash_hub.audit import chain
from mash_hub.audit.verify import ChainWalker, Report

TARGET = 5.0
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ACTIONS = ("contact:read", "contact:rate", "request:read", "contribution:read")
AGENCIES = ("police", "csc", "health", "education", "housing")


def make_batch(first_seq: int, size: int, prev: str) -> tuple[list[tuple[Any, ...]], list[bytes]]:
    """Sealed rows (prev_hash, hash, *FIELDS) and the encoded records they hash."""
    rows: list[tuple[Any, ...]] = []
    records: list[bytes] = []
    actor = str(uuid.uuid4())
    for seq in range(first_seq, first_seq + size):
        contact = str(uuid.uuid4())
        fields = (
            seq,
            uuid.uuid4(),
            START + timedelta(microseconds=seq * 1371),
            "access.decision",
            "user",
            actor,
            AGENCIES[seq % 5],
            "screener",
            ACTIONS[seq % 4],
            "contact",
            contact,
            contact if seq % 7 else None,
            "allow" if seq % 3 else "deny",
            "isa-police-csc",
            "4.2 5.1",
            "policy0 policy3",
            "permitted by the agreement" if seq % 3 else "no agreement covers this",
            seq % 1000 == 0,
            uuid.uuid4().hex,
            "10.0.0.12",
        )
        record = chain.encode(prev, fields)
        digest = hashlib.sha256(record).hexdigest()
        rows.append((prev, digest, *fields))
        records.append(record)
        prev = digest
    return rows, records


def bare(records: list[bytes]) -> str:
    sha256 = hashlib.sha256
    digest = ""
    for record in records:
        digest = sha256(record).hexdigest()
    return digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=50_000)
    args = parser.parse_args()

    walker = ChainWalker({}, Report())
    prev = chain.GENESIS
    verify_s = bare_s = 0.0
    done = 0
    gc.disable()  # the rows are acyclic; collection pauses would land on one side only
    try:
        while done < args.events:
            size = min(args.batch, args.events - done)
            rows, records = make_batch(done + 1, size, prev)
            prev = rows[-1][1]
            order = ("verify", "bare") if (done // args.batch) % 2 == 0 else ("bare", "verify")
            for name in order:
                started = time.perf_counter()
                if name == "verify":
                    ok = walker.feed(rows)
                    verify_s += time.perf_counter() - started
                    if not ok:
                        raise SystemExit(f"verification failed: {walker.report.damage}")
                else:
                    head = bare(records)
                    bare_s += time.perf_counter() - started
                    assert head == prev
            done += size
            del rows, records
    finally:
        gc.enable()
    assert walker.report.sealed == args.events
    ratio = verify_s / bare_s
    print(f"events:            {args.events:,}")
    print(f"verify:            {verify_s:8.2f} s  {verify_s / args.events * 1e6:6.2f} us/event")
    print(f"bare SHA-256 loop: {bare_s:8.2f} s  {bare_s / args.events * 1e6:6.2f} us/event")
    print(f"ratio:             {ratio:8.2f}x  (target at most {TARGET:.0f}x)")


if __name__ == "__main__":
    main()
