"""Demo cases for `mash-hub demo`: a few invented contacts at different stages, entered
through the hub's own JSON API with the demo agency systems, so every one of them passed
the gate, the firewall and the audit exactly as a real one would.

Every name, address and identifier here is invented. NHS numbers use the 999 range, which
the NHS never issues.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient


class DemoCaseError(RuntimeError):
    """The hub refused a demo case: the message names the call and its answer."""


@dataclass(frozen=True)
class Case:
    hours_ago: float
    source: str
    concern: str
    child: dict[str, str]
    adults: tuple[dict[str, str], ...] = ()
    rag: str | None = None
    rationale: str = ""
    ask: tuple[tuple[str, str], ...] = ()
    answers: Mapping[str, dict[str, Any]] | None = None


CASES = (
    Case(
        hours_ago=1.5,
        source="police",
        concern="Officers attended a domestic incident; a nine-year-old was present and upset.",
        child={"given_name": "Ellie", "family_name": "Marsh", "date_of_birth": "2017-03-14",
               "address": "14 Orchard Road, Exampleton", "nhs_number": "9990000018"},
        adults=({"role": "parent", "given_name": "Dana", "family_name": "Marsh"},),
    ),
    Case(
        hours_ago=5,
        source="education",
        concern="Child has arrived hungry and in the same clothes for a week; attendance falling.",
        child={"given_name": "Tom", "family_name": "Reed", "date_of_birth": "2014-09-02",
               "address": "3 Mill Lane, Exampleton", "nhs_number": "9990000026"},
        adults=({"role": "carer", "given_name": "Lee", "family_name": "Reed"},),
        rag="amber",
        rationale="Possible neglect; partners' knowledge needed before a decision.",
        ask=(("health", "Is the family known? Any missed appointments?"),
             ("education", "Attendance and any concerns raised this term?")),
        answers={"health": {"outcome": "information_held", "items": [
            {"kind": "fact", "text": "Two missed health visitor appointments since June."},
            {"kind": "opinion", "text": "GP has concerns about the carer's health.",
             "restricted": True}]}},
    ),
    Case(
        hours_ago=0.5,
        source="police",
        concern="Child disclosed an injury caused by an adult in the household.",
        child={"given_name": "Priya", "family_name": "Shah", "date_of_birth": "2012-01-20",
               "address": "9 Station Street, Exampleton", "nhs_number": "9990000034"},
        adults=({"role": "alleged_perpetrator", "given_name": "Rob", "family_name": "Kent"},),
        rag="red",
        rationale="Disclosure of physical harm: strategy discussion likely.",
        ask=(("probation", "Is the named adult known to probation?"),),
    ),
)  # fmt: skip


def _call(web: FlaskClient, method: str, path: str, token: str, body: Any = None) -> Any:
    response = web.open(path, method=method, json=body, headers={"Authorization": token})
    if response.status_code >= 300:
        raise DemoCaseError(f"{method} {path}: {response.status_code} {response.get_data(True)}")
    return response.get_json()


def _token(web: FlaskClient, client: Mapping[str, Any]) -> str:
    response = web.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
    )
    if response.status_code != 200:
        raise DemoCaseError(f"token for {client['agency']}: {response.status_code}")
    return f"Bearer {response.get_json()['access_token']}"


def load(app: Flask, clients: list[dict[str, Any]], now: datetime) -> list[str]:
    """Enter the demo cases; returns their references."""
    web = app.test_client()

    def system(agency: str, scope: str) -> str:
        client = next(c for c in clients if c["agency"] == agency and scope in c["scopes"])
        return _token(web, client)

    intake, screening = system("police", "contacts:write"), system("csc", "screening:write")
    references = []
    for case in CASES:
        body = {
            "received_at": (now - timedelta(hours=case.hours_ago)).isoformat(),
            "source": {"agency": case.source, "referrer_name": "Demo referrer",
                       "referrer_role": "Designated safeguarding lead"},
            "concern": case.concern,
            "consent": {"status": "not_sought", "reason": "Child may be at risk of harm"},
            "subjects": [{"role": "child", **case.child}, *case.adults],
        }  # fmt: skip
        created = _call(web, "POST", "/api/v1/contacts", intake, body)
        references.append(created["reference"])
        contact = f"/api/v1/contacts/{created['id']}"
        if case.rag:
            rating = {"rag": case.rag, "rationale": case.rationale}
            _call(web, "POST", f"{contact}/rating", screening, rating)
        for agency, question in case.ask:
            asked = _call(
                web, "POST", f"{contact}/requests", screening,
                {"agency": agency, "question": question},
            )  # fmt: skip
            answer = (case.answers or {}).get(agency)
            if answer is not None:
                partner = system(agency, "contributions:write")
                _call(web, "POST", f"/api/v1/requests/{asked['id']}/response", partner, answer)
    return references
