"""Closing a contact ends its open requests at once (security review V7): the partner's next
read is as if the request never existed, and the MASH's trail says why."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from mash_hub.audit.models import AuditEvent
from mash_hub.db import Database
from mash_hub.sharing.models import InfoRequest
from tests.functional.screening.test_decisions import contact_status, pending_id, rate
from tests.functional.test_requests import ask, researcher


def test_telling_the_referrer_closes_the_contact_and_withdraws_its_requests(
    app, client, make_client, api, screener, manager, contact_id, clock
):
    rate(client, api, contact_id)
    asked = ask(client, api, contact_id, "yos")
    assert asked.status_code == 201, asked.json
    request_id = asked.json["id"]
    yos = researcher(client, make_client, "yos")
    assert client.get(f"/api/v1/requests/{request_id}", headers=yos).status_code == 200

    path = f"/contacts/{contact_id}/decision"
    proposed = screener.post_form(
        path, {"outcome": "no_further_action", "rationale": "Nothing more is needed"}
    )
    assert proposed.status_code == 302
    approved = manager.post_form(
        f"{path}/review", {"decision_id": pending_id(app), "verdict": "approved"}, page=path
    )
    assert approved.status_code == 302
    clock.advance(timedelta(minutes=10))
    told = screener.post_form(
        f"/contacts/{contact_id}/acknowledgement",
        {"method": "phone", "told_date": "30/11/2026", "told_time": "10:05"},
        page=path,
    )
    assert told.status_code == 302
    assert contact_status(app) == "closed"

    # The partner can no longer read it, nor tell it from a request that does not exist.
    yos = researcher(client, make_client, "yos")  # a fresh token: the clock has moved on
    gone = client.get(f"/api/v1/requests/{request_id}", headers=yos)
    assert gone.status_code == 404
    assert gone.json == {"error": "not_found", "message": "no such record"}
    assert client.get("/api/v1/requests", headers=yos).json["requests"] == []
    late = client.post(
        f"/api/v1/requests/{request_id}/response",
        json={"outcome": "not_known"},
        headers=yos,
    )
    assert late.status_code == 409
    assert "withdrawn" in late.json["message"]

    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        assert session.scalar(select(InfoRequest.status)) == "withdrawn"
        reasons = session.execute(
            select(AuditEvent.kind, AuditEvent.agency, AuditEvent.reason).where(
                AuditEvent.action == "request:withdraw"
            )
        ).all()
    # The MASH's own trail says why; the partner's says only that it was withdrawn.
    assert sorted(tuple(r) for r in reasons) == [
        ("request.withdrawn", "police", "contact closed"),
        ("request.withdrawn_marker", "yos", "request withdrawn"),
    ]
