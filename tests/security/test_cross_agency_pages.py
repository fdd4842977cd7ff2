"""Partner staff stay on their own side of the firewall in the pages (review rows 38-90)."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.helpers import csrf_token
from tests.security.conftest import leaked

MASH_PAGES = [
    "/contacts/{contact}",
    "/contacts/{contact}/decision",
    "/contacts/{contact}/people",
    "/contacts/{contact}/rating",
    "/contacts/{contact}/requests/new",
    "/contacts/{contact}/disclosures/new",
    "/queue",
    "/contacts/new",
    "/people/merges",
    "/disclosures/approvals",
    "/break-glass",
    "/governance/retention",
    "/admin/users",
]


@pytest.mark.parametrize("person", ["health researcher", "education researcher"])
@pytest.mark.parametrize("path", MASH_PAGES)
def test_a_partner_researcher_is_refused_every_mash_page(scene, person, path):
    """Rows 38-69."""
    page = scene.browser(person).get(path.format(contact=scene.contact_id))
    assert page.status_code in (403, 404), page.status_code
    assert leaked(scene, page.text) == []


@pytest.mark.parametrize(
    ("person", "owner"),
    [
        ("health researcher", "education"),  # row 70
        ("health researcher", "probation"),  # row 71
        ("education researcher", "health"),  # row 72: another agency's answered request
    ],
)
def test_another_agencys_request_page_is_not_found(scene, person, owner):
    browser = scene.browser(person)
    page = browser.get(f"/requests/{scene.requests[owner]}")
    missing = browser.get(f"/requests/{uuid.uuid4()}")
    assert page.status_code == missing.status_code == 404
    # Less what differs between any two pages: the CSP nonce, the request id, and the
    # sign-out form's CSRF token (signed to the second).
    strip = re.compile(
        r"nonce[=-]\"?[A-Za-z0-9_-]+|[0-9a-f]{32}|name=\"csrf_token\" value=\"[^\"]*\""
    )
    assert strip.sub("", page.text) == strip.sub("", missing.text)  # row 93
    assert leaked(scene, page.text) == []


def test_a_researcher_cannot_answer_another_agencys_request(scene):
    """Row 74."""
    browser = scene.browser("health researcher")
    inbox = browser.get("/requests")
    answer = browser.post(
        f"/requests/{scene.requests['education']}",
        data={"csrf_token": csrf_token(inbox.text), "outcome": "not_known"},
    )
    assert answer.status_code == 404


def test_a_researcher_sees_its_own_request_without_the_concern(scene):
    """Row 73."""
    page = scene.browser("education researcher").get(f"/requests/{scene.requests['education']}")
    assert page.status_code == 200
    assert leaked(scene, page.text) == []


@pytest.mark.parametrize(
    "path",
    [
        "/governance/audit?contact_id={contact}",
        "/governance/anomalies",
        "/governance/break-glass",
        "/governance/out-of-hours",
        "/governance",
    ],
)
def test_a_partner_governance_lead_sees_only_its_own_trail(scene, path):
    """Rows 76-84, 87."""
    page = scene.browser("health lead").get(path.format(contact=scene.contact_id))
    assert page.status_code == 200
    assert leaked(scene, page.text) == []
    for other in ("Education", "Probation"):
        assert f"{other} 0 answered" not in page.text


def test_a_partner_governance_lead_cannot_open_the_contact(scene):
    """Row 84."""
    assert scene.browser("health lead").get(f"/contacts/{scene.contact_id}").status_code == 403
