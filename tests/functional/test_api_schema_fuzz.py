"""Schemathesis against our own OpenAPI document: every operation, with valid and invalid
inputs, must answer without a server error and as the document says.

Bounded for CI (MASH_FUZZ_EXAMPLES, default 50 per operation); `make nightly` raises it.
The counts per operation are written to test-artifacts/schemathesis-counts.json so the
figures in a closing note come from a run, not from memory.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from mash_hub.api.openapi import OPERATIONS
from mash_hub.authz.permissions import Scope

EXAMPLES = int(os.environ.get("MASH_FUZZ_EXAMPLES", "50"))
COUNTS_FILE = Path(__file__).resolve().parents[2] / "test-artifacts" / "schemathesis-counts.json"
CALLS: Counter[str] = Counter()
# "Schema-valid data must be accepted" cannot hold for rules JSON Schema cannot state: the
# NHS number's check digit, a received time not in the future, a consent reason unless
# consent was given. Every other check runs: no 5xx, documented status codes, content
# types, headers and bodies, and invalid input rejected.
RULES_THE_SCHEMA_CANNOT_STATE = [checks.positive_data_acceptance]


@pytest.fixture
def api_schema(app):
    app.config["TESTING"] = True
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture
def bearer(app, make_client):
    """A police system holding every scope, so the firewall, not the gate, decides."""
    client_id, secret = make_client("police", frozenset(Scope))
    response = app.test_client().post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    return {"Authorization": f"Bearer {response.json['access_token']}"}


@pytest.mark.parametrize(("path", "method"), sorted(OPERATIONS))
def test_every_operation_answers_as_documented(api_schema, bearer, path, method):
    operation = api_schema[path][method]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy())
    def exercise(case: schemathesis.Case) -> None:
        if path != "/oauth/token":
            case.headers = {**(case.headers or {}), **bearer}
        case.call_and_validate(excluded_checks=RULES_THE_SCHEMA_CANNOT_STATE)
        CALLS[f"{method.upper()} {path}"] += 1

    exercise()


def test_every_operation_got_its_examples():
    """Runs after the fuzz test (file order). The one exception: the OpenAPI document takes
    no input and no credentials, so there is exactly one distinct request to make."""
    if len(CALLS) < len(OPERATIONS):
        pytest.skip("the fuzz test did not run for every operation in this session")
    COUNTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    COUNTS_FILE.write_text(json.dumps(dict(sorted(CALLS.items())), indent=2))
    short = {
        operation: count
        for operation, count in CALLS.items()
        if count < EXAMPLES and operation != "GET /api/v1/openapi.json"
    }
    assert not short, f"fewer than {EXAMPLES} examples: {short}"
