"""Every reader of what agency systems send answers with its result or with field errors,
never with another exception (a 500): random JSON, near-valid contacts with one part
replaced, unencodable text and query strings (security review V14).

CI runs 100,000 inputs in all, in its SQLite pass (these readers touch no database, so
the PostgreSQL pass skips them); `make nightly` (MASH_HYPOTHESIS_PROFILE=nightly) runs
1,000,000."""

from __future__ import annotations

import contextlib
import copy
import os
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mash_hub.audit_api.schemas import read_filter
from mash_hub.contacts.schemas import read_contact
from mash_hub.http.validation import ValidationFailed
from mash_hub.screening.schemas import read_decision
from mash_hub.sharing.schemas import read_request, read_response
from tests.functional.test_contacts_api import CONTACT

SCALE = 10 if os.environ.get("MASH_HYPOTHESIS_PROFILE") == "nightly" else 1
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MASH_TEST_DATABASE_URL")),
    reason="no database here: the SQLite pass runs these once",
)
NOW = datetime(2026, 12, 1, 10, tzinfo=UTC)
GO_LIVE = date(2025, 1, 1)

settings.register_profile(
    "reader-fuzz",
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
FUZZ = settings.get_profile("reader-fuzz")

# Text of every kind, lone surrogates and control characters included.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    any_text,
    st.sampled_from(
        ["", " ", "red", "amber", "police", "child", "2026-11-30T09:15:00Z", "2015-04-02"]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(any_text, inner, max_size=5)
    ),
    max_leaves=25,
)


# A valid contact's paths, so that one part at a time can be replaced.
def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


CONTACT_PATHS = _paths(CONTACT)


@st.composite
def near_valid_contacts(draw: st.DrawFn) -> Any:
    body = copy.deepcopy(CONTACT)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(CONTACT_PATHS))
        target = body
        for step in path[:-1]:
            if not isinstance(target, dict | list):
                break
            try:
                target = target[step]
            except (KeyError, IndexError, TypeError):
                break
        else:
            if isinstance(target, dict | list):
                with contextlib.suppress(IndexError, TypeError):
                    target[path[-1]] = draw(json_values)
    return body


def refuses_or_reads(read: Any, body: Any) -> None:
    try:
        read(body)
    except ValidationFailed as failed:
        assert failed.fields, "a refusal names its fields"


@settings(FUZZ, max_examples=30_000 * SCALE)
@given(st.one_of(near_valid_contacts(), json_values))
def test_contacts(body: Any) -> None:
    refuses_or_reads(lambda b: read_contact(b, NOW, GO_LIVE), body)


@settings(FUZZ, max_examples=15_000 * SCALE)
@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries({"agency": json_values, "question": json_values}),
    )
)
def test_requests(body: Any) -> None:
    refuses_or_reads(read_request, body)


@settings(FUZZ, max_examples=20_000 * SCALE)
@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {
                "outcome": st.one_of(
                    st.sampled_from(["information_held", "not_known"]), json_values
                ),
                "items": st.one_of(
                    json_values,
                    st.lists(
                        st.fixed_dictionaries(
                            {"kind": json_values, "text": json_values, "restricted": json_values}
                        ),
                        max_size=3,
                    ),
                ),
            }
        ),
    )
)
def test_responses(body: Any) -> None:
    refuses_or_reads(read_response, body)


@settings(FUZZ, max_examples=15_000 * SCALE)
@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries({"outcome": json_values, "rationale": json_values}),
    )
)
def test_decisions(body: Any) -> None:
    refuses_or_reads(read_decision, body)


query_names = st.sampled_from(
    ["agency", "contact_id", "actor", "action", "decision", "since", "until", "cursor", "limit"]
)


@settings(FUZZ, max_examples=20_000 * SCALE)
@given(st.dictionaries(query_names, any_text, max_size=9))
def test_audit_filters(args: dict[str, str]) -> None:
    refuses_or_reads(lambda a: read_filter(a, "csc", 100, 1000), args)


def test_the_counts_add_up_to_a_hundred_thousand() -> None:
    """The budget this module promises CI (and ten times it for the nightly run)."""
    total = sum(
        test.hypothesis.inner_test and test._hypothesis_internal_use_settings.max_examples
        for test in (
            test_contacts,
            test_requests,
            test_responses,
            test_decisions,
            test_audit_filters,
        )
    )
    assert total == 100_000 * SCALE
