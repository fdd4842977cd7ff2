"""The decision payload of the API contract: `{"outcome", "rationale"}`."""

from __future__ import annotations

from typing import Any

from mash_hub.contacts.models import DECISION_OUTCOMES
from mash_hub.http.validation import Reader

RATIONALE_MAX = 5000


def read_decision(body: Any) -> tuple[str, str]:
    """(outcome, rationale), or ValidationFailed naming each bad field."""
    reader = Reader()
    root = reader.obj(body, "")
    outcome = reader.choice(root, "outcome", "outcome", DECISION_OUTCOMES)
    rationale = reader.text(
        root, "rationale", "rationale", max_length=RATIONALE_MAX, multiline=True
    )
    reader.check()
    assert outcome is not None and rationale is not None  # noqa: S101 - checked above
    return outcome, rationale
