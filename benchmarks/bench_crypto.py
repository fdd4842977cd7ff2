"""Field encryption latency: `mash_hub.crypto.keys` encrypt + decrypt of a 2 KB field.

Variants, interleaved in shuffled order each iteration so machine noise falls on all alike:

- AES-256-GCM alone: the cipher on the same 2 KB with the same size of associated data
  (the floor; no key lookup).
- warm: keys already unwrapped in this unit of work (`Session.info` cache), the case for
  every field after the first in a request.
- cold: a fresh unit of work (new session, connection already checked out, so pool
  checkout is not counted): the agency is looked up, the data key and its agency key are
  read in one query and both unwrapped. "cold encrypt+decrypt" drops the cache between
  the two, so both pay the lookup.
- first use: a contact's first field for an agency: a new data key is made and inserted.

    .venv/bin/python benchmarks/bench_crypto.py [--iterations N] [--isolated]
                                                [--database-url URL]

Without --database-url a temporary SQLite file is migrated and used. With a URL the
database is migrated to head; rows the benchmark makes are deleted at the end.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mash_hub.crypto import keys
from mash_hub.crypto.models import AgencyKey, DataKey
from mash_hub.db import Database, upgrade
from mash_hub.identity import services as identity

FIELD_BYTES = 2048
CONTACTS = 500
AGENCY = "health"
TABLE, COLUMN = "contributions", "body_sealed"


def measure(
    variants: dict[str, Callable[[], int]],
    iterations: int,
    warmup: int,
    seed: int,
    isolated: bool = False,
) -> dict[str, list[int]]:
    """Each variant times its own measured part (setup excluded) and returns nanoseconds.

    Interleaved (the default), each iteration runs every variant once in shuffled order;
    isolated, each variant runs all its iterations back to back (hot CPU caches: the
    fastest it can be, as in a request that decrypts many fields in a row).
    """
    order = list(variants)
    rng = random.Random(seed)  # noqa: S311 - shuffles the timing order, nothing secret
    samples: dict[str, list[int]] = {name: [] for name in order}
    for _ in range(warmup):
        for call in variants.values():
            call()
    gc.collect()
    gc.disable()
    try:
        if isolated:
            for name in order:
                call = variants[name]
                samples[name] = [call() for _ in range(iterations)]
        else:
            for _ in range(iterations):
                rng.shuffle(order)
                for name in order:
                    samples[name].append(variants[name]())
    finally:
        gc.enable()
    return samples


def percentile(sorted_ns: list[int], fraction: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(len(sorted_ns) * fraction))] / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--isolated", action="store_true", help="run each variant back to back, not interleaved"
    )
    args = parser.parse_args()

    scratch = None
    url = args.database_url
    if url is None:
        scratch = tempfile.TemporaryDirectory(prefix="bench-crypto-")
        url = f"sqlite:///{Path(scratch.name) / 'bench.db'}"
    database = Database(url)
    upgrade(database.engine)
    master = os.urandom(32)
    plaintext = os.urandom(FIELD_BYTES)
    rng = random.Random(args.seed)  # noqa: S311 - picks contacts, nothing secret
    contacts = [uuid.uuid4() for _ in range(CONTACTS)]
    with database.transaction() as db:
        identity.ensure_agencies(db)
        existing_agency_keys = set(db.scalars(select(AgencyKey.id)))
        if keys.active_agency_key(db, AGENCY) is not None:
            sys.exit(f"agency {AGENCY} already has a key in {url}: use an empty database")
        for contact in contacts:
            keys.encrypt(db, plaintext=b"seed", master=master, **where(contact, "seed"))

    def encrypt(db: Session, contact: uuid.UUID, row: str) -> bytes:
        return keys.encrypt(db, plaintext=plaintext, master=master, **where(contact, row))

    def decrypt(db: Session, contact: uuid.UUID, row: str, envelope: bytes) -> bytes:
        return keys.decrypt(db, envelope=envelope, master=master, **where(contact, row))

    # Warm: one long unit of work in which every contact's keys were used once already.
    warm = database.sessionmaker()
    for contact in contacts:
        decrypt(warm, contact, "w", encrypt(warm, contact, "w"))

    def warm_round_trip() -> int:
        contact = rng.choice(contacts)
        started = time.perf_counter_ns()
        envelope = encrypt(warm, contact, "r")
        assert decrypt(warm, contact, "r", envelope) == plaintext
        return time.perf_counter_ns() - started

    def warm_encrypt() -> int:
        contact = rng.choice(contacts)
        started = time.perf_counter_ns()
        encrypt(warm, contact, "r")
        return time.perf_counter_ns() - started

    warm_envelopes = {c: encrypt(warm, c, "d") for c in contacts}

    def warm_decrypt() -> int:
        contact = rng.choice(contacts)
        envelope = warm_envelopes[contact]
        started = time.perf_counter_ns()
        decrypt(warm, contact, "d", envelope)
        return time.perf_counter_ns() - started

    def cold(body: Callable[[Session, uuid.UUID], int]) -> Callable[[], int]:
        def run() -> int:
            db = database.sessionmaker()
            try:
                db.connection()  # pool checkout and BEGIN are not the key service's cost
                return body(db, rng.choice(contacts))
            finally:
                db.rollback()
                db.close()

        return run

    def cold_round_trip(db: Session, contact: uuid.UUID) -> int:
        started = time.perf_counter_ns()
        envelope = encrypt(db, contact, "r")
        keys.forget_keys(db)
        assert decrypt(db, contact, "r", envelope) == plaintext
        return time.perf_counter_ns() - started

    def cold_encrypt(db: Session, contact: uuid.UUID) -> int:
        started = time.perf_counter_ns()
        encrypt(db, contact, "r")
        return time.perf_counter_ns() - started

    def cold_decrypt(db: Session, contact: uuid.UUID) -> int:
        envelope = warm_envelopes[contact]
        started = time.perf_counter_ns()
        decrypt(db, contact, "d", envelope)
        return time.perf_counter_ns() - started

    def first_use() -> int:
        contact = uuid.uuid4()
        db = database.sessionmaker()
        try:
            db.connection()
            started = time.perf_counter_ns()
            encrypt(db, contact, "r")
            return time.perf_counter_ns() - started
        finally:
            db.rollback()
            db.close()

    data_key = AESGCM(AESGCM.generate_key(bit_length=256))
    aad = keys._content_aad(
        uuid.uuid4(), TABLE, str(uuid.uuid4()), COLUMN, uuid.uuid4(), uuid.uuid4()
    )

    def raw_gcm() -> int:
        started = time.perf_counter_ns()
        nonce = os.urandom(12)
        data_key.decrypt(nonce, data_key.encrypt(nonce, plaintext, aad), aad)
        return time.perf_counter_ns() - started

    variants: dict[str, Callable[[], int]] = {
        "AES-256-GCM alone, enc+dec": raw_gcm,
        "warm encrypt+decrypt": warm_round_trip,
        "warm encrypt": warm_encrypt,
        "warm decrypt": warm_decrypt,
        "cold encrypt+decrypt": cold(cold_round_trip),
        "cold encrypt": cold(cold_encrypt),
        "cold decrypt": cold(cold_decrypt),
        "first use (new data key)": first_use,
    }
    try:
        samples = measure(
            variants, args.iterations, min(300, args.iterations), args.seed, args.isolated
        )
    finally:
        warm.rollback()
        warm.close()
        with database.transaction() as db:
            db.execute(delete(DataKey).where(DataKey.contact_id.in_(contacts)))
            db.execute(delete(AgencyKey).where(AgencyKey.id.not_in(existing_agency_keys)))
        database.dispose()
        if scratch is not None:
            scratch.cleanup()

    print(
        f"{FIELD_BYTES} B field, {database.engine.dialect.name}, {CONTACTS} contacts, "
        f"{args.iterations} {'back-to-back' if args.isolated else 'interleaved'} iterations "
        "per variant\n"
    )
    print(f"{'variant':30s} {'median us':>10s} {'p95 us':>8s}")
    for name, values in samples.items():
        ordered = sorted(values)
        median = statistics.median(values) / 1000
        print(f"{name:30s} {median:10.1f} {percentile(ordered, 0.95):8.1f}")


class Where(TypedDict):
    contact_id: uuid.UUID
    agency_code: str
    table: str
    row_id: str
    column: str


def where(contact: uuid.UUID, row: str) -> Where:
    """The field's coordinates: one row per contact and label."""
    return Where(
        contact_id=contact,
        agency_code=AGENCY,
        table=TABLE,
        row_id=f"{contact}-{row}",
        column=COLUMN,
    )


if __name__ == "__main__":
    main()
