"""Stateful property tests of information requests against an independent model.

Hypothesis drives the API through random mixes of contacts, ratings, requests to several
agencies, reads and answers by every agency, and the clock moving on. A small model
written here (not the Cedar policies) says what each call must return:
- no researcher ever reads another agency's request or answer (404, same as missing);
- no answer is accepted at or after the due time, or twice, or once withdrawn (409);
- rating a contact Green withdraws its open requests at once;
- an agency's inbox lists exactly its open requests with time left.

Bounded for CI (MASH_PROPERTY_EXAMPLES raises it for nightly runs). SQLite only: each
example gets a fresh copy of the migrated template database.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.engine import make_url

from mash_hub import create_app
from mash_hub.authz.permissions import Scope
from mash_hub.clock import FrozenClock
from mash_hub.db import Database
from mash_hub.identity import services as identity
from tests.conftest import START, make_settings
from tests.functional.test_contacts_api import CONTACT

PARTNERS = ("health", "education", "housing")
EXAMPLES = int(os.environ.get("MASH_PROPERTY_EXAMPLES", "8"))


@dataclass
class ModelRequest:
    id: str
    contact: str
    agency: str
    due_at: datetime
    status: str  # open | answered | withdrawn (expiry is judged from the clock)
    answer_text: str | None = None


def _copy_template(template_url: str) -> tuple[str, Path]:
    folder = Path(tempfile.mkdtemp(prefix="mash-machine-"))
    copy = folder / "machine.db"
    shutil.copyfile(make_url(template_url).database or "", copy)
    return f"sqlite:///{copy}", folder


class RequestMachine(RuleBasedStateMachine):
    template_url = ""

    contacts = Bundle("contacts")
    requests = Bundle("requests")

    def __init__(self) -> None:
        super().__init__()
        url, self.folder = _copy_template(self.template_url)
        self.clock = FrozenClock(START)
        self.app = create_app(
            make_settings(
                url,
                MASH_APP__INSTANCE_PATH=str(self.folder / "instance"),
                MASH_API__TOKEN_LIFETIME="30 days",
            ),
            clock=self.clock,
        )
        self.client = self.app.test_client()
        self.rag: dict[str, str] = {}
        self.model: dict[str, ModelRequest] = {}
        self.answers = 0

    def teardown(self) -> None:
        database: Database = self.app.extensions["mash.db"]
        database.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _token(self, agency: str, scopes: frozenset[Scope]) -> dict[str, str]:
        with self.app.app_context():
            database: Database = self.app.extensions["mash.db"]
            with database.transaction() as db:
                api_client, secret = identity.create_client(db, agency_code=agency, scopes=scopes)
                client_id = api_client.client_id
        response = self.client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        return {"Authorization": f"Bearer {response.json['access_token']}"}

    @initialize()
    def set_up(self) -> None:
        with self.app.app_context():
            database: Database = self.app.extensions["mash.db"]
            with database.transaction() as db:
                identity.ensure_agencies(db)
        self.police = self._token(
            "police", frozenset({Scope.CONTACTS_WRITE, Scope.SCREENING_READ, Scope.SCREENING_WRITE})
        )
        self.partner = {
            agency: self._token(agency, frozenset({Scope.REQUESTS_READ, Scope.CONTRIBUTIONS_WRITE}))
            for agency in PARTNERS
        }

    def _now(self) -> datetime:
        return self.clock.now()

    def _lapsed(self, req: ModelRequest) -> bool:
        return self._now() >= req.due_at

    # --- rules -----------------------------------------------------------------------

    @rule(target=contacts, rag=st.sampled_from(["red", "amber", "green"]))
    def new_contact(self, rag: str) -> str:
        body = dict(CONTACT, received_at=(self._now() - timedelta(minutes=5)).isoformat())
        created = self.client.post("/api/v1/contacts", json=body, headers=self.police)
        assert created.status_code == 201
        contact_id = created.json["id"]
        self._rate(contact_id, rag)
        return contact_id

    def _rate(self, contact_id: str, rag: str) -> None:
        rated = self.client.post(
            f"/api/v1/contacts/{contact_id}/rating",
            json={"rag": rag, "rationale": "because"},
            headers=self.police,
        )
        assert rated.status_code == 200
        self.rag[contact_id] = rag
        if rag == "green":
            for req in self.model.values():
                if req.contact == contact_id and req.status == "open" and not self._lapsed(req):
                    req.status = "withdrawn"

    @rule(contact=contacts, rag=st.sampled_from(["red", "amber", "green"]))
    def rerate(self, contact: str, rag: str) -> None:
        self._rate(contact, rag)

    @rule(target=requests, contact=contacts, agency=st.sampled_from(PARTNERS))
    def send(self, contact: str, agency: str) -> str:
        response = self.client.post(
            f"/api/v1/contacts/{contact}/requests",
            json={"agency": agency, "question": "Known to you?"},
            headers=self.police,
        )
        live = [
            r
            for r in self.model.values()
            if r.contact == contact
            and r.agency == agency
            and (r.status == "answered" or (r.status == "open" and not self._lapsed(r)))
        ]
        if self.rag[contact] not in ("red", "amber") or live:
            assert response.status_code == 409, response.json
            return ""
        assert response.status_code == 201, response.json
        due = datetime.fromisoformat(response.json["due_at"])
        assert due > self._now()
        req = ModelRequest(response.json["id"], contact, agency, due, "open")
        self.model[req.id] = req
        return req.id

    @rule(request_id=requests, reader=st.sampled_from(PARTNERS))
    def read(self, request_id: str, reader: str) -> None:
        if not request_id:
            return
        req = self.model[request_id]
        response = self.client.get(f"/api/v1/requests/{request_id}", headers=self.partner[reader])
        visible = (
            reader == req.agency and req.status in ("open", "answered") and not self._lapsed(req)
        )
        if not visible:
            assert response.status_code == 404
            assert response.json == {"error": "not_found", "message": "no such record"}
            return
        assert response.status_code == 200
        answer = response.json["answer"]
        if req.answer_text is None:
            assert answer is None
        else:
            assert answer["agency"] == reader
            assert [item["text"] for item in answer["items"]] == [req.answer_text]
        # Never another agency's answer, never the concern.
        for other in self.model.values():
            if other.agency != reader and other.answer_text:
                assert other.answer_text not in response.text
        assert "Neighbour reports" not in response.text

    @rule(request_id=requests, writer=st.sampled_from(PARTNERS))
    def answer(self, request_id: str, writer: str) -> None:
        if not request_id:
            return
        req = self.model[request_id]
        self.answers += 1
        text = f"answer {self.answers} from {writer}"
        response = self.client.post(
            f"/api/v1/requests/{request_id}/response",
            json={"outcome": "information_held", "items": [{"kind": "fact", "text": text}]},
            headers=self.partner[writer],
        )
        if writer != req.agency:
            assert response.status_code == 404
        elif req.status != "open" or self._lapsed(req):
            assert response.status_code == 409, response.json
        else:
            assert response.status_code == 201, response.json
            req.status = "answered"
            req.answer_text = text

    @rule(minutes=st.integers(min_value=1, max_value=400))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    # --- invariants ------------------------------------------------------------------

    @invariant()
    def each_inbox_holds_exactly_its_open_requests(self) -> None:
        if not hasattr(self, "partner"):
            return
        for agency, headers in self.partner.items():
            listed = {
                r["id"]
                for r in self.client.get("/api/v1/requests", headers=headers).json["requests"]
            }
            expected = {
                r.id
                for r in self.model.values()
                if r.agency == agency and r.status == "open" and not self._lapsed(r)
            }
            assert listed == expected


def test_requests_against_the_model(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the machine copies a SQLite template per example")
    RequestMachine.template_url = database_url
    run_state_machine_as_test(
        RequestMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
