"""Every answer carries the hub's protective headers, and the Host a caller sends is never
reflected (review rows 202-216; the served Server banner, row 210, is checked against the
real server in tests/functional/test_served_headers.py)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("path", "cache"),
    [
        ("/", "no-store"),
        ("/sign-in", "no-store"),
        ("/no-such-page", "no-store"),
        ("/api/v1/openapi.json", "no-store"),
        ("/static/hub.css", None),
    ],
)
def test_protective_headers_on_every_kind_of_answer(client, path, cache):
    """Rows 202-209."""
    with client.get(path) as answer:
        _check(answer, cache)


def _check(answer, cache: str | None) -> None:
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    if cache:
        assert answer.headers["Cache-Control"] == cache
    assert "Server" not in answer.headers


def test_a_signed_in_page_is_never_cached(scene):
    answer = scene.browser("csc screener").get(f"/contacts/{scene.contact_id}")
    assert answer.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5202"])
def test_a_foreign_host_is_never_reflected(client, host):
    """Rows 211-216 (with `[app] public_url` set, such a Host is refused outright: see
    tests/functional/test_public_address.py)."""
    answer = client.get("/", headers={"Host": host})
    assert answer.status_code in (302, 400)
    assert "evil.example" not in answer.text
    assert "evil.example" not in answer.headers.get("Location", "")
