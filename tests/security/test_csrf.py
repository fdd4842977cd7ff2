"""Forms need the signed-in person's own CSRF token; the API never takes a cookie
(review rows 190-201)."""

from __future__ import annotations

import pytest

from tests.helpers import csrf_token


@pytest.mark.parametrize("token", [None, "", "garbage-token", "another-session"])
@pytest.mark.parametrize("path", ["/contacts/{contact}/rating", "/sign-out"])
def test_a_form_post_without_the_persons_own_token_is_refused(scene, token, path):
    """Rows 190-197."""
    browser = scene.browser("csc screener")
    data = {"rag": "green", "rationale": "forged"}
    if token == "another-session":
        data["csrf_token"] = csrf_token(scene.browser("police screener").get("/").text)
    elif token is not None:
        data["csrf_token"] = token
    answer = browser.post(path.format(contact=scene.contact_id), data=data)
    assert answer.status_code == 400
    assert browser.get("/").status_code == 200  # still signed in: nothing happened


def test_a_json_body_to_a_form_endpoint_is_refused(scene):
    """Row 199."""
    browser = scene.browser("csc screener")
    answer = browser.post(f"/contacts/{scene.contact_id}/rating", json={"rag": "green"})
    assert answer.status_code == 400


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_api_ignores_a_session_cookie(scene, method):
    """Rows 200-201."""
    browser = scene.browser("csc screener")
    answer = browser.open(f"/api/v1/contacts/{scene.contact_id}", method=method, json={})
    assert answer.status_code in (401, 405)
    assert answer.status_code == 401 or method == "POST"
