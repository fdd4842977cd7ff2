"""What every `mash-hub` command group shares: the hub context and the unit of work.

Below the command groups (mash_hub.cli, audit, keys), so each imports it at its top. The
app factory is handed in by mash_hub.cli, the composition root, so this module and the
groups that use it import nothing above them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from flask import Flask
from sqlalchemy.orm import Session

from mash_hub.config import Settings, load_settings
from mash_hub.db import Database


class HubContext:
    """Loads settings once per command and builds the app only when a command needs it."""

    def __init__(self, config_path: str | None, app_factory: Callable[[Settings], Flask]) -> None:
        self.config_path = config_path
        self._app_factory = app_factory
        self._settings: Settings | None = None
        self._app: Flask | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    @property
    def app(self) -> Flask:
        if self._app is None:
            self._app = self._app_factory(self.settings)
        return self._app


pass_hub = click.make_pass_decorator(HubContext)


@contextmanager
def unit_of_work(hub: HubContext) -> Iterator[Session]:
    """A command is one unit of work: it commits at the end, or not at all."""
    with hub.app.app_context():
        database: Database = hub.app.extensions["mash.db"]
        with database.transaction() as session:
            yield session
