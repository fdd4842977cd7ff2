"""The schema comes only from migrations, and they match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import mash_hub.models  # noqa: F401 - every table on the metadata
from mash_hub.db import Base, alembic_config, make_engine


def test_one_head_and_numbered_revisions():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_heads() == ["0039"]
    for revision in script.walk_revisions():
        assert revision.module.__file__.split("/")[-1].startswith(revision.revision + "_")


def test_models_and_migrations_do_not_drift(database_url):
    engine = make_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []
