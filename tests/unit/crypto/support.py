"""Helpers shared by the key hierarchy's tests (unit and functional)."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mash_hub.crypto import keys
from mash_hub.crypto.models import AgencyKey, DataKey
from mash_hub.crypto.sealing import SealError, open_sealed, purpose_key
from mash_hub.db import Database
from mash_hub.identity import services as identity

MASTER = bytes.fromhex("6d6173682d6875622d746573742d6d61737465722d6b65792d30303030303031")
OTHER_MASTER = bytes.fromhex("6d6173682d6875622d746573742d6d61737465722d6b65792d30303030303032")

on_postgres = pytest.mark.skipif(
    not os.environ.get("MASH_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="needs PostgreSQL (MASH_TEST_DATABASE_URL)",
)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def open_key_database(url: str) -> Database:
    """The migrated database at `url`, with the hub's agencies in it."""
    database = Database(url)
    with database.transaction() as db:
        identity.ensure_agencies(db)
    return database


@contextmanager
def rolled_back(database: Database) -> Iterator[Session]:
    """A session whose work is always thrown away."""
    session = database.sessionmaker()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def field(
    contact_id: uuid.UUID | str,
    agency: str = "health",
    table: str = "contributions",
    row_id: uuid.UUID | str | int = "7b0f6a52-54f4-4c1e-9d4e-0a6f5f0c1a11",
    column: str = "body_sealed",
) -> dict[str, object]:
    """The keyword arguments naming one field, for encrypt and decrypt."""
    return {
        "contact_id": contact_id,
        "agency_code": agency,
        "table": table,
        "row_id": row_id,
        "column": column,
    }


def seal_field(db: Session, plaintext: bytes, master: bytes = MASTER, **where: object) -> bytes:
    return keys.encrypt(db, plaintext=plaintext, master=master, **field(**where))


def open_field(db: Session, envelope: bytes, master: bytes = MASTER, **where: object) -> bytes:
    return keys.decrypt(db, envelope=envelope, master=master, **field(**where))


def unwrap_agency_key(row: AgencyKey, master: bytes, as_master_id: str | None = None) -> bytes:
    """Open a wrapped agency key with the cryptography alone (no id checks). Raises
    SealError when `master` does not open it."""
    assert row.wrapped is not None
    wrapping_key = purpose_key(master, keys._AGENCY_WRAP_PURPOSE)
    aad = keys._agency_key_aad(
        row.id, row.agency_id, row.version, as_master_id or row.master_key_id
    )
    return open_sealed(wrapping_key, row.wrapped, aad)


def unwrap_data_key(row: DataKey, agency_key: bytes, agency_key_id: uuid.UUID) -> bytes:
    aad = keys._data_key_aad(row.id, row.contact_id, row.agency_id, agency_key_id)
    return open_sealed(agency_key, row.wrapped, aad)


def opens_any_agency_key(db: Session, master: bytes) -> bool:
    """Whether `master` opens any wrapped agency key in the database, whatever master key
    id the row claims (the id is checked under both the row's and the master's own id)."""
    for row in db.scalars(select(AgencyKey).where(AgencyKey.wrapped.is_not(None))):
        for claimed in (row.master_key_id, keys.master_key_id(master)):
            try:
                unwrap_agency_key(row, master, claimed)
            except SealError:
                continue
            return True
    return False


def key_material(db: Session, master: bytes) -> list[bytes]:
    """Every key in clear that the database's wrapped keys stand for, plus the master key and
    its wrapping key: none of it may ever appear in the database itself."""
    material = [master, purpose_key(master, keys._AGENCY_WRAP_PURPOSE)]
    agency_keys: dict[uuid.UUID, bytes] = {}
    for row in db.scalars(select(AgencyKey).where(AgencyKey.wrapped.is_not(None))):
        agency_keys[row.id] = unwrap_agency_key(row, master)
    material += agency_keys.values()
    for data_key in db.scalars(select(DataKey)):
        material.append(
            unwrap_data_key(data_key, agency_keys[data_key.agency_key_id], data_key.agency_key_id)
        )
    return material


def forms_of(secret: bytes | str) -> list[bytes]:
    """The ways a leak could be spelled in a dump: raw, hex, base64 (and UTF-16 for text)."""
    raw = secret.encode() if isinstance(secret, str) else secret
    forms = [raw, raw.hex().encode(), base64.b64encode(raw)]
    if isinstance(secret, str):
        forms.append(secret.encode("utf-16-le"))
    return forms
