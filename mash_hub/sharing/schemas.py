"""The request and response payloads of the API contract (shared/docs/api.md)."""

from __future__ import annotations

from typing import Any

from mash_hub.agencies import AGENCY_CODES
from mash_hub.http.times import api_time
from mash_hub.http.validation import Reader
from mash_hub.sharing.models import ITEM_KINDS, OUTCOMES
from mash_hub.sharing.services import (
    ITEM_MAX,
    MAX_ITEMS,
    QUESTION_MAX,
    AnswerView,
    ItemInput,
    RequestSummary,
)


def read_request(body: Any) -> tuple[str, str]:
    """(agency, question), or ValidationFailed."""
    reader = Reader()
    root = reader.obj(body, "")
    agency = reader.choice(root, "agency", "agency", AGENCY_CODES)
    question = reader.text(root, "question", "question", max_length=QUESTION_MAX, multiline=True)
    reader.check()
    assert agency is not None and question is not None  # noqa: S101 - checked above
    return agency, question


def read_response(body: Any) -> tuple[str, tuple[ItemInput, ...]]:
    """(outcome, items), or ValidationFailed."""
    reader = Reader()
    root = reader.obj(body, "")
    outcome = reader.choice(root, "outcome", "outcome", OUTCOMES)
    raw_items = root.get("items", [])
    items: list[ItemInput] = []
    if raw_items is None:
        raw_items = []
    if not isinstance(raw_items, list):
        reader.fail("items", "must be a list")
        raw_items = []
    elif len(raw_items) > MAX_ITEMS:
        reader.fail("items", f"must list {MAX_ITEMS} items or fewer")
        raw_items = []
    for index, raw in enumerate(raw_items):
        path = f"items[{index}]"
        item = reader.obj(raw, path)
        kind = reader.choice(item, "kind", f"{path}.kind", ITEM_KINDS)
        text = reader.text(item, "text", f"{path}.text", max_length=ITEM_MAX, multiline=True)
        restricted = item.get("restricted", False)
        if not isinstance(restricted, bool):
            reader.fail(f"{path}.restricted", "must be true or false")
        if kind is not None and text is not None and isinstance(restricted, bool):
            items.append(ItemInput(kind, text, restricted))
    if outcome == "information_held" and not raw_items:
        reader.fail("items", "information held needs at least one item")
    if outcome in ("not_known", "unable_to_respond") and raw_items:
        reader.fail("items", "only an answer of information held has items")
    reader.check()
    assert outcome is not None  # noqa: S101 - checked above
    return outcome, tuple(items)


def answer_json(answer: AnswerView) -> dict[str, Any]:
    return {
        "id": answer.id,
        "agency": answer.agency,
        "outcome": answer.outcome,
        "answered_at": api_time(answer.answered_at),
        "items": [
            {
                "kind": item.kind,
                "restricted": item.restricted,
                "withheld": True,
                "agency": answer.agency,
            }
            if item.withheld
            else {
                "kind": item.kind,
                "restricted": item.restricted,
                "withheld": False,
                "text": item.text,
            }
            for item in answer.items
        ],
    }


def summary_json(summary: RequestSummary) -> dict[str, Any]:
    return {
        "id": summary.id,
        "agency": summary.agency,
        "status": summary.status,
        "question": summary.question,
        "requested_at": api_time(summary.requested_at),
        "due_at": api_time(summary.due_at),
        "answer": answer_json(summary.answer) if summary.answer else None,
    }
