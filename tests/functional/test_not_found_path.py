"""A record that exists but is refused, and one that does not exist, are answered by the
same work: the same SQL statements in the same order, the same kind of audit event and
the same answer (security review V13: the refused path ran the policy and the
emergency-access lookup, the missing one did not, and the 1.5 ms between them told an
attacker which ids exist). Checked by what the code does, not by timing it; the timing is
in benchmarks/bench_not_found_timing.py."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role
from tests.functional.test_requests import ask, rated_contact, researcher
from tests.functional.test_scheduler import police  # noqa: F401 - a fixture
from tests.helpers import sign_in
from tests.statements import counting


def _shape(sql: list[str]) -> list[str]:
    """Statements without their literal values (ids typed into the path end up in none of
    them but the audit insert's parameters, which are not part of the text)."""
    return [re.sub(r"'[^']*'", "?", " ".join(statement.split())) for statement in sql]


def _last_event(app) -> AuditEvent:
    with app.extensions["mash.db"].transaction() as db:
        return db.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()


NONCE = re.compile(r"nonce-[A-Za-z0-9_-]+|nonce=\"[A-Za-z0-9_-]+\"")
# The sign-out form's CSRF token is signed with the second it was made: two answers a
# second apart differ there whatever they show.
CSRF = re.compile(r'name="csrf_token" value="[^"]*"')


def _answer(response) -> tuple[int, bytes, list[tuple[str, str]]]:
    """The answer, less what differs between any two answers (request id, CSP nonce, the
    time in the CSRF token)."""
    headers = sorted(
        (k, NONCE.sub("nonce", v)) for k, v in response.headers.items() if k != "X-Request-Id"
    )
    body = NONCE.sub("nonce", response.text).replace(response.headers["X-Request-Id"], "id")
    body = CSRF.sub('name="csrf_token" value="token"', body)
    return response.status_code, body.encode(), headers


def _compare(app, fetch, ids: dict[str, str]) -> None:
    fetch(str(uuid.uuid4()))  # warm: the first call of a kind fills caches the rest share
    seen = {}
    for name, record_id in ids.items():
        with counting(app) as statements:
            response = fetch(record_id)
        event = _last_event(app)
        seen[name] = (
            _shape(statements.sql),
            (event.kind, event.decision, event.action, event.object_type, event.contact_id),
            _answer(response),
            event.object_id,
        )
    refused = seen.pop("refused")
    assert refused[2][0] == 404
    for name, found in seen.items():
        assert found[0] == refused[0], f"{name} took another path:\n{found[0]}\n{refused[0]}"
        assert found[2][1:] == refused[2][1:] and found[2][0] == 404, name
        assert found[3] == ids[name][:64], name  # the id asked for is in the trail
        assert found[1][:4] == refused[1][:4], (name, found[1], refused[1])
    # The refusal of a record that exists names its contact, of one that does not, none.
    # On PostgreSQL row-level security already hides another agency's row from the read,
    # so there the refused record is, to the hub, a missing one.
    postgres = app.extensions["mash.db"].engine.dialect.name == "postgresql"
    assert (refused[1][4] is None) == postgres, refused[1]
    assert all(found[1][4] is None for found in seen.values())


@pytest.fixture
def two_requests(client, police):  # noqa: F811
    contact_id = rated_contact(client, police)
    health = ask(client, police, contact_id, "health").json["id"]
    education = ask(client, police, contact_id, "education").json["id"]
    return health, education


def test_an_agency_system_cannot_tell_a_refused_request_from_a_missing_one(
    app, client, make_client, two_requests
):
    health_id, _education_id = two_requests
    education = researcher(client, make_client, "education")
    _compare(
        app,
        lambda rid: client.get(f"/api/v1/requests/{rid}", headers=education),
        {"refused": health_id, "missing": str(uuid.uuid4()), "not an id": "not-a-uuid"},
    )


def test_a_researcher_cannot_tell_a_refused_request_page_from_a_missing_one(
    app, client, clock, make_account, two_requests
):
    health_id, _education_id = two_requests
    page = app.test_client()
    sign_in(page, make_account(Role.AGENCY_RESEARCHER, "education"), clock)
    _compare(
        app,
        lambda rid: page.get(f"/requests/{rid}"),
        {"refused": health_id, "missing": str(uuid.uuid4()), "not an id": "x" * 80},
    )
