"""Prometheus metrics at /metrics (issue #18, item 2): behind a token, counting requests
and firewall decisions, reading the trail's and the scheduler's state when scraped, and
never carrying an id or a person's details in a label."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mash_hub.authz.permissions import Scope
from mash_hub.config import ConfigError, MetricsSettings, Settings
from tests.audit_trail import write_events
from tests.conftest import make_settings
from tests.faults.load import token as served_token
from tests.functional.test_contacts_api import CONTACT, token
from tests.served import hub_env, run_command, served

TOKEN = "m" * 40
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}
UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)


@pytest.fixture
def settings(test_db_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        test_db_url,
        MASH_APP__INSTANCE_PATH=str(tmp_path / "instance"),
        MASH_METRICS__TOKEN=TOKEN,
    )


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_off_without_a_token(test_db_url, tmp_path, clock):
    from mash_hub import create_app

    app = create_app(make_settings(test_db_url, MASH_APP__INSTANCE_PATH=str(tmp_path)), clock=clock)
    try:
        assert app.test_client().get("/metrics", headers=SCRAPE).status_code == 404
    finally:
        app.extensions["mash.db"].dispose()


def test_a_short_token_is_refused_at_start(test_db_url):
    with pytest.raises(ConfigError, match=r"\[metrics\] token.*at least 32 characters"):
        make_settings(test_db_url, MASH_METRICS__TOKEN="too-short")


def test_metrics_need_the_token(client):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.json == {
            "error": "invalid_token",
            "message": "a valid metrics token is required",
        }
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    answer = client.get("/metrics", headers=SCRAPE)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")


def test_requests_and_decisions_are_counted_by_route_and_action(client, make_client):
    police = token(client, make_client, "police", Scope.CONTACTS_WRITE, Scope.SCREENING_READ)
    created = client.post("/api/v1/contacts", json=CONTACT, headers=police)
    assert created.status_code == 201
    contact = f"/api/v1/contacts/{created.json['id']}"
    assert client.get(contact, headers=police).status_code == 200
    missing = f"/api/v1/contacts/{uuid.uuid4()}"
    assert client.get(missing, headers=police).status_code == 404  # refused by the firewall
    text = client.get("/metrics", headers=SCRAPE).text
    assert (
        value(
            text,
            "mash_http_requests_total",
            endpoint="casefile_api.api_show",
            method="GET",
            status="200",
        )
        == 1
    )
    assert value(
        text, "mash_http_requests_total", endpoint="contacts_api.api_create", method="POST",
        status="201",
    ) == 1  # fmt: skip
    assert value(
        text, "mash_http_request_duration_seconds_count",
        endpoint="casefile_api.api_show", method="GET",
    ) == 2  # fmt: skip
    assert value(text, "mash_decisions_total", action="contact:read", outcome="allowed") >= 1
    assert value(text, "mash_decisions_total", action="contact:read", outcome="denied") >= 1
    client.get("/no/such/page/12345")
    text = client.get("/metrics", headers=SCRAPE).text
    assert value(
        text, "mash_http_requests_total", endpoint="unmatched", method="GET", status="404"
    ) == 1  # fmt: skip


def test_no_label_carries_an_id_or_a_persons_details(client, make_client):
    police = token(client, make_client, "police", Scope.CONTACTS_WRITE, Scope.SCREENING_READ)
    created = client.post("/api/v1/contacts", json=CONTACT, headers=police).json
    client.get(f"/api/v1/contacts/{created['id']}", headers=police)
    client.get(f"/contacts/{created['id']}")
    client.get("/sign-in?next=/contacts/" + created["id"])
    text = client.get("/metrics", headers=SCRAPE).text
    labels = [v for (_name, pairs) in samples(text) for _k, v in pairs]
    assert labels
    for label in labels:
        assert not UUID.search(label), label
        assert "@" not in label and "MASH-" not in label
        for subject in CONTACT["subjects"]:
            assert subject["family_name"] not in label


def test_the_trails_state_is_read_when_scraped(app, client, trail):
    text = client.get("/metrics", headers=SCRAPE).text
    assert value(text, "mash_scheduler_leader") == 0
    write_events(app, 5)
    text = client.get("/metrics", headers=SCRAPE).text
    assert value(text, "mash_audit_events_unsealed") == 5
    trail.seal()
    text = client.get("/metrics", headers=SCRAPE).text
    assert value(text, "mash_audit_events_unsealed") == 0
    assert 0 <= value(text, "mash_audit_seconds_since_checkpoint") < 3600 * 24 * 366


def test_two_workers_counts_are_summed(tmp_path: Path, clean_database: str) -> None:
    run_command(tmp_path, clean_database, "demo", "--no-cases")
    credentials = json.loads((tmp_path / "instance" / "demo-credentials.json").read_text())
    police = next(c for c in credentials["clients"] if c["agency"] == "police")
    counts = tmp_path / "counts"
    with served(
        tmp_path, clean_database, workers=2, MASH_METRICS__TOKEN=TOKEN,
        MASH_METRICS__DIRECTORY=str(counts),
    ) as hub:  # fmt: skip
        hub.get("/healthz")
        served_token(hub, police)
        for _ in range(29):
            assert hub.get("/healthz")[0].status == 200
        answer, body = hub.get("/metrics", **SCRAPE)
        assert answer.status == 200
        text = body.decode()
        pids = {p.stem.rsplit("_", 1)[-1] for p in counts.glob("*.db")}
    assert value(
        text, "mash_http_requests_total", endpoint="operations.healthz", method="GET",
        status="200",
    ) == 30  # fmt: skip
    assert value(
        text, "mash_http_requests_total", endpoint="oauth.issue_token", method="POST",
        status="200",
    ) == 1  # fmt: skip
    assert len(pids) >= 2, pids  # both workers counted, each in its own file
    assert not list(counts.glob("*.db"))  # given back when the server stopped


def test_the_outbox_depth_is_read_when_scraped(app, client):
    """Queued and dead messages are counted (on PostgreSQL too, where the outbox is the
    system's to read); an operator's alert needs no SQL."""
    from mash_hub.authz.permissions import Role
    from mash_hub.db import Database
    from mash_hub.notifications.services import notify

    text = client.get("/metrics", headers=SCRAPE).text
    assert value(text, "mash_outbox_messages", state="queued") == 0
    database: Database = app.extensions["mash.db"]
    with app.app_context(), database.transaction() as session:
        notify(
            session,
            agency="health",
            role=Role.AGENCY_RESEARCHER,
            kind="request.sent",
            object_type="InfoRequest",
            object_id=str(uuid.uuid4()),
            contact_reference="MASH-2026-000001",
        )
    text = client.get("/metrics", headers=SCRAPE).text
    # No researcher or mailbox in health here: the event once for health's systems.
    assert value(text, "mash_outbox_messages", state="queued") == 1
    assert value(text, "mash_outbox_messages", state="dead") == 0


def test_the_default_counts_folder_is_given_back(tmp_path: Path, clean_database: str) -> None:
    """Off the database's disk by default, in memory (/dev/shm): the folder goes when the
    server stops, so memory is not left holding one per instance ever served."""
    folder = MetricsSettings().directory_for(str(tmp_path / "instance"))
    with served(tmp_path, clean_database, MASH_METRICS__TOKEN=TOKEN) as hub:
        assert hub.get("/healthz")[0].status == 200
        assert folder.is_dir()
    assert not folder.exists()


def test_a_counts_folder_others_can_write_is_refused(tmp_path: Path, clean_database: str) -> None:
    """The default folder is in /dev/shm, shared by every user of the machine: one made
    first by someone else (or opened to them) is not used to hold the workers' counts."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    done = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "mash_hub", "serve", "--port", "1"],
        cwd=tmp_path,
        env=hub_env(tmp_path, clean_database, MASH_METRICS__DIRECTORY=str(shared)),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode != 0
    assert f"{shared} is not this user's own folder" in done.stderr
