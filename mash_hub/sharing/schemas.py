"""The request and response payloads of the API contract (shared/docs/api.md)."""

from __future__ import annotations

from typing import Any

from mash_hub.agencies import AGENCY_CODES
from mash_hub.http.times import api_time
from mash_hub.http.validation import Reader
from mash_hub.policy.programmes import MEASURES
from mash_hub.sharing.models import ITEM_KINDS, OUTCOMES
from mash_hub.sharing.services import (
    ITEM_MAX,
    MAX_ITEMS,
    QUESTION_MAX,
    AnswerView,
    ItemInput,
    ItemView,
    MeasureInput,
    RequestSummary,
    measure_problem,
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
        measure_good, measure = _read_measure(reader, item.get("measure"), f"{path}.measure")
        if kind is not None and text is not None and isinstance(restricted, bool) and measure_good:
            items.append(ItemInput(kind, text, restricted, measure))
    if outcome == "information_held" and not raw_items:
        reader.fail("items", "information held needs at least one item")
    if outcome in ("not_known", "unable_to_respond") and raw_items:
        reader.fail("items", "only an answer of information held has items")
    reader.check()
    assert outcome is not None  # noqa: S101 - checked above
    return outcome, tuple(items)


def _read_measure(reader: Reader, raw: Any, path: str) -> tuple[bool, MeasureInput | None]:
    """An item's optional measure, {"code", "value"}: (True, None) when there is none,
    (True, measure) when it is good, (False, None) when it is bad, the problem recorded
    against `path`, `path.code` or `path.value`."""
    if raw is None:
        return True, None
    if not isinstance(raw, dict):
        reader.fail(path, "must be a JSON object with a code and a value")
        return False, None
    code = reader.choice(raw, "code", f"{path}.code", tuple(MEASURES))
    if code is None:
        return False, None
    value = raw.get("value")
    problem = measure_problem(code, value)
    if problem is not None or not isinstance(value, int | float):
        reader.fail(f"{path}.value", problem or "must be a number")
        return False, None
    return True, MeasureInput(code, float(value))


def _item_json(answer: AnswerView, item: ItemView) -> dict[str, Any]:
    if item.withheld:
        # Nothing of a withheld item: not its text, nor whether it carries a measure.
        return {
            "kind": item.kind,
            "restricted": item.restricted,
            "withheld": True,
            "agency": answer.agency,
        }
    shown: dict[str, Any] = {
        "kind": item.kind,
        "restricted": item.restricted,
        "withheld": False,
        "text": item.text,
    }
    if item.measure is not None:
        shown["measure"] = {
            "code": item.measure.code,
            "label": item.measure.label,
            "value": item.measure.json_value,
        }
    return shown


def answer_json(answer: AnswerView) -> dict[str, Any]:
    return {
        "id": answer.id,
        "agency": answer.agency,
        "outcome": answer.outcome,
        "answered_at": api_time(answer.answered_at),
        "items": [_item_json(answer, item) for item in answer.items],
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
