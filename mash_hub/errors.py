"""The hub's one error vocabulary. Services raise these (or their own kinds of them);
`mash_hub.web.errors` answers each the same way everywhere: a GOV.UK error page for
people, the API contract's JSON for agency systems, after rolling the request back.

Imports nothing, so every layer may use it.
"""

from __future__ import annotations


class NotFound(LookupError):
    """No such record, or one on the other side of the caller's firewall: one answer for
    both (404), so nobody learns that a record they may not see exists."""


class Conflict(Exception):
    """The record is not in a state for this (409). The message says why, in plain English
    that can be shown to the person or agency system that asked."""


class Refused(Exception):
    """The caller may not do this, on a record they may know of (403)."""
