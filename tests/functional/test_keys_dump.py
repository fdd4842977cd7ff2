"""A stolen database holds no case content and no key in clear (security promise P10).

Canary strings are encrypted into a table beside the key tables; the whole database is
then read as an attacker would (the SQLite file and its journal, or every row of every
table on PostgreSQL) and searched for each canary and each key, in several spellings. A
control canary stored in clear proves the search would find a leak.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import Column, LargeBinary, MetaData, String, Table, Uuid, insert, select, text

from mash_hub.crypto import keys
from mash_hub.db import Base, make_engine, upgrade
from tests.unit.crypto.support import (
    MASTER,
    forms_of,
    key_material,
    on_postgres,
    open_key_database,
    seal_field,
)

CANARIES = {
    "health": "CANARY-7f3e91 health visitor saw bruising on Amelia-Rose Pennywhistle",
    "education": "CANARY-2b8c44 school reports Jaxon Thistlewood absent 23 days",
    "police": "CANARY-c01d5a domestic abuse call-out at 14 Larkspur Close, DN4 7QX",
    "csc": "CANARY-9e6f02 NHS 943 476 5919 disclosed by mother",
}
CONTROL = "CONTROL-6a1b0c stored in clear on purpose"
CONTACTS = [uuid.UUID(int=1000 + n) for n in range(3)]


def _field_store(metadata: MetaData, temporary: bool = False) -> Table:
    return Table(
        "crypto_dump_probe",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("contact_id", Uuid),
        Column("agency", String(16)),
        Column("body", LargeBinary),
        Column("control", String(100)),
        prefixes=["TEMPORARY"] if temporary else [],
    )


def _fill(db, store: Table) -> dict[uuid.UUID, tuple[uuid.UUID, str]]:
    rows = {}
    for contact in CONTACTS:
        for agency, canary in CANARIES.items():
            row_id = uuid.uuid4()
            envelope = seal_field(
                db,
                canary.encode(),
                contact_id=contact,
                agency=agency,
                table="crypto_dump_probe",
                row_id=row_id,
                column="body",
            )
            db.execute(
                insert(store).values(
                    id=row_id, contact_id=contact, agency=agency, body=envelope, control=CONTROL
                )
            )
            rows[row_id] = (contact, agency)
    return rows


def _assert_no_leak(dump: bytes, material: list[bytes]) -> None:
    assert CONTROL.encode() in dump, "the dump search cannot see stored values"
    for canary in CANARIES.values():
        for form in forms_of(canary):
            assert form not in dump, f"canary {canary[:13]} found in the dump"
    for secret in material:
        for form in forms_of(secret):
            assert form not in dump, "key material in clear found in the dump"


def _assert_content_still_opens(db, store: Table, rows) -> None:
    for row in db.execute(select(store)):
        contact, agency = rows[row.id]
        opened = keys.decrypt(
            db,
            contact_id=contact,
            agency_code=agency,
            table="crypto_dump_probe",
            row_id=row.id,
            column="body",
            envelope=row.body,
            master=MASTER,
        )
        assert opened == CANARIES[agency].encode()


def test_sqlite_database_file_holds_no_canary_and_no_key(tmp_path: Path):
    path = tmp_path / "stolen.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    metadata = MetaData()
    store = _field_store(metadata)
    metadata.create_all(engine)
    engine.dispose()
    database = open_key_database(f"sqlite:///{path}")
    try:
        with database.transaction() as db:
            rows = _fill(db, store)
        with database.transaction() as db:
            _assert_content_still_opens(db, store, rows)
            material = key_material(db, MASTER)
        assert len(material) == 2 + len(CANARIES) + len(CANARIES) * len(CONTACTS)
    finally:
        database.dispose()
    # Whatever is on disk: the database file and any write-ahead log or journal beside it.
    dump = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("stolen.db*")))
    _assert_no_leak(dump, material)


def _every_row_as_bytes(db, tables: list[Table]) -> bytes:
    chunks: list[bytes] = []
    for table in tables:
        for row in db.execute(select(table)):
            for value in row:
                if isinstance(value, bytes | bytearray | memoryview):
                    chunks.append(bytes(value))
                elif value is not None:
                    chunks.append(str(value).encode())
    return b"\x00".join(chunks)


@on_postgres
@pytest.mark.postgres
def test_postgresql_rows_hold_no_canary_and_no_key(clean_database):
    database = open_key_database(clean_database)
    metadata = MetaData()
    store = _field_store(metadata, temporary=True)
    try:
        # A temporary table lives in this one connection, so one transaction does it all.
        with database.transaction() as db:
            store.create(db.connection())
            rows = _fill(db, store)
            db.flush()
            keys.forget_keys(db)
            _assert_content_still_opens(db, store, rows)
            material = key_material(db, MASTER)
            tables = [t for t in Base.metadata.sorted_tables if _exists(db, t.name)]
            assert {"agency_keys", "data_keys"} <= {t.name for t in tables}
            dump = _every_row_as_bytes(db, [*tables, store])
            store.drop(db.connection())
    finally:
        database.dispose()
    _assert_no_leak(dump, material)


def _exists(db, name: str) -> bool:
    return bool(db.scalar(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name}))
