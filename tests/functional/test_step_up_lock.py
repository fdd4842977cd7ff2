"""Fresh security codes for sensitive actions cannot be guessed without limit (security
review V2): wrong codes count like sign-in failures, lock the account's step-up for the
window, are audited, and the agency's governance lead is told in the hub."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from mash_hub.audit.models import AuditEvent
from mash_hub.authz.permissions import Role
from mash_hub.db import Database
from tests.helpers import csrf_token, current_code, sign_in


def _export(web, code: str):
    page = web.get("/governance/audit/export")
    return web.post(
        "/governance/audit/export", data={"code": code, "csrf_token": csrf_token(page.text)}
    )


def _refusals(app) -> int:
    database: Database = app.extensions["mash.db"]
    with database.transaction() as session:
        return session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == "step_up.refused")
        )


def test_ten_wrong_codes_lock_step_up_and_tell_the_lead(app, make_account, clock):
    lead = make_account(Role.GOVERNANCE_LEAD, "health")
    web = app.test_client()
    sign_in(web, lead, clock)
    for _ in range(10):
        wrong = _export(web, "000000")
        assert wrong.status_code == 200
        assert "The security code is not correct" in wrong.text
    assert _refusals(app) == 10

    # Locked: even the right code is refused now, and the refusal is audited.
    clock.advance(timedelta(seconds=31))
    locked = _export(web, current_code(lead.seed, clock))
    assert locked.status_code == 200
    assert "Too many wrong security codes: try again after" in locked.text
    assert "(UK time)" in locked.text
    assert _refusals(app) == 11

    # The agency's other governance lead sees who was locked out.
    other = app.test_client()
    sign_in(other, make_account(Role.GOVERNANCE_LEAD, "health"), clock)
    home = other.get("/").text
    assert "Accounts held back" in home and "Test Governance lead" in home
    # Another agency's lead is not told.
    elsewhere = app.test_client()
    sign_in(elsewhere, make_account(Role.GOVERNANCE_LEAD, "education"), clock)
    assert "Accounts held back" not in elsewhere.get("/").text

    # After the window the right code works again.
    clock.advance(timedelta(minutes=5))
    done = _export(web, current_code(lead.seed, clock))
    assert done.status_code == 200
    assert done.headers["Content-Type"].startswith("text/csv")
