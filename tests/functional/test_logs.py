"""Logs carry ids only: never emails, names, passwords, codes or tokens."""

from __future__ import annotations

import json

from mash_hub.authz.permissions import Role
from tests.helpers import current_code, sign_in, sign_out, submit_password


def test_sign_in_logs_hold_no_personal_data_or_secrets(client, make_account, clock, capsys):
    account = make_account(Role.SCREENER, email="canary.person@example.test")
    submit_password(client, account.email, "canary-wrong-password")
    submit_password(client, "canary.unknown@example.test", "canary-wrong-password")
    code = current_code(account.seed, clock)
    sign_in(client, account, clock)
    client.get("/")
    sign_out(client)
    logged = capsys.readouterr().err
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    events = {line["event"] for line in lines}
    assert {"sign_in_password_refused", "sign_in_completed", "signed_out", "request"} <= events
    for secret in (
        "canary",
        account.email,
        account.password,
        code,
        "Test Screener",
    ):
        assert secret not in logged, secret
    assert str(account.user_id) in logged  # ids are what the log is for
