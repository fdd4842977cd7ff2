"""Fixtures for the key hierarchy: the migrated test database with the agencies in it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mash_hub.db import Database
from tests.unit.crypto.support import open_key_database


@pytest.fixture
def key_db(clean_database: str) -> Iterator[Database]:
    """The test database (emptied afterwards), for services called with explicit keys."""
    database = open_key_database(clean_database)
    yield database
    database.dispose()
