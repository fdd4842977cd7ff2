"""The current app's settings, clock and master key, for code running inside it, and the
things the layers below reach through the app rather than by importing the layers above:
the request's origin (set by the web layer), the working-hours calendar and the policy
decision point (both set by the app factory)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Flask, current_app

from mash_hub.clock import Clock
from mash_hub.config import Settings
from mash_hub.deadlines import WorkingCalendar
from mash_hub.policy.pdp import PolicyDecisionPoint
from mash_hub.policy.programmes import Programme

# The request id and client address of the request being served; (None, None) outside one.
Origin = tuple[str | None, str | None]


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


def calendar() -> WorkingCalendar:
    value: WorkingCalendar = current_app.extensions["mash.calendar"]
    return value


def pdp() -> PolicyDecisionPoint:
    value: PolicyDecisionPoint = current_app.extensions["mash.pdp"]
    return value


def programmes() -> tuple[Programme, ...]:
    """The early-help programmes' criteria, loaded and checked with the policy set."""
    return pdp().programmes


def set_origin(app: Flask, provider: Callable[[], Origin]) -> None:
    """Let audit events carry the request they came from, without audit importing the web
    layer: the web layer registers how to read the request id and client address."""
    app.extensions["mash.origin"] = provider


def origin() -> Origin:
    provider: Callable[[], Origin] | None = current_app.extensions.get("mash.origin")
    return provider() if provider is not None else (None, None)


def on_decision(app: Flask, observer: Callable[[str, bool], None]) -> None:
    """Let the operations layer count the firewall's decisions (by action, allowed or
    not) without the firewall importing it."""
    app.extensions["mash.on_decision"] = observer


def observe_decision(action: str, allowed: bool) -> None:
    observer: Callable[[str, bool], None] | None = current_app.extensions.get("mash.on_decision")
    if observer is not None:
        observer(action, allowed)
