"""Every page form reads whatever it is sent without a server error (security review V14,
issue #12): first each form class on its own (every form the hub has, found by looking,
so a new one is fuzzed without anyone adding it here), then every form endpoint posted
to through the app, signed in as someone allowed to use it, with the person's own CSRF
token so the fuzz reaches the form rather than stopping at CSRF.

CI runs 20,000 form readings and 25 posts per endpoint in its SQLite pass; `make nightly`
(MASH_HYPOTHESIS_PROFILE=nightly) runs ten times as many."""

from __future__ import annotations

import importlib
import inspect
import os
import uuid
from pathlib import Path

import pytest
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from tests.helpers import csrf_token

SCALE = 10 if os.environ.get("MASH_HYPOTHESIS_PROFILE") == "nightly" else 1
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("MASH_TEST_DATABASE_URL")),
    reason="fuzzing once is enough: the SQLite pass runs it",
)
FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ],
)


def _all_forms() -> list[type[FlaskForm]]:
    found = []
    for path in sorted(Path(__file__).resolve().parents[2].glob("mash_hub/*/forms.py")):
        module = importlib.import_module(f"mash_hub.{path.parent.name}.forms")
        found += [
            cls
            for _name, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, FlaskForm) and cls.__module__ == module.__name__
        ]
    return found


FORMS = _all_forms()
any_text = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),
    st.sampled_from(
        ["", " ", "red", "amber", "green", "0", "-1", "2026-13-45", "25:99", "y" * 5000]
    ),
    st.sampled_from(["not_known", "information_held", "approve", "justified", "health"]),
    st.uuids().map(str),
)


def _field_names(form_class: type[FlaskForm]) -> list[str]:
    names = [
        name for name, value in inspect.getmembers(form_class) if hasattr(value, "field_class")
    ]
    return names + [f"{name}-0-{part}" for name in names for part in ("given_name", "role")]


@st.composite
def form_data(draw: st.DrawFn, names: list[str]) -> MultiDict[str, str]:
    keys = st.one_of(st.sampled_from(names), any_text) if names else any_text
    return MultiDict(draw(st.lists(st.tuples(keys, any_text), max_size=12)))


def test_every_form_of_the_hub_is_fuzzed():
    assert len(FORMS) >= 25, [form.__name__ for form in FORMS]


@settings(FUZZ, max_examples=20_000 * SCALE)
@given(data=st.data())
def test_every_form_reads_anything_without_raising(app, data):
    form_class = data.draw(st.sampled_from(FORMS))
    formdata = data.draw(form_data(_field_names(form_class)))
    with app.test_request_context("/", method="POST"):
        form = form_class(formdata=formdata, meta={"csrf": False})
        for field in form:
            # Views fill some choices from the database; any list will do here.
            if getattr(field, "choices", ...) is None:
                field.choices = [("a", "A"), ("b", "B")]
        assert form.validate() in (True, False)


# Each form endpoint, who may post to it, and the fields its form reads.
ENDPOINTS = [
    ("/contacts/new", "csc screener", "IntakeForm"),
    ("/contacts/{contact}/rating", "csc screener", "RatingForm"),
    ("/contacts/{contact}/decision", "csc screener", "ProposalForm"),
    ("/contacts/{contact}/decision/review", "csc manager", "ReviewForm"),
    ("/contacts/{contact}/acknowledgement", "csc screener", "AcknowledgementForm"),
    ("/contacts/{contact}/requests/new", "csc screener", "SendRequestForm"),
    ("/contacts/{contact}/people/merge", "csc screener", "MergeForm"),
    ("/contacts/{contact}/disclosures/new", "csc manager", "DisclosureForm"),
    ("/requests/{health_request}", "health researcher", "AnswerForm"),
    ("/break-glass", "csc manager", "BreakGlassForm"),
    ("/people/merges/{random}/decision", "csc manager", "MergeDecisionForm"),
    ("/disclosures/{random}/approval", "health lead", "ApprovalForm"),
    ("/governance/retention/{random}/hold", "csc lead", "HoldForm"),
    ("/governance/audit/export", "csc lead", "ExportForm"),
]
BY_NAME = {form.__name__: form for form in FORMS}


@pytest.mark.parametrize(("path", "person", "form_name"), ENDPOINTS)
def test_every_form_endpoint_answers_anything_without_a_server_error(
    scene, path, person, form_name
):
    browser = scene.browser(person)
    token = csrf_token(browser.get("/").text)
    target = path.format(
        contact=scene.contact_id,
        health_request=scene.requests["health"],
        random=uuid.uuid4(),
    )
    names = _field_names(BY_NAME[form_name])
    statuses: set[int] = set()

    @settings(FUZZ, max_examples=25 * SCALE)
    @given(formdata=form_data(names))
    def post(formdata: MultiDict[str, str]) -> None:
        body = [(key, value) for key, value in formdata.items(multi=True)]
        body.append(("csrf_token", token))
        # What a browser sends is UTF-8: text that is not Unicode cannot be sent at all.
        sendable = MultiDict([(_utf8(key), _utf8(value)) for key, value in body])
        answer = browser.post(target, data=sendable)
        assert answer.status_code < 500, (target, body, answer.status_code)
        statuses.add(answer.status_code)

    post()
    # The posts reached the form (a refused CSRF token would be 400 every time).
    assert statuses - {400}, statuses


def _utf8(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")
