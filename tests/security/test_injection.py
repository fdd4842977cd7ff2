"""What a caller types is data, never code: SQL, HTML, spreadsheet formulas, paths
(review rows 265-334, the injection groups)."""

from __future__ import annotations

import pytest

from mash_hub.governance import exports
from tests.functional.test_contacts_api import CONTACT

SQL = ["' OR 1=1 --", "1; DROP TABLE contacts; --", '" OR ""="', "%' OR '%'='"]


@pytest.mark.parametrize("payload", SQL)
def test_sql_in_an_id_or_a_search_is_only_text(client, scene, payload):
    api = client.get(f"/api/v1/requests/{payload}", headers=scene.tokens["health"])
    assert api.status_code == 404
    lead = scene.browser("health lead")
    for field in ("reference", "contact_id", "person", "agency"):
        page = lead.get("/governance/audit", query_string={field: payload})
        assert page.status_code in (200, 400), (field, page.status_code)
    # The trail and the contacts are still all there.
    still = client.get(f"/api/v1/contacts/{scene.contact_id}", headers=scene.tokens["police"])
    assert still.status_code == 200


def test_markup_typed_into_a_contact_is_shown_as_text(client, scene):
    script = "<script>alert('x')</script>"
    image = '<img src=x onerror="alert(1)">'
    body = {
        **CONTACT,
        "concern": f"Concern {script}",
        "subjects": [{**CONTACT["subjects"][0], "given_name": image}],
    }
    created = client.post("/api/v1/contacts", json=body, headers=scene.tokens["police"])
    assert created.status_code == 201, created.json
    contact_id = created.json["id"]
    client.post(
        f"/api/v1/contacts/{contact_id}/rating",
        json={"rag": "amber", "rationale": script},
        headers=scene.tokens["police"],
    )
    for path in (f"/contacts/{contact_id}", "/queue"):
        page = scene.browser("csc manager").get(path)
        assert page.status_code == 200
        assert script not in page.text and image not in page.text
    page = scene.browser("csc manager").get(f"/contacts/{contact_id}")
    assert "&lt;script&gt;" in page.text


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://evil")', "+1+1", "-2", "@SUM(A1)", "\tx"])
def test_an_export_cell_that_would_run_as_a_formula_is_defused(cell):
    assert exports.safe_cell(cell) == "'" + cell
    assert exports.safe_cell("plain text") == "plain text"


@pytest.mark.parametrize(
    "path",
    [
        "/static/../mash_hub/config.py",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
        "/static/..%2f..%2fpyproject.toml",
        "/static/hub.css/../../config.example.toml",
    ],
)
def test_no_path_leaves_the_static_folder(client, path):
    with client.get(path) as answer:
        assert answer.status_code == 404
        assert b"[database]" not in answer.data and b"def " not in answer.data
