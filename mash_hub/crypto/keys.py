"""The key hierarchy: envelope encryption of case content, rotation and crypto-shredding.

    master key (32 bytes; environment or key file, never the database)
      -> agency key: AES-256, one active version per agency, wrapped under the master
         key's wrapping key (HKDF of the master key, purpose "agency-key-wrap")
           -> data key: AES-256, one per (contact, agency), wrapped under the agency key
                -> content envelope: AES-256-GCM with a fresh 96-bit nonce

Every wrap is AES-256-GCM with a random 96-bit nonce (the format of
`mash_hub.crypto.sealing`), not RFC 3394 key wrap: GCM takes associated data, and the
associated data binds each wrapped key to its row (key id, agency, version, contact,
parent key id), so a wrapped key copied to another row, agency or contact fails to open.

Content envelope, version 1 (45 bytes of overhead):

    offset  size  field
    0       1     version (0x01)
    1       16    data key id (UUID bytes)
    17      12    nonce
    29      n+16  AES-256-GCM ciphertext and tag

Its associated data is the version and data key id from the header plus the table, row id,
column, agency id and contact id, each length-prefixed, so an envelope moved to another
row, column, table, agency or contact does not decrypt.

Services add and flush into the session they are given and never commit. Unwrapped keys
are cached in `Session.info` for the current transaction only: the cache is dropped when
the transaction (or a savepoint) ends, so a rolled-back key creation is never reused and a
shred or rotation committed elsewhere takes effect at the next unit of work.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import has_app_context
from sqlalchemy import (
    Executable,
    String,
    Uuid,
    bindparam,
    column,
    delete,
    event,
    func,
    select,
    table,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction

from mash_hub import runtime
from mash_hub.crypto import resealing
from mash_hub.crypto.models import AgencyKey, DataKey
from mash_hub.crypto.sealing import SealError, open_sealed, purpose_key, seal
from mash_hub.db import new_id

ENVELOPE_VERSION: Final = 1
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
_KEY_ID_BYTES: Final = 16
_HEADER_BYTES: Final = 1 + _KEY_ID_BYTES + NONCE_BYTES
ENVELOPE_OVERHEAD: Final = _HEADER_BYTES + TAG_BYTES

# HKDF purposes of keys derived from the master key.
_AGENCY_WRAP_PURPOSE: Final = "mash-hub/agency-key-wrap"
_MASTER_ID_PURPOSE: Final = "mash-hub/master-key-id"

_CONTENT_LABEL: Final = b"mash-hub/content/v1"
_AGENCY_KEY_LABEL: Final = b"mash-hub/agency-key/v1"
_DATA_KEY_LABEL: Final = b"mash-hub/data-key/v1"

_CACHE_INFO_KEY: Final = "mash_hub.crypto.keys.cache"
_CANONICAL_UUID_TEXT: Final = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")
_UUID_TEXT: Final = re.compile(r"[0-9a-f]{8}(-?[0-9a-f]{4}){3}-?[0-9a-f]{12}", re.IGNORECASE)

# The agencies table, owned by identity (which builds on crypto): only its id and code.
_AGENCIES: Final = table("agencies", column("id", Uuid()), column("code", String()))

# Statements on the lookup path, built once (building one costs more than running it).
_AGENCY_ID_BY_CODE: Final = select(_AGENCIES.c.id).where(_AGENCIES.c.code == bindparam("code"))
# Data key and agency key in one statement, so a rotation committing in between cannot
# pair a data key with an agency key version it is not wrapped under. Columns, not
# entities, run on the session's connection: a third of the cost of an ORM load.
_KEYS: Final = select(
    DataKey.id,
    DataKey.contact_id,
    DataKey.agency_id,
    DataKey.wrapped,
    AgencyKey.id.label("agency_key_id"),
    AgencyKey.agency_id.label("agency_key_agency_id"),
    AgencyKey.version,
    AgencyKey.wrapped.label("agency_key_wrapped"),
    AgencyKey.master_key_id,
    AgencyKey.retired_at,
).join_from(DataKey, AgencyKey, AgencyKey.id == DataKey.agency_key_id)
_KEYS_BY_OWNER: Final = _KEYS.where(
    DataKey.contact_id == bindparam("contact_id"), DataKey.agency_id == bindparam("agency_id")
)
_KEYS_BY_DATA_KEY_ID: Final = _KEYS.where(DataKey.id == bindparam("data_key_id"))
_AGENCY_IDS: Final = select(_AGENCIES.c.code, _AGENCIES.c.id)


class CryptoError(Exception):
    """Base of the key service's errors. Messages carry ids only, never content or keys."""


class DecryptionError(CryptoError):
    """Content could not be decrypted: wrong row, agency or contact, altered bytes, a
    missing (shredded) or destroyed key, or the wrong master key. Never partial data."""


class EncryptionError(CryptoError):
    """Content could not be encrypted: unknown agency, or keys this master cannot open."""


class KeyRotationError(CryptoError):
    """A rotation could not be carried out; nothing was changed (the caller rolls back)."""


@dataclass(frozen=True)
class MasterRotation:
    """What a master key rotation re-wrapped."""

    agency_keys: int
    totp_secrets: int
    old_master_key_id: str
    new_master_key_id: str


def master_key_mismatch(db: Session, master: bytes) -> str | None:
    """Why this master key cannot open the hub's agency keys, or None if it can (or there
    are none yet). Checked at start-up: a well-formed but wrong key otherwise starts a hub
    that answers every data call with an error (fault review, finding 6)."""
    held = master_key_id(master)
    wrapped_under = set(
        db.scalars(
            select(AgencyKey.master_key_id)
            .where(AgencyKey.retired_at.is_(None), AgencyKey.wrapped.is_not(None))
            .distinct()
        )
    )
    if not wrapped_under or held in wrapped_under:
        return None
    return (
        f"this master key (id {held}) is not the one the agency keys are wrapped under "
        f"(id {', '.join(sorted(wrapped_under))})"
    )


# ------------------------------------------------------------------------------ key ids


def master_key_id(master: bytes) -> str:
    """A 16-hex-digit id for a master key: SHA-256 of an HKDF-derived fingerprint.

    The fingerprint is a separate derivation, so the id reveals nothing about the key or
    about the wrapping key derived from it.
    """
    fingerprint = purpose_key(_check_master(master), _MASTER_ID_PURPOSE)
    return hashlib.sha256(fingerprint).hexdigest()[:16]


def _check_master(master: bytes) -> bytes:
    if not isinstance(master, bytes) or len(master) != KEY_BYTES:
        raise ValueError("the master key must be 32 bytes")
    return master


def _master(master: bytes | None) -> bytes:
    return _check_master(runtime.master_key() if master is None else master)


def _now() -> datetime:
    return runtime.now() if has_app_context() else datetime.now(UTC)


# ------------------------------------------------------------------- associated data


def _aad(label: bytes, *parts: bytes) -> bytes:
    """Unambiguous associated data: a label, then each part prefixed with its length."""
    return label + b"".join(len(part).to_bytes(4, "big") + part for part in parts)


def _content_aad(
    data_key_id: uuid.UUID,
    table: str,
    row: str,
    column: str,
    agency_id: uuid.UUID,
    contact_id: uuid.UUID,
) -> bytes:
    return _aad(
        _CONTENT_LABEL,
        bytes([ENVELOPE_VERSION]),
        data_key_id.bytes,
        table.encode(),
        row.encode(),
        column.encode(),
        agency_id.bytes,
        contact_id.bytes,
    )


def _agency_key_aad(
    key_id: uuid.UUID, agency_id: uuid.UUID, version: int, wrapped_by: str
) -> bytes:
    return _aad(
        _AGENCY_KEY_LABEL,
        key_id.bytes,
        agency_id.bytes,
        version.to_bytes(4, "big"),
        wrapped_by.encode(),
    )


def _data_key_aad(
    key_id: uuid.UUID, contact_id: uuid.UUID, agency_id: uuid.UUID, agency_key_id: uuid.UUID
) -> bytes:
    return _aad(
        _DATA_KEY_LABEL, key_id.bytes, contact_id.bytes, agency_id.bytes, agency_key_id.bytes
    )


# --------------------------------------------------------------------- argument forms


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _row_text(row_id: uuid.UUID | str | int) -> str:
    """The row id as bound into associated data: a UUID, given either way, in one form."""
    if isinstance(row_id, uuid.UUID):
        return str(row_id)
    if isinstance(row_id, bool):
        raise TypeError("a row id is a UUID, a string or an integer")
    if isinstance(row_id, int):
        return str(row_id)
    if not isinstance(row_id, str) or not row_id:
        raise TypeError("a row id is a UUID, a string or an integer")
    if _CANONICAL_UUID_TEXT.fullmatch(row_id):
        return row_id
    if _UUID_TEXT.fullmatch(row_id):
        return str(uuid.UUID(row_id))  # one spelling, whether given as text or as a UUID
    return row_id


def _name(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{what} must be a non-empty string")
    return value


# ------------------------------------------------------------------------- key rows


class _AgencyKeyFields(Protocol):
    """An agency key row: the ORM object, or the columns read on the lookup path."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def agency_id(self) -> uuid.UUID: ...
    @property
    def version(self) -> int: ...
    @property
    def wrapped(self) -> bytes | None: ...
    @property
    def master_key_id(self) -> str: ...
    @property
    def retired_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class _AgencyKeyRow:
    id: uuid.UUID
    agency_id: uuid.UUID
    version: int
    wrapped: bytes | None
    master_key_id: str
    retired_at: datetime | None


@dataclass(frozen=True)
class _DataKeyRow:
    id: uuid.UUID
    contact_id: uuid.UUID
    agency_id: uuid.UUID
    wrapped: bytes


# ---------------------------------------------------------------- per-session key cache


@dataclass(frozen=True)
class _DataKeyEntry:
    id: uuid.UUID
    contact_id: uuid.UUID
    agency_id: uuid.UUID
    aead: AESGCM


@dataclass
class _KeyCache:
    """Unwrapped keys for one master key, for the life of one transaction."""

    master_key_id: str
    wrapping_key: bytes
    agencies: dict[str, uuid.UUID] = field(default_factory=dict)
    agency_keys: dict[uuid.UUID, bytes] = field(default_factory=dict)
    data_keys: dict[uuid.UUID, _DataKeyEntry] = field(default_factory=dict)
    by_owner: dict[tuple[uuid.UUID, uuid.UUID], _DataKeyEntry] = field(default_factory=dict)
    # Rows read ahead by `preload_contacts`, still wrapped: unwrapped only when used.
    read_ahead: dict[uuid.UUID, tuple[_DataKeyRow, _AgencyKeyRow]] = field(default_factory=dict)
    agencies_read: bool = False  # every agency's id is in `agencies`


def _cache(db: Session, master: bytes) -> _KeyCache:
    caches: dict[bytes, _KeyCache] | None = db.info.get(_CACHE_INFO_KEY)
    if caches is None:
        caches = {}
        db.info[_CACHE_INFO_KEY] = caches
    cache = caches.get(master)
    if cache is None:
        cache = _KeyCache(master_key_id(master), purpose_key(master, _AGENCY_WRAP_PURPOSE))
        caches[master] = cache
    return cache


@event.listens_for(Session, "after_transaction_end")
def _drop_cache_at_end(session: Session, transaction: SessionTransaction) -> None:
    """Every session's cache ends with its transaction, or with a savepoint (which, rolled
    back, may take a newly made key with it); not with the subtransactions of a flush."""
    if _CACHE_INFO_KEY in session.info and (transaction.parent is None or transaction.nested):
        forget_keys(session)


def forget_keys(db: Session) -> None:
    """Drop every unwrapped key cached on this session (done at each transaction end)."""
    db.info.pop(_CACHE_INFO_KEY, None)


# ------------------------------------------------------------------------ lookups


def _agency_id(db: Session, cache: _KeyCache, agency_code: str) -> uuid.UUID | None:
    found = cache.agencies.get(agency_code)
    if found is None:
        found = db.connection().execute(_AGENCY_ID_BY_CODE, {"code": agency_code}).scalar()
        if found is not None:
            cache.agencies[agency_code] = found
    return found


def active_agency_key(db: Session, agency_code: str) -> AgencyKey | None:
    """The agency's active key version (wrapped), or None if it has none yet."""
    return db.scalar(
        select(AgencyKey)
        .join(_AGENCIES, _AGENCIES.c.id == AgencyKey.agency_id)
        .where(_AGENCIES.c.code == agency_code, AgencyKey.retired_at.is_(None))
    )


def _insert_ignoring_conflict(db: Session, entity: type[Any], values: dict[str, Any]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: when two units of work create the same key at once,
    the second keeps the first's (after waiting for it on PostgreSQL). No savepoint: pysqlite
    would commit the outer transaction when one is released."""
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        db.execute(postgresql.insert(entity).values(**values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        db.execute(sqlite.insert(entity).values(**values).on_conflict_do_nothing())
    else:  # pragma: no cover - the hub runs on these two
        raise NotImplementedError(f"no key store for the {dialect} dialect")


def _select_active_agency_key(db: Session, agency_id: uuid.UUID) -> AgencyKey | None:
    # FOR SHARE (PostgreSQL): a rotation of this agency's key waits for us to commit, and
    # we wait for it, so no data key is ever wrapped under a version being destroyed.
    return db.scalar(
        select(AgencyKey)
        .where(AgencyKey.agency_id == agency_id, AgencyKey.retired_at.is_(None))
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    )


def _active_agency_key_for_writing(
    db: Session, cache: _KeyCache, agency_id: uuid.UUID
) -> tuple[AgencyKey, bytes]:
    key = _select_active_agency_key(db, agency_id)
    if key is None:
        _create_agency_key(db, cache, agency_id)
        key = _select_active_agency_key(db, agency_id)
        if key is None:  # pragma: no cover - the insert or a concurrent one made it
            raise EncryptionError(f"no active key for agency {agency_id}")
    try:
        return key, _unwrap_agency_key(cache, key)
    except DecryptionError as err:
        raise EncryptionError(str(err)) from err


def _next_version(db: Session, agency_id: uuid.UUID) -> int:
    highest = db.scalar(select(func.max(AgencyKey.version)).where(AgencyKey.agency_id == agency_id))
    return (highest or 0) + 1


def _create_agency_key(db: Session, cache: _KeyCache, agency_id: uuid.UUID) -> uuid.UUID:
    """Add the agency's next key version, unless a concurrent unit of work just did."""
    key_id = new_id()
    version = _next_version(db, agency_id)
    wrapped = seal(
        cache.wrapping_key,
        AESGCM.generate_key(bit_length=256),
        _agency_key_aad(key_id, agency_id, version, cache.master_key_id),
    )
    _insert_ignoring_conflict(
        db,
        AgencyKey,
        {
            "id": key_id,
            "agency_id": agency_id,
            "version": version,
            "wrapped": wrapped,
            "master_key_id": cache.master_key_id,
            "created_at": _now(),
        },
    )
    return key_id


def _unwrap_agency_key(cache: _KeyCache, key: _AgencyKeyFields) -> bytes:
    known = cache.agency_keys.get(key.id)
    if known is not None:
        return known
    if key.wrapped is None or key.retired_at is not None:
        raise DecryptionError(f"agency key {key.id} (version {key.version}) is retired")
    if key.master_key_id != cache.master_key_id:
        raise DecryptionError(
            f"agency key {key.id} is wrapped under master key {key.master_key_id}, but this "
            f"process holds master key {cache.master_key_id}"
        )
    try:
        raw = open_sealed(
            cache.wrapping_key,
            key.wrapped,
            _agency_key_aad(key.id, key.agency_id, key.version, key.master_key_id),
        )
    except SealError as err:
        raise DecryptionError(f"agency key {key.id} failed authentication") from err
    cache.agency_keys[key.id] = raw
    return raw


def _unwrap_data_key(
    cache: _KeyCache, data_key: _DataKeyRow, agency_key: _AgencyKeyFields
) -> _DataKeyEntry:
    if agency_key.agency_id != data_key.agency_id:
        raise DecryptionError(f"data key {data_key.id} names another agency's key")
    agency_raw = _unwrap_agency_key(cache, agency_key)
    try:
        raw = open_sealed(
            agency_raw,
            data_key.wrapped,
            _data_key_aad(data_key.id, data_key.contact_id, data_key.agency_id, agency_key.id),
        )
    except SealError as err:
        raise DecryptionError(f"data key {data_key.id} failed authentication") from err
    entry = _DataKeyEntry(data_key.id, data_key.contact_id, data_key.agency_id, AESGCM(raw))
    cache.data_keys[entry.id] = entry
    cache.by_owner[(entry.contact_id, entry.agency_id)] = entry
    return entry


def _data_key_rows(
    db: Session, statement: Executable, **params: uuid.UUID
) -> tuple[_DataKeyRow, _AgencyKeyRow] | None:
    row = db.connection().execute(statement, params).one_or_none()
    if row is None:
        return None
    return _key_pair(row)


def _key_pair(row: Any) -> tuple[_DataKeyRow, _AgencyKeyRow]:
    data_key = _DataKeyRow(row.id, row.contact_id, row.agency_id, bytes(row.wrapped))
    wrapped = None if row.agency_key_wrapped is None else bytes(row.agency_key_wrapped)
    agency_key = _AgencyKeyRow(
        row.agency_key_id,
        row.agency_key_agency_id,
        row.version,
        wrapped,
        row.master_key_id,
        row.retired_at,
    )
    return data_key, agency_key


def _data_key_for_writing(
    db: Session, cache: _KeyCache, contact_id: uuid.UUID, agency_id: uuid.UUID
) -> _DataKeyEntry:
    owner = {"contact_id": contact_id, "agency_id": agency_id}
    rows = _data_key_rows(db, _KEYS_BY_OWNER, **owner)
    if rows is None:
        agency_key, agency_raw = _active_agency_key_for_writing(db, cache, agency_id)
        key_id = new_id()
        wrapped = seal(
            agency_raw,
            AESGCM.generate_key(bit_length=256),
            _data_key_aad(key_id, contact_id, agency_id, agency_key.id),
        )
        _insert_ignoring_conflict(
            db,
            DataKey,
            {
                "id": key_id,
                "contact_id": contact_id,
                "agency_id": agency_id,
                "agency_key_id": agency_key.id,
                "wrapped": wrapped,
                "created_at": _now(),
            },
        )
        rows = _data_key_rows(db, _KEYS_BY_OWNER, **owner)
        if rows is None:  # pragma: no cover - the insert or a concurrent one made it
            raise EncryptionError(f"no data key for contact {contact_id}")
    try:
        return _unwrap_data_key(cache, *rows)
    except DecryptionError as err:
        raise EncryptionError(str(err)) from err


# ------------------------------------------------------------------------- the service


def encrypt(
    db: Session,
    *,
    contact_id: uuid.UUID | str,
    agency_code: str,
    table: str,
    row_id: uuid.UUID | str | int,
    column: str,
    plaintext: bytes,
    master: bytes | None = None,
) -> bytes:
    """Encrypt one field under the (contact, agency) data key; return its envelope.

    The agency key and the data key are created on first use (added to `db`, not
    committed). `master` defaults to the current app's master key.
    """
    if not isinstance(plaintext, bytes):
        raise TypeError("plaintext must be bytes")
    table, column, row = _name(table, "table"), _name(column, "column"), _row_text(row_id)
    contact = _uuid(contact_id)
    cache = _cache(db, _master(master))
    agency_id = _agency_id(db, cache, agency_code)
    if agency_id is None:
        raise EncryptionError(f"unknown agency {agency_code!r}")
    entry = cache.by_owner.get((contact, agency_id))
    if entry is None:
        entry = _data_key_for_writing(db, cache, contact, agency_id)
    nonce = os.urandom(NONCE_BYTES)
    header = bytes([ENVELOPE_VERSION]) + entry.id.bytes + nonce
    aad = _content_aad(entry.id, table, row, column, agency_id, contact)
    return header + entry.aead.encrypt(nonce, plaintext, aad)


def decrypt(
    db: Session,
    *,
    contact_id: uuid.UUID | str,
    agency_code: str,
    table: str,
    row_id: uuid.UUID | str | int,
    column: str,
    envelope: bytes,
    master: bytes | None = None,
) -> bytes:
    """The plaintext of an envelope made by `encrypt` for exactly this field, or
    DecryptionError. `master` defaults to the current app's master key."""
    try:
        table, column, row = _name(table, "table"), _name(column, "column"), _row_text(row_id)
        contact = _uuid(contact_id)
        master = _master(master)
    except (TypeError, ValueError) as err:
        raise DecryptionError(f"bad arguments: {err}") from err
    if isinstance(envelope, bytearray | memoryview):
        envelope = bytes(envelope)
    if not isinstance(envelope, bytes) or len(envelope) < ENVELOPE_OVERHEAD:
        raise DecryptionError("not an envelope: too short")
    if envelope[0] != ENVELOPE_VERSION:
        raise DecryptionError(f"unknown envelope version {envelope[0]}")
    key_id = uuid.UUID(bytes=envelope[1 : 1 + _KEY_ID_BYTES])
    cache = _cache(db, master)
    agency_id = _agency_id(db, cache, agency_code)
    if agency_id is None:
        raise DecryptionError(f"unknown agency {agency_code!r}")
    entry = cache.data_keys.get(key_id)
    if entry is None:
        rows = cache.read_ahead.pop(key_id, None) or _data_key_rows(
            db, _KEYS_BY_DATA_KEY_ID, data_key_id=key_id
        )
        if rows is None:
            raise DecryptionError(f"no data key {key_id}: never made, or shredded")
        entry = _unwrap_data_key(cache, *rows)
    if entry.contact_id != contact or entry.agency_id != agency_id:
        raise DecryptionError(f"data key {key_id} belongs to another contact or agency")
    nonce = envelope[1 + _KEY_ID_BYTES : _HEADER_BYTES]
    aad = _content_aad(key_id, table, row, column, agency_id, contact)
    try:
        return entry.aead.decrypt(nonce, envelope[_HEADER_BYTES:], aad)
    except InvalidTag as err:
        raise DecryptionError(
            f"envelope under data key {key_id} failed authentication for {table}.{column}"
        ) from err


def preload_contacts(
    db: Session, contact_ids: Iterable[uuid.UUID | str], master: bytes | None = None
) -> None:
    """Read ahead, for this transaction, every agency's id and every data key of some
    contacts (or register persons) in two statements: a page then opens fields sealed for
    several agencies (the contact's, each asked agency's) or persons without looking each
    key up on its own. Nothing is unwrapped here; `decrypt` unwraps a key only when a
    field needs it."""
    owners = {_uuid(contact_id) for contact_id in contact_ids}
    if not owners:
        return
    cache = _cache(db, _master(master))
    connection = db.connection()
    if not cache.agencies_read:
        for code, agency_id in connection.execute(_AGENCY_IDS):
            cache.agencies.setdefault(code, agency_id)
        cache.agencies_read = True
    for row in connection.execute(_KEYS.where(DataKey.contact_id.in_(owners))):
        if row.id not in cache.data_keys:
            cache.read_ahead[row.id] = _key_pair(row)


def shred_contact(db: Session, contact_id: uuid.UUID | str) -> int:
    """Delete every data key of the contact (crypto-shredding): all content encrypted for
    it, in any table and for any agency, becomes unrecoverable once this commits.
    Returns the number of data keys deleted."""
    contact = _uuid(contact_id)
    deleted = db.scalars(
        delete(DataKey).where(DataKey.contact_id == contact).returning(DataKey.id)
    ).all()
    forget_keys(db)
    return len(deleted)


def rotate_master_detailed(db: Session, old_master: bytes, new_master: bytes) -> MasterRotation:
    """Re-wrap every agency key, and re-seal every TOTP secret, under `new_master`.

    Content and data keys are untouched. Agency keys already under the new master (a
    re-run) are left alone; one under neither key stops the rotation with
    KeyRotationError. Afterwards the old master key opens nothing in the database.
    """
    old_master, new_master = _check_master(old_master), _check_master(new_master)
    if old_master == new_master:
        raise KeyRotationError("the new master key is the current one")
    forget_keys(db)
    old, new = _cache(db, old_master), _cache(db, new_master)
    keys = db.scalars(
        select(AgencyKey)
        .where(AgencyKey.wrapped.is_not(None))
        .order_by(AgencyKey.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    agency_keys = 0
    for key in keys:
        if key.master_key_id == new.master_key_id:
            continue
        try:
            raw = _unwrap_agency_key(old, key)
        except DecryptionError as err:
            raise KeyRotationError(
                f"agency key {key.id} cannot be opened with the current master key: {err}"
            ) from err
        key.wrapped = seal(
            new.wrapping_key,
            raw,
            _agency_key_aad(key.id, key.agency_id, key.version, new.master_key_id),
        )
        key.master_key_id = new.master_key_id
        agency_keys += 1
    try:
        totp_secrets = resealing.reseal_all(db, old_master, new_master)
    except resealing.ResealError as err:
        raise KeyRotationError(str(err)) from err
    db.flush()
    forget_keys(db)
    return MasterRotation(agency_keys, totp_secrets, old.master_key_id, new.master_key_id)


def rotate_master(db: Session, old_master: bytes, new_master: bytes) -> int:
    """Re-wrap every agency key under `new_master` (and re-seal TOTP secrets); returns the
    number of agency keys re-wrapped. See `rotate_master_detailed`."""
    return rotate_master_detailed(db, old_master, new_master).agency_keys


def rotate_agency(db: Session, agency_code: str, master: bytes) -> int:
    """Give the agency a new key version, re-wrap its data keys under it, and retire the old
    version, destroying its wrapped material. Content is not re-encrypted. Returns the
    number of data keys re-wrapped (an agency without a key just gets its first one)."""
    master = _check_master(master)
    forget_keys(db)
    cache = _cache(db, master)
    agency_id = _agency_id(db, cache, agency_code)
    if agency_id is None:
        raise KeyRotationError(f"unknown agency {agency_code!r}")
    current = db.scalar(
        select(AgencyKey)
        .where(AgencyKey.agency_id == agency_id, AgencyKey.retired_at.is_(None))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if current is None:
        created = _create_agency_key(db, cache, agency_id)
        first = _select_active_agency_key(db, agency_id)
        forget_keys(db)
        if first is None or first.id != created:
            raise KeyRotationError(
                f"agency {agency_code!r} changed keys during the rotation: run it again"
            )
        return 0
    try:
        old_raw = _unwrap_agency_key(cache, current)
    except DecryptionError as err:
        raise KeyRotationError(str(err)) from err
    now = _now()
    version = _next_version(db, agency_id)
    current.retired_at = now
    current.wrapped = None
    db.flush()  # free the agency's single active slot before the new version takes it
    new_raw = AESGCM.generate_key(bit_length=256)
    replacement_id = new_id()
    db.add(
        AgencyKey(
            id=replacement_id,
            agency_id=agency_id,
            version=version,
            wrapped=seal(
                cache.wrapping_key,
                new_raw,
                _agency_key_aad(replacement_id, agency_id, version, cache.master_key_id),
            ),
            master_key_id=cache.master_key_id,
            created_at=now,
        )
    )
    db.flush()
    data_keys = db.scalars(
        select(DataKey)
        .where(DataKey.agency_key_id == current.id)
        .order_by(DataKey.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    for data_key in data_keys:
        try:
            raw = open_sealed(
                old_raw,
                data_key.wrapped,
                _data_key_aad(data_key.id, data_key.contact_id, agency_id, current.id),
            )
        except SealError as err:
            raise KeyRotationError(f"data key {data_key.id} failed authentication") from err
        data_key.wrapped = seal(
            new_raw,
            raw,
            _data_key_aad(data_key.id, data_key.contact_id, agency_id, replacement_id),
        )
        data_key.agency_key_id = replacement_id
    db.flush()
    forget_keys(db)
    return len(data_keys)


__all__ = [
    "ENVELOPE_OVERHEAD",
    "ENVELOPE_VERSION",
    "CryptoError",
    "DecryptionError",
    "EncryptionError",
    "KeyRotationError",
    "MasterRotation",
    "active_agency_key",
    "decrypt",
    "encrypt",
    "forget_keys",
    "master_key_id",
    "preload_contacts",
    "rotate_agency",
    "rotate_master",
    "rotate_master_detailed",
    "shred_contact",
]
