"""The current app's settings, clock and master key, for code running inside it."""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from mash_hub.clock import Clock
from mash_hub.config import Settings


def settings() -> Settings:
    value: Settings = current_app.extensions["mash.settings"]
    return value


def clock() -> Clock:
    value: Clock = current_app.extensions["mash.clock"]
    return value


def now() -> datetime:
    return clock().now()


def master_key() -> bytes:
    value: bytes = current_app.extensions["mash.master_key"]
    return value
