"""The key service never commits, and unwrapped keys live for one transaction at most."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import event, func, select

from mash_hub.crypto import keys
from mash_hub.crypto.models import AgencyKey, DataKey
from tests.unit.crypto.support import (
    MASTER,
    OTHER_MASTER,
    on_postgres,
    open_field,
    rolled_back,
    seal_field,
)

CONTACT = uuid.UUID("5f1d2a0e-8e4b-4d6f-9a51-2b3c4d5e6f01")


def _key_rows(database) -> tuple[int, int, list[object]]:
    with database.transaction() as db:
        agency_keys = db.scalar(select(func.count()).select_from(AgencyKey))
        data_keys = db.scalar(select(func.count()).select_from(DataKey))
        state = sorted(
            (str(k.id), k.wrapped, k.master_key_id, k.retired_at is None)
            for k in db.scalars(select(AgencyKey))
        )
        state += sorted((str(d.id), d.wrapped) for d in db.scalars(select(DataKey)))
    return agency_keys, data_keys, state


def _count_commits(session) -> list[int]:
    commits: list[int] = []
    event.listen(session, "after_commit", lambda _s: commits.append(1))
    return commits


def test_a_rolled_back_session_leaves_no_keys(key_db):
    with rolled_back(key_db) as db:
        commits = _count_commits(db)
        envelope = seal_field(db, b"never kept", contact_id=CONTACT)
        seal_field(db, b"never kept", contact_id=CONTACT, agency="education")
        assert open_field(db, envelope, contact_id=CONTACT) == b"never kept"
        assert db.scalar(select(func.count()).select_from(DataKey)) == 2  # flushed, in-tx
        assert commits == []
    assert _key_rows(key_db)[:2] == (0, 0)
    with key_db.transaction() as db, pytest.raises(keys.DecryptionError):
        open_field(db, envelope, contact_id=CONTACT)


@pytest.mark.parametrize(
    "service",
    [
        lambda db: keys.shred_contact(db, CONTACT),
        lambda db: keys.rotate_master(db, MASTER, OTHER_MASTER),
        lambda db: keys.rotate_agency(db, "health", MASTER),
        lambda db: seal_field(db, b"x", contact_id=uuid.uuid4(), agency="housing"),
    ],
    ids=["shred_contact", "rotate_master", "rotate_agency", "encrypt"],
)
def test_services_do_not_commit(key_db, service):
    with key_db.transaction() as db:
        envelope = seal_field(db, b"kept", contact_id=CONTACT)
    before = _key_rows(key_db)
    with rolled_back(key_db) as db:
        commits = _count_commits(db)
        service(db)
        db.flush()
        assert commits == []
    assert _key_rows(key_db) == before
    with key_db.transaction() as db:
        assert open_field(db, envelope, contact_id=CONTACT) == b"kept"


def test_the_key_cache_ends_with_the_transaction(key_db):
    session = key_db.sessionmaker()
    try:
        envelope = seal_field(session, b"cached", contact_id=CONTACT)
        assert keys._CACHE_INFO_KEY in session.info
        session.flush()  # a flush is not the end of the unit of work
        assert keys._CACHE_INFO_KEY in session.info
        session.commit()
        assert keys._CACHE_INFO_KEY not in session.info
        assert open_field(session, envelope, contact_id=CONTACT) == b"cached"
        session.rollback()
        assert keys._CACHE_INFO_KEY not in session.info
        open_field(session, envelope, contact_id=CONTACT)
    finally:
        session.close()
    assert keys._CACHE_INFO_KEY not in session.info


def test_no_key_is_shared_between_sessions(key_db):
    with key_db.transaction() as db:
        envelope = seal_field(db, b"shared?", contact_id=CONTACT)
    reader = key_db.sessionmaker()
    try:
        assert open_field(reader, envelope, contact_id=CONTACT) == b"shared?"  # cached here
        with key_db.transaction() as other:
            assert keys._CACHE_INFO_KEY not in other.info
            keys.shred_contact(other, CONTACT)
        reader.commit()  # the reader's next unit of work sees the shred
        with pytest.raises(keys.DecryptionError):
            open_field(reader, envelope, contact_id=CONTACT)
    finally:
        reader.close()


def test_a_key_made_in_a_rolled_back_savepoint_is_not_reused(key_db):
    with key_db.transaction() as db:
        seal_field(db, b"first write opens the transaction", contact_id=uuid.uuid4())
        savepoint = db.begin_nested()
        seal_field(db, b"lost", contact_id=CONTACT)
        savepoint.rollback()
        envelope = seal_field(db, b"kept", contact_id=CONTACT)
    with key_db.transaction() as db:
        assert open_field(db, envelope, contact_id=CONTACT) == b"kept"


@on_postgres
@pytest.mark.postgres
def test_concurrent_first_use_shares_one_data_key(key_db):
    first = key_db.sessionmaker()
    envelopes: dict[str, bytes] = {}
    try:
        envelopes["first"] = seal_field(first, b"first", contact_id=CONTACT)

        def second_writer() -> None:
            with key_db.transaction() as second:  # waits on the first's uncommitted key
                envelopes["second"] = seal_field(second, b"second", contact_id=CONTACT)

        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()
        first.commit()
        thread.join(10)
        assert not thread.is_alive()
    finally:
        first.close()
    with key_db.transaction() as db:
        assert db.scalar(select(func.count()).select_from(DataKey)) == 1
        assert open_field(db, envelopes["first"], contact_id=CONTACT) == b"first"
        assert open_field(db, envelopes["second"], contact_id=CONTACT) == b"second"


@on_postgres
@pytest.mark.postgres
def test_first_use_during_an_agency_rotation_wraps_under_the_new_version(key_db):
    with key_db.transaction() as db:
        seal_field(db, b"before", contact_id=uuid.uuid4())
    rotation = key_db.sessionmaker()
    envelopes: dict[str, bytes] = {}
    try:
        keys.rotate_agency(rotation, "health", MASTER)

        def writer() -> None:
            with key_db.transaction() as db:  # new contact: needs the active agency key
                envelopes["during"] = seal_field(db, b"during", contact_id=CONTACT)

        thread = threading.Thread(target=writer)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()
        rotation.commit()
        thread.join(10)
        assert not thread.is_alive()
    finally:
        rotation.close()
    with key_db.transaction() as db:
        data_key = db.scalar(select(DataKey).where(DataKey.contact_id == CONTACT))
        agency_key = db.get(AgencyKey, data_key.agency_key_id)
        assert agency_key.version == 2 and agency_key.retired_at is None
        assert open_field(db, envelopes["during"], contact_id=CONTACT) == b"during"
