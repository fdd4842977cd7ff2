"""Envelopes: round trip, format, tamper detection, binding to one field, shredding."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from mash_hub.crypto import keys
from mash_hub.crypto.models import AgencyKey, DataKey
from mash_hub.identity.models import Agency
from tests.unit.crypto.support import MASTER, OTHER_MASTER, field, open_field, seal_field

CONTACT = uuid.UUID("0d7c4f43-3a55-4d0e-a1e7-3c0b3fb0a001")
OTHER_CONTACT = uuid.UUID("0d7c4f43-3a55-4d0e-a1e7-3c0b3fb0a002")
SECRET = b"Mother disclosed that the child was left alone overnight"


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 2048, 65536])
def test_round_trip(key_db, size):
    plaintext = bytes((i * 7 + 3) % 256 for i in range(size))
    with key_db.transaction() as db:
        envelope = seal_field(db, plaintext, contact_id=CONTACT)
        assert open_field(db, envelope, contact_id=CONTACT) == plaintext
    with key_db.transaction() as db:  # a new unit of work: keys unwrapped afresh
        assert open_field(db, envelope, contact_id=CONTACT) == plaintext


def test_ids_may_be_given_as_uuids_or_text(key_db):
    row = uuid.uuid4()
    with key_db.transaction() as db:
        envelope = seal_field(db, SECRET, contact_id=str(CONTACT), row_id=row)
    with key_db.transaction() as db:
        opened = open_field(db, envelope, contact_id=CONTACT, row_id=str(row).upper())
        assert opened == SECRET
        integer_row = seal_field(db, SECRET, contact_id=CONTACT, row_id=42)
        assert open_field(db, integer_row, contact_id=CONTACT, row_id="42") == SECRET


def test_envelope_format_names_its_data_key_and_uses_a_fresh_nonce(key_db):
    with key_db.transaction() as db:
        first = seal_field(db, SECRET, contact_id=CONTACT)
        second = seal_field(db, SECRET, contact_id=CONTACT)
        data_key = db.scalar(select(DataKey).where(DataKey.contact_id == CONTACT))
    assert first[0] == keys.ENVELOPE_VERSION == 1
    assert uuid.UUID(bytes=first[1:17]) == data_key.id
    assert len(first) == len(SECRET) + keys.ENVELOPE_OVERHEAD == len(SECRET) + 45
    assert first[1:17] == second[1:17]  # same data key
    assert first[17:29] != second[17:29]  # fresh nonce
    assert first[29:] != second[29:]
    assert SECRET not in first


def test_keys_are_made_on_first_use_one_per_agency_and_per_contact_and_agency(key_db):
    with key_db.transaction() as db:
        seal_field(db, SECRET, contact_id=CONTACT, agency="health")
        seal_field(db, SECRET, contact_id=CONTACT, agency="health", column="other")
        seal_field(db, SECRET, contact_id=OTHER_CONTACT, agency="health")
        seal_field(db, SECRET, contact_id=CONTACT, agency="education")
    with key_db.transaction() as db:
        agency_keys = db.scalars(select(AgencyKey)).all()
        data_keys = db.scalars(select(DataKey)).all()
        codes = {row.id: row.code for row in db.execute(select(Agency.id, Agency.code))}
    assert sorted(codes[k.agency_id] for k in agency_keys) == ["education", "health"]
    for agency_key in agency_keys:
        assert agency_key.version == 1
        assert agency_key.retired_at is None
        assert agency_key.master_key_id == keys.master_key_id(MASTER)
        assert agency_key.wrapped is not None and len(agency_key.wrapped) == 1 + 12 + 32 + 16
    assert sorted((d.contact_id, codes[d.agency_id]) for d in data_keys) == sorted(
        [(CONTACT, "health"), (OTHER_CONTACT, "health"), (CONTACT, "education")]
    )
    by_id = {k.id: k for k in agency_keys}
    for data_key in data_keys:
        assert by_id[data_key.agency_key_id].agency_id == data_key.agency_id


def test_master_key_id_is_a_fingerprint_never_the_key():
    ident = keys.master_key_id(MASTER)
    assert len(ident) == 16 and int(ident, 16) >= 0
    assert ident == keys.master_key_id(bytes(MASTER))
    assert ident != keys.master_key_id(OTHER_MASTER)
    assert ident not in MASTER.hex()
    assert ident != hashlib.sha256(MASTER).hexdigest()[:16]
    with pytest.raises(ValueError, match="32 bytes"):
        keys.master_key_id(MASTER[:31])


def test_every_single_bit_flip_is_refused(key_db):
    with key_db.transaction() as db:
        envelope = seal_field(db, SECRET, contact_id=CONTACT)
    with key_db.transaction() as db:
        assert open_field(db, envelope, contact_id=CONTACT) == SECRET  # keys now cached
        for bit in range(len(envelope) * 8):
            altered = bytearray(envelope)
            altered[bit // 8] ^= 1 << (bit % 8)
            with pytest.raises(keys.DecryptionError):
                open_field(db, bytes(altered), contact_id=CONTACT)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda e: b"",
        lambda e: e[:1],
        lambda e: e[: keys.ENVELOPE_OVERHEAD - 1],
        lambda e: e[:-1],
        lambda e: e + b"\x00",
        lambda e: b"\x02" + e[1:],
        lambda e: e[:1] + uuid.uuid4().bytes + e[17:],
        lambda e: e[:29] + e[45:],
    ],
    ids=[
        "empty",
        "version-only",
        "shorter-than-any-envelope",
        "truncated",
        "extended",
        "unknown-version",
        "unknown-data-key",
        "block-removed",
    ],
)
def test_malformed_envelopes_are_refused(key_db, mangle):
    with key_db.transaction() as db:
        envelope = seal_field(db, SECRET * 3, contact_id=CONTACT)
        with pytest.raises(keys.DecryptionError):
            open_field(db, mangle(envelope), contact_id=CONTACT)


def test_envelopes_from_a_buffer_still_open(key_db):
    with key_db.transaction() as db:
        envelope = seal_field(db, SECRET, contact_id=CONTACT)
        assert open_field(db, memoryview(envelope), contact_id=CONTACT) == SECRET
        assert open_field(db, bytearray(envelope), contact_id=CONTACT) == SECRET


@pytest.mark.parametrize(
    "moved_to",
    [
        {"table": "contacts"},
        {"row_id": "7b0f6a52-54f4-4c1e-9d4e-0a6f5f0c1a12"},
        {"column": "summary_sealed"},
        {"agency": "education"},
        {"contact_id": OTHER_CONTACT},
    ],
    ids=["other-table", "other-row", "other-column", "other-agency", "other-contact"],
)
def test_ciphertext_copied_to_another_field_does_not_decrypt(key_db, moved_to):
    with key_db.transaction() as db:
        envelope = seal_field(db, SECRET, contact_id=CONTACT)
        # The destination has keys of its own, so only the binding can refuse the copy.
        destination = {"contact_id": CONTACT, **moved_to}
        assert open_field(db, seal_field(db, b"theirs", **destination), **destination)
        with pytest.raises(keys.DecryptionError):
            open_field(db, envelope, **destination)
        assert open_field(db, envelope, contact_id=CONTACT) == SECRET


def test_associated_data_is_unambiguous():
    dk, agency, contact = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    base = keys._content_aad(dk, "ab", "c", "d", agency, contact)
    assert base != keys._content_aad(dk, "a", "bc", "d", agency, contact)
    assert base != keys._content_aad(dk, "ab", "cd", "", agency, contact)
    assert base != keys._content_aad(uuid.uuid4(), "ab", "c", "d", agency, contact)
    assert base != keys._content_aad(dk, "ab", "c", "d", contact, agency)


def test_wrong_master_key_is_refused_even_with_keys_cached(key_db):
    with key_db.transaction() as db:
        envelope = seal_field(db, SECRET, contact_id=CONTACT)
        with pytest.raises(keys.DecryptionError, match="master key"):
            open_field(db, envelope, master=OTHER_MASTER, contact_id=CONTACT)
    with key_db.transaction() as db:
        with pytest.raises(keys.DecryptionError):
            open_field(db, envelope, master=OTHER_MASTER, contact_id=CONTACT)
        with pytest.raises(keys.EncryptionError, match="master key"):
            seal_field(db, SECRET, master=OTHER_MASTER, contact_id=OTHER_CONTACT)


def test_unknown_agency_is_refused(key_db):
    with key_db.transaction() as db:
        envelope = seal_field(db, SECRET, contact_id=CONTACT)
        with pytest.raises(keys.EncryptionError, match="unknown agency"):
            seal_field(db, SECRET, contact_id=CONTACT, agency="nowhere")
        with pytest.raises(keys.DecryptionError, match="unknown agency"):
            open_field(db, envelope, contact_id=CONTACT, agency="nowhere")


def test_bad_arguments_to_decrypt_are_a_decryption_error(key_db):
    with key_db.transaction() as db:
        envelope = seal_field(db, SECRET, contact_id=CONTACT)
        for bad in ({"contact_id": "not-a-uuid"}, {"table": ""}, {"row_id": ""}):
            with pytest.raises(keys.DecryptionError):
                open_field(db, envelope, **{**{"contact_id": CONTACT}, **bad})
        with pytest.raises(keys.DecryptionError):
            keys.decrypt(db, envelope=envelope, master=MASTER[:16], **field(CONTACT))


@pytest.mark.parametrize(
    "tamper",
    ["data-key-bit", "agency-key-bit", "master-key-id", "swap-data-keys", "foreign-agency-key"],
)
def test_tampered_key_rows_are_refused(key_db, tamper):
    with key_db.transaction() as db:
        envelope = seal_field(db, SECRET, contact_id=CONTACT)
        seal_field(db, SECRET, contact_id=OTHER_CONTACT)
        seal_field(db, SECRET, contact_id=OTHER_CONTACT, agency="education")
    with key_db.transaction() as db:
        mine = db.scalar(select(DataKey).where(DataKey.contact_id == CONTACT))
        theirs = db.scalar(
            select(DataKey)
            .join(Agency, Agency.id == DataKey.agency_id)
            .where(DataKey.contact_id == OTHER_CONTACT, Agency.code == "health")
        )
        agency_key = db.get(AgencyKey, mine.agency_key_id)
        if tamper == "data-key-bit":
            mine.wrapped = mine.wrapped[:20] + bytes([mine.wrapped[20] ^ 0x10]) + mine.wrapped[21:]
        elif tamper == "agency-key-bit":
            wrapped = agency_key.wrapped
            agency_key.wrapped = wrapped[:-1] + bytes([wrapped[-1] ^ 0x01])
        elif tamper == "master-key-id":
            agency_key.master_key_id = keys.master_key_id(OTHER_MASTER)
        elif tamper == "swap-data-keys":
            mine.wrapped, theirs.wrapped = theirs.wrapped, mine.wrapped
        else:
            education_key = db.scalar(
                select(AgencyKey)
                .join(Agency, Agency.id == AgencyKey.agency_id)
                .where(Agency.code == "education")
            )
            mine.agency_key_id = education_key.id
    with key_db.transaction() as db, pytest.raises(keys.DecryptionError):
        open_field(db, envelope, contact_id=CONTACT)


def test_shredding_makes_content_unrecoverable(key_db):
    with key_db.transaction() as db:
        health = seal_field(db, SECRET, contact_id=CONTACT, agency="health")
        education = seal_field(db, SECRET, contact_id=CONTACT, agency="education")
        kept = seal_field(db, SECRET, contact_id=OTHER_CONTACT, agency="health")
    with key_db.transaction() as db:
        assert open_field(db, health, contact_id=CONTACT, agency="health") == SECRET  # cached
        assert keys.shred_contact(db, CONTACT) == 2
        with pytest.raises(keys.DecryptionError, match="shredded"):
            open_field(db, health, contact_id=CONTACT, agency="health")
    with key_db.transaction() as db:
        for envelope, agency in ((health, "health"), (education, "education")):
            with pytest.raises(keys.DecryptionError):
                open_field(db, envelope, contact_id=CONTACT, agency=agency)
        assert open_field(db, kept, contact_id=OTHER_CONTACT) == SECRET
        remaining = db.scalar(select(func.count()).select_from(DataKey))
        assert remaining == 1
        assert keys.shred_contact(db, CONTACT) == 0
        # New content for the contact gets a new key; the old content stays lost.
        fresh = seal_field(db, SECRET, contact_id=CONTACT)
        assert open_field(db, fresh, contact_id=CONTACT) == SECRET
        with pytest.raises(keys.DecryptionError):
            open_field(db, health, contact_id=CONTACT)


def test_only_one_key_version_per_agency_is_active(key_db):
    with key_db.transaction() as db:
        seal_field(db, SECRET, contact_id=CONTACT)
    with pytest.raises(IntegrityError), key_db.transaction() as db:
        active = db.scalar(select(AgencyKey))
        db.add(
            AgencyKey(
                agency_id=active.agency_id,
                version=2,
                wrapped=active.wrapped,
                master_key_id=active.master_key_id,
                created_at=active.created_at,
            )
        )
        db.flush()
    with pytest.raises(IntegrityError), key_db.transaction() as db:
        db.execute(update(AgencyKey).values(wrapped=None))  # active keys keep their material
