"""Rotation re-wraps keys without re-encrypting content, and retires what it replaces."""

from __future__ import annotations

import base64
import uuid

import pytest
from sqlalchemy import select

from mash_hub import create_app
from mash_hub.crypto import keys
from mash_hub.crypto.models import AgencyKey, DataKey
from mash_hub.crypto.sealing import SealError
from mash_hub.db import Database
from mash_hub.identity import services as identity
from mash_hub.identity.models import Agency, User
from tests.conftest import make_settings
from tests.unit.crypto.support import (
    MASTER,
    OTHER_MASTER,
    key_material,
    open_field,
    opens_any_agency_key,
    seal_field,
    unwrap_agency_key,
    unwrap_data_key,
)

THIRD_MASTER = bytes(range(32))
CONTACTS = [uuid.UUID(int=n) for n in range(1, 5)]
AGENCIES = ["health", "education", "police"]


def _seed(database: Database) -> dict[tuple[uuid.UUID, str, str], bytes]:
    """Content for each contact, agency and two columns; returns envelope by field."""
    envelopes = {}
    with database.transaction() as db:
        for contact in CONTACTS:
            for agency in AGENCIES:
                for column in ("narrative", "answer"):
                    plaintext = f"{contact}/{agency}/{column}".encode()
                    envelopes[(contact, agency, column)] = seal_field(
                        db, plaintext, contact_id=contact, agency=agency, column=column
                    )
    return envelopes


def _all_decrypt(database: Database, envelopes, master: bytes) -> None:
    with database.transaction() as db:
        for (contact, agency, column), envelope in envelopes.items():
            opened = open_field(
                db, envelope, master=master, contact_id=contact, agency=agency, column=column
            )
            assert opened == f"{contact}/{agency}/{column}".encode()


def _none_decrypt(database: Database, envelopes, master: bytes) -> None:
    with database.transaction() as db:
        for (contact, agency, column), envelope in envelopes.items():
            with pytest.raises(keys.DecryptionError):
                open_field(
                    db, envelope, master=master, contact_id=contact, agency=agency, column=column
                )


def _agency_key(db, code: str) -> AgencyKey:
    return db.scalar(
        select(AgencyKey)
        .join(Agency, Agency.id == AgencyKey.agency_id)
        .where(Agency.code == code, AgencyKey.retired_at.is_(None))
    )


def test_rotate_master_rewraps_agency_keys_only(key_db):
    envelopes = _seed(key_db)
    with key_db.transaction() as db:
        before_agency = {k.id: k.wrapped for k in db.scalars(select(AgencyKey))}
        before_data = {d.id: (d.wrapped, d.agency_key_id) for d in db.scalars(select(DataKey))}
        raw_before = sorted(key_material(db, MASTER)[2:])
    with key_db.transaction() as db:
        rotation = keys.rotate_master_detailed(db, MASTER, OTHER_MASTER)
    assert rotation.agency_keys == len(AGENCIES)
    assert rotation.old_master_key_id == keys.master_key_id(MASTER)
    assert rotation.new_master_key_id == keys.master_key_id(OTHER_MASTER)
    with key_db.transaction() as db:
        after = db.scalars(select(AgencyKey)).all()
        assert {k.master_key_id for k in after} == {keys.master_key_id(OTHER_MASTER)}
        assert all(before_agency[k.id] != k.wrapped for k in after)
        # Data keys (and so content) untouched; the keys themselves are the same keys.
        assert {
            d.id: (d.wrapped, d.agency_key_id) for d in db.scalars(select(DataKey))
        } == before_data
        assert sorted(key_material(db, OTHER_MASTER)[2:]) == raw_before
        assert not opens_any_agency_key(db, MASTER)
        assert opens_any_agency_key(db, OTHER_MASTER)
    _all_decrypt(key_db, envelopes, OTHER_MASTER)
    _none_decrypt(key_db, envelopes, MASTER)


def test_rotate_master_again_is_a_no_op_and_unknown_old_keys_are_refused(key_db):
    envelopes = _seed(key_db)
    with key_db.transaction() as db:
        assert keys.rotate_master(db, MASTER, OTHER_MASTER) == len(AGENCIES)
    with key_db.transaction() as db:  # re-run after success (say, the output was lost)
        assert keys.rotate_master(db, MASTER, OTHER_MASTER) == 0
    refused = pytest.raises(keys.KeyRotationError, match="cannot be opened")
    with refused, key_db.transaction() as db:
        keys.rotate_master(db, THIRD_MASTER, MASTER)
    with pytest.raises(keys.KeyRotationError, match="current one"), key_db.transaction() as db:
        keys.rotate_master(db, OTHER_MASTER, OTHER_MASTER)
    with pytest.raises(ValueError, match="32 bytes"), key_db.transaction() as db:
        keys.rotate_master(db, OTHER_MASTER, b"short")
    _all_decrypt(key_db, envelopes, OTHER_MASTER)


def test_rotate_agency_makes_a_new_version_and_destroys_the_old(key_db):
    envelopes = _seed(key_db)
    with key_db.transaction() as db:
        old = _agency_key(db, "health")
        old_id, old_raw = old.id, unwrap_agency_key(old, MASTER)
        other_before = {
            k.id: k.wrapped for k in db.scalars(select(AgencyKey)) if k.agency_id != old.agency_id
        }
        health_data = {
            d.id: d.wrapped
            for d in db.scalars(select(DataKey).where(DataKey.agency_key_id == old_id))
        }
    assert len(health_data) == len(CONTACTS)
    with key_db.transaction() as db:
        assert keys.rotate_agency(db, "health", MASTER) == len(CONTACTS)
    with key_db.transaction() as db:
        versions = db.scalars(
            select(AgencyKey).where(AgencyKey.agency_id == old.agency_id).order_by("version")
        ).all()
        assert [(k.version, k.retired_at is None) for k in versions] == [(1, False), (2, True)]
        retired, current = versions
        assert retired.id == old_id and retired.wrapped is None  # material destroyed
        assert current.master_key_id == keys.master_key_id(MASTER)
        assert keys.active_agency_key(db, "health").id == current.id
        for data_key in db.scalars(select(DataKey).where(DataKey.id.in_(health_data))):
            assert data_key.agency_key_id == current.id
            assert data_key.wrapped != health_data[data_key.id]
            with pytest.raises(SealError):  # the old agency key opens nothing any more
                unwrap_data_key(data_key, old_raw, old_id)
            with pytest.raises(SealError):
                unwrap_data_key(data_key, old_raw, current.id)
        other_after = {
            k.id: k.wrapped for k in db.scalars(select(AgencyKey)) if k.agency_id != old.agency_id
        }
        assert other_after == other_before
    _all_decrypt(key_db, envelopes, MASTER)
    with key_db.transaction() as db:
        assert keys.rotate_agency(db, "health", MASTER) == len(CONTACTS)
        assert keys.active_agency_key(db, "health").version == 3
    _all_decrypt(key_db, envelopes, MASTER)


def test_rotate_agency_without_a_key_makes_its_first_and_refuses_unknown_agencies(key_db):
    with key_db.transaction() as db:
        assert keys.active_agency_key(db, "probation") is None
        assert keys.rotate_agency(db, "probation", MASTER) == 0
        assert keys.active_agency_key(db, "probation").version == 1
        with pytest.raises(keys.KeyRotationError, match="unknown agency"):
            keys.rotate_agency(db, "nowhere", MASTER)


def test_rotate_agency_needs_the_master_key_that_wraps_it(key_db):
    envelopes = _seed(key_db)
    with pytest.raises(keys.KeyRotationError, match="master key"), key_db.transaction() as db:
        keys.rotate_agency(db, "health", OTHER_MASTER)
    _all_decrypt(key_db, envelopes, MASTER)


def test_after_both_rotations_everything_decrypts_and_the_old_master_opens_nothing(key_db):
    envelopes = _seed(key_db)
    with key_db.transaction() as db:
        keys.rotate_agency(db, "education", MASTER)
    with key_db.transaction() as db:
        keys.rotate_master(db, MASTER, OTHER_MASTER)
    with key_db.transaction() as db:
        keys.rotate_agency(db, "police", OTHER_MASTER)
    _all_decrypt(key_db, envelopes, OTHER_MASTER)
    _none_decrypt(key_db, envelopes, MASTER)
    with key_db.transaction() as db:
        assert not opens_any_agency_key(db, MASTER)
        # New content after the rotations works too.
        contact = uuid.uuid4()
        envelope = seal_field(db, b"later", master=OTHER_MASTER, contact_id=contact)
        assert open_field(db, envelope, master=OTHER_MASTER, contact_id=contact) == b"later"


def test_rotate_master_reseals_totp_secrets(app, make_account, settings):
    account = make_account()
    new_master = OTHER_MASTER
    old_master = settings.master_key_bytes()
    database: Database = app.extensions["mash.db"]
    with app.app_context(), database.transaction() as db:
        seal_field(db, b"content", master=old_master, contact_id=uuid.uuid4())
        rotation = keys.rotate_master_detailed(db, old_master, new_master)
    assert (rotation.agency_keys, rotation.totp_secrets) == (1, 1)
    rotated = create_app(
        make_settings(
            settings.database.url,
            MASH_KEYS__MASTER_KEY=base64.b64encode(new_master).decode(),
            MASH_APP__INSTANCE_PATH=settings.app.instance_path,
        )
    )
    try:
        with rotated.app_context(), rotated.extensions["mash.db"].transaction() as db:
            user = db.get(User, account.user_id)
            assert identity.totp_secret(user) == account.seed
    finally:
        rotated.extensions["mash.db"].dispose()
    with app.app_context(), database.transaction() as db:
        user = db.get(User, account.user_id)
        with pytest.raises(SealError):  # the old master key no longer opens it
            identity.totp_secret(user)
