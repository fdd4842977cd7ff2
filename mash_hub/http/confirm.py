"""Confirmations after an action: one success banner on the next page the user sees.

A view calls `confirm` just before it redirects; the layout shows the message once, in a
GOV.UK success notification banner, and the session forgets it. The words say what happened
and what comes next; they name a contact by its reference and never carry personal data,
because the message is kept in the server-side session until it is shown.
"""

from __future__ import annotations

import json

from flask import flash, get_flashed_messages

CATEGORY = "hub-success"


def confirm(heading: str, next_step: str = "") -> None:
    """Show `heading` (what happened) and `next_step` (what comes next) on the next page."""
    flash(json.dumps({"heading": heading, "next": next_step}), CATEGORY)


def confirmations() -> list[dict[str, str]]:
    """The messages waiting to be shown, removed from the session as they are read."""
    shown: list[dict[str, str]] = []
    for message in get_flashed_messages(category_filter=[CATEGORY]):
        if not isinstance(message, str):
            continue
        try:
            parts = json.loads(message)
        except ValueError:
            continue  # not one of ours: never shown raw
        if isinstance(parts, dict):
            shown.append(
                {"heading": str(parts.get("heading", "")), "next": str(parts.get("next", ""))}
            )
    return shown
