"""Rating on the page: rationale required, history and deadline shown, and two screeners
rating at once: the second is told, sees the current rating, and loses nothing."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from mash_hub.authz.permissions import Role
from mash_hub.contacts.models import ContactRating
from mash_hub.db import Database
from tests.helpers import csrf_token


def ratings(app) -> int:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(ContactRating)) or 0


def seen(html: str) -> str:
    match = re.search(
        r'name="seen_ratings"[^>]*value="(\d+)"|value="(\d+)"[^>]*name="seen_ratings"', html
    )
    assert match, "no seen_ratings field"
    return match.group(1) or match.group(2)


def test_amber_with_rationale_shows_deadline_time_left_and_who(app, screener, contact_id):
    path = f"/contacts/{contact_id}/rating"
    response = screener.post_form(
        path, {"rag": "amber", "rationale": "Needs partner checks", "seen_ratings": "0"}
    )
    assert response.status_code == 302
    page = screener.get(path).text
    # 24 working hours from Monday 09:15 on a 09:00-17:00 calendar: Thursday 09:15.
    assert "3 December 2026 at 9:15am" in page
    assert "2 days 23 hours left" in page  # the clock reads Monday 10:00 (plus sign-in)
    assert "Needs partner checks" in page
    assert "Test Screener" in page  # who rated it
    assert ratings(app) == 1


def test_a_rationale_is_required(app, screener, contact_id):
    path = f"/contacts/{contact_id}/rating"
    response = screener.post_form(path, {"rag": "red", "rationale": "  ", "seen_ratings": "0"})
    assert response.status_code == 200
    assert "There is a problem" in response.text
    assert "Give the reason for this rating" in response.text
    assert ratings(app) == 0


def test_the_second_screener_is_told_and_keeps_their_words(app, person, contact_id):
    first, second = person(Role.SCREENER, "police"), person(Role.SCREENER, "csc")
    path = f"/contacts/{contact_id}/rating"
    first_page = first.get(path).text
    second_page = second.get(path).text  # both open the page before either saves
    assert seen(first_page) == seen(second_page) == "0"

    saved = first.client.post(
        path,
        data={"rag": "red", "rationale": "Injury seen at school", "seen_ratings": "0",
              "csrf_token": csrf_token(first_page)},
    )  # fmt: skip
    assert saved.status_code == 302
    clash = second.client.post(
        path,
        data={"rag": "green", "rationale": "My careful reasoning about low-level need",
              "seen_ratings": "0", "csrf_token": csrf_token(second_page)},
    )  # fmt: skip
    assert clash.status_code == 200
    assert 'id="rating-conflict"' in clash.text
    assert "Someone else rated this contact" in clash.text
    assert 'id="current-rating">RED' in clash.text
    assert "Injury seen at school" in clash.text
    assert "My careful reasoning about low-level need" in clash.text  # nothing lost
    assert ratings(app) == 1

    # Submitting again, knowingly, takes their rating.
    again = second.client.post(
        path,
        data={"rag": "green", "rationale": "My careful reasoning about low-level need",
              "seen_ratings": seen(clash.text), "csrf_token": csrf_token(clash.text)},
    )  # fmt: skip
    assert again.status_code == 302
    assert ratings(app) == 2


def test_a_partner_cannot_open_the_rating_page(person, contact_id):
    assert person(Role.SCREENER, "health").get(f"/contacts/{contact_id}/rating").status_code == 404
    assert (
        person(Role.AGENCY_RESEARCHER, "health").get(f"/contacts/{contact_id}/rating").status_code
        == 403
    )


def test_the_same_rating_sent_twice_at_once_is_saved_once(app, screener, contact_id, monkeypatch):
    """Usability review m22: two identical POSTs racing each other (a network retry) both
    saved, giving the history row "AMBER (was AMBER)". The same rating again changed no
    column of the contact, so its version was never checked."""
    from mash_hub.contacts import services as contacts

    path = f"/contacts/{contact_id}/rating"
    form = {"rag": "amber", "rationale": "Needs partner checks", "seen_ratings": "0"}
    assert screener.post_form(path, form).status_code == 302
    page = screener.get(path).text
    retry = {**form, "seen_ratings": seen(page), "csrf_token": csrf_token(page)}

    real = contacts.rate_contact
    raced: list = []

    def rate_while_the_retry_lands(*args, **kwargs):
        if not raced:  # the first request has read the contact; the retry overtakes it
            raced.append(None)
            raced[0] = screener.client.post(path, data=retry)
        return real(*args, **kwargs)

    monkeypatch.setattr(contacts, "rate_contact", rate_while_the_retry_lands)
    first = screener.client.post(path, data=retry)
    assert raced[0].status_code == 302
    assert first.status_code == 200 and 'id="rating-conflict"' in first.text
    assert ratings(app) == 2  # the first rating and one of the two identical ones
