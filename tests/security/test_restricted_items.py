"""A restricted item reaches only those its agreement names (review rows 104-140)."""

from __future__ import annotations

import pytest

from tests.security.conftest import HEALTH_FACT, RESTRICTED, leaked

CONTACT_PAGES = ["", "/decision", "/people", "/rating"]


@pytest.mark.parametrize("person", ["csc screener", "police screener"])
@pytest.mark.parametrize("part", CONTACT_PAGES)
def test_screeners_never_see_the_restricted_item(scene, person, part):
    """Rows 104-113."""
    page = scene.browser(person).get(f"/contacts/{scene.contact_id}{part}")
    assert page.status_code == 200
    assert RESTRICTED not in page.text


@pytest.mark.parametrize("person", ["csc screener", "police screener"])
def test_the_queue_holds_no_case_content(scene, person):
    """Rows 114-115."""
    page = scene.browser(person).get("/queue")
    assert page.status_code == 200
    assert leaked(scene, page.text) == []


def test_the_manager_sees_it_and_the_screener_sees_that_it_exists(scene):
    """Row 116, and what the screener is told instead."""
    manager = scene.browser("csc manager").get(f"/contacts/{scene.contact_id}")
    assert RESTRICTED in manager.text and HEALTH_FACT in manager.text
    screener = scene.browser("csc screener").get(f"/contacts/{scene.contact_id}")
    assert "Confidential information held by Health" in screener.text


@pytest.mark.parametrize(
    "path", ["/api/v1/contacts/{contact}", "/api/v1/contacts/{contact}/contributions"]
)
def test_screening_systems_never_receive_the_restricted_item(client, scene, path):
    """Rows 117-120."""
    answer = client.get(path.format(contact=scene.contact_id), headers=scene.tokens["police"])
    assert answer.status_code == 200
    assert RESTRICTED not in answer.text


@pytest.mark.parametrize("person", ["education researcher", "health lead", "csc lead", "csc admin"])
@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/contacts/{contact}",
        "/requests",
        "/governance",
        "/governance/audit",
        "/disclosures/approvals",
    ],
)
def test_no_page_leaks_case_content_to_those_outside_screening(scene, person, path):
    """Rows 121-124: page sweeps as a partner researcher, leads and an administrator."""
    page = scene.browser(person).get(path.format(contact=scene.contact_id))
    assert leaked(scene, page.text) == [], (person, path, page.status_code)


def test_the_originating_agency_reads_its_own_restricted_item(client, scene):
    own = client.get(f"/api/v1/requests/{scene.requests['health']}", headers=scene.tokens["health"])
    assert RESTRICTED in own.text
