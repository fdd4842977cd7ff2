"""Candidate search in the person register, through the real database query.

    .venv/bin/python benchmarks/bench_person_search.py --database-url URL
        [--sizes 10000,100000,1000000] [--queries 300]

The database is migrated to head and its person tables emptied first (use a scratch
database: e.g. sqlite:////tmp/bench_people.db or
postgresql+psycopg://postgres@127.0.0.1:5432/bench_people). The register grows in stages
to each size; at each size the same kind of workload is timed.

What is built: `persons` rows and their `person_keys` (the blocking keys of
`mash_hub.contacts.matching`, keyed-hashed exactly as `mash_hub.people.services` stores
them), for fictional people from tests/unit/contacts/people_generator.py, bulk-inserted
(executemany on SQLite, COPY on PostgreSQL). To keep a 1,000,000-person load in minutes,
`details_sealed` holds each person's details as AES-256-GCM ciphertext under ONE benchmark
key, not under a data key per person as the hub does: the per-person data-key unwrap (one
more 32-byte AES-GCM open and one indexed row read per candidate) is not measured.

What one search times (median and p95 over the workload, warm caches):
  1. the subject's blocking keys and their HMACs (`people.services.hashed_keys`);
  2. `people.services.find_person_ids`: one indexed query, persons sharing most keys
     first, at most 50;
  3. one query loading those persons' rows;
  4. opening each one's ciphertext (AES-256-GCM) and scoring it (`matching.score`).
The workload: variants of registered people (typos, nicknames, swapped day and month,
moves, NHS number dropped; from the generator) and people not in the register, 4:1.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.unit.contacts.people_generator

from sqlalchemy import delete, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from mash_hub.contacts import matching  # noqa: E402
from mash_hub.db import make_engine, upgrade  # noqa: E402
from mash_hub.people import services  # noqa: E402
from mash_hub.people.models import Person, PersonCandidate, PersonKey, PersonMerge  # noqa: E402
from tests.unit.contacts.people_generator import PeopleGenerator  # noqa: E402

NAMESPACE = uuid.UUID("5b0f7c1e-1d1e-4a43-9b7e-0c3c2a5e9d10")
HASH_KEY = b"benchmark hash key, not a secret"  # 32 bytes, stands for the derived key
CIPHER = AESGCM(b"benchmark data key, not a secret")
CHUNK = 20_000


def person_uuid(generator_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, generator_id)


def document(person: matching.PersonRecord) -> bytes:
    return json.dumps(
        {
            "given_name": person.given_name,
            "family_name": person.family_name,
            "date_of_birth": person.date_of_birth.isoformat() if person.date_of_birth else None,
            "address": f"{person.address or ''} {person.postcode or ''}".strip() or None,
            "nhs_number": person.nhs_number,
            "upn": None,
        }
    ).encode()


def seal(person_id: uuid.UUID, plain: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + CIPHER.encrypt(nonce, plain, person_id.bytes)


def unseal(person_id: uuid.UUID, sealed: bytes) -> bytes:
    return CIPHER.decrypt(sealed[:12], sealed[12:], person_id.bytes)


def as_subject(person: matching.PersonRecord) -> matching.PersonRecord:
    """The record as the hub sees a subject: postcode inside the address line."""
    address = f"{person.address or ''} {person.postcode or ''}".strip() or None
    return services.person_record(
        person.id,
        person.given_name,
        person.family_name,
        person.date_of_birth,
        address,
        person.nhs_number,
    )


def rows_for(people: Sequence[matching.PersonRecord]) -> tuple[list[tuple], list[tuple]]:
    now = datetime.now(UTC)
    persons, keys = [], []
    for person in people:
        pid = person_uuid(person.id)
        persons.append((pid, seal(pid, document(person)), now))
        keys.extend((k, pid) for k in services.hashed_keys(as_subject(person), HASH_KEY))
    return persons, keys


def load(db: Session, dialect: str, persons: list[tuple], keys: list[tuple]) -> None:
    if dialect == "postgresql":
        raw = db.connection().connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            with cursor.copy(
                "COPY persons (id, details_sealed, created_at, created_by) FROM STDIN"
            ) as copy:
                for pid, sealed, now in persons:
                    copy.write_row((pid, sealed, now, "bench"))
            with cursor.copy("COPY person_keys (key, person_id) FROM STDIN") as copy:
                for key, pid in keys:
                    copy.write_row((key, pid))
    else:
        db.execute(
            Person.__table__.insert(),
            [
                {"id": p, "details_sealed": s, "created_at": n, "created_by": "bench"}
                for p, s, n in persons
            ],
        )
        db.execute(PersonKey.__table__.insert(), [{"key": k, "person_id": p} for k, p in keys])


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def search(db: Session, subject: matching.PersonRecord) -> list[tuple[uuid.UUID, float]]:
    found = services.find_person_ids(db, subject, hash_key=HASH_KEY)
    if not found:
        return []
    rows = db.execute(select(Person.id, Person.details_sealed).where(Person.id.in_(found))).all()
    kept = []
    for pid, sealed in rows:
        details = services.PersonDetails.from_document(str(pid), json.loads(unseal(pid, sealed)))
        result = matching.score(details.record(), subject)
        if result.value >= matching.DEFAULT_THRESHOLD:
            kept.append((pid, result.value))
    kept.sort(key=lambda pair: -pair[1])
    return kept


def stages(sizes: Sequence[int]) -> Iterator[tuple[int, int]]:
    done = 0
    for size in sizes:
        yield done, size
        done = size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    engine = make_engine(args.database_url)
    upgrade(engine)
    dialect = engine.dialect.name
    with Session(engine) as db, db.begin():
        for model in (PersonCandidate, PersonMerge, PersonKey):
            db.execute(delete(model))
        db.execute(text("UPDATE contact_subjects SET person_id = NULL"))
        db.execute(delete(Person))

    gen = PeopleGenerator(seed=args.seed)
    rng = random.Random(args.seed + 1)  # noqa: S311 - picks test queries, nothing secret
    sample: list[matching.PersonRecord] = []  # registered people to re-find
    print(f"{dialect}: {args.database_url.split('@')[-1]}")
    for start, size in stages(sizes):
        began = time.perf_counter()
        made = start
        while made < size:
            batch = gen.people(min(CHUNK, size - made))
            persons, keys = rows_for(batch)
            with Session(engine) as db, db.begin():
                load(db, dialect, persons, keys)
            # Reservoir sample of the registered people, so queries spread over all sizes.
            for person in batch:
                made += 1
                if len(sample) < args.queries:
                    sample.append(person)
                elif rng.random() < args.queries / made:
                    sample[rng.randrange(args.queries)] = person
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        loaded = time.perf_counter() - began
        with Session(engine) as db:
            key_rows = db.scalar(select(text("count(*)")).select_from(PersonKey.__table__))

        workload: list[tuple[matching.PersonRecord, uuid.UUID | None]] = [
            (as_subject(gen.variant(p).record), person_uuid(p.id)) for p in sample
        ]
        workload += [(as_subject(p), None) for p in gen.people(len(sample) // 4)]
        rng.shuffle(workload)

        timings: list[float] = []
        found_truth = with_truth = 0
        with Session(engine) as db:
            for subject, _truth in workload[:20]:  # warm the connection and caches
                search(db, subject)
            gc.collect()
            gc.disable()
            try:
                for subject, truth in workload:
                    begin = time.perf_counter_ns()
                    kept = search(db, subject)
                    timings.append((time.perf_counter_ns() - begin) / 1e6)
                    if truth is not None:
                        with_truth += 1
                        found_truth += any(pid == truth for pid, _ in kept)
            finally:
                gc.enable()
        print(
            f"{size:>9,} persons ({key_rows:,} key rows, loaded +{size - start:,} in "
            f"{loaded:.0f} s): search median {statistics.median(timings):.2f} ms, "
            f"p95 {percentile(timings, 0.95):.2f} ms, max {max(timings):.2f} ms "
            f"({len(timings)} searches); true person among candidates "
            f"{found_truth}/{with_truth}",
            flush=True,
        )
    engine.dispose()


if __name__ == "__main__":
    main()
