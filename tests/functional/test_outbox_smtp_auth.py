"""SMTP with credentials, as a real relay asks for them: the channel logs in with the
user and password from smtp_url (percent-encoded) or from the settings, and a refused
login is a permanent failure (the message is dead, not retried forever)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from mash_hub.config import load_settings
from mash_hub.outbox.channels import SendFailed, SmtpChannel
from mash_hub.outbox.messages import write
from tests.smtp_sink import SinkHandler, free_port

USER, PASSWORD = "mash-hub", "p@ss word:1"
LOGINS: list[str] = []


def check(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(),
        auth_data.password.decode(),
    ) == (USER, PASSWORD)
    if ok:
        LOGINS.append(auth_data.login.decode())
    return AuthResult(success=ok, handled=False)


@contextmanager
def relay():
    handler = SinkHandler()
    port = free_port()
    # Loopback only: AUTH without TLS is allowed here so the test needs no certificate.
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=check,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


def email():
    return write(
        idempotency_key="k1@mash-hub",
        to="mash-health@nhs.example",
        kind="request.sent",
        object_type="InfoRequest",
        object_id="00000000-0000-0000-0000-000000000001",
        contact_reference="MASH-2026-000001",
        about_agency="health",
        recipient_agency="health",
        due_at=None,
        base_url="https://mash.example",
    )


def channel(**env):
    return SmtpChannel(load_settings(None, env).notifications)


@pytest.mark.parametrize("where", ["url", "settings"])
def test_the_channel_logs_in_with_its_credentials(where):
    LOGINS.clear()
    with relay() as (port, handler):
        if where == "url":
            smtp = channel(
                MASH_NOTIFICATIONS__SMTP_URL=f"smtp://{USER}:p%40ss%20word%3A1@127.0.0.1:{port}"
            )
        else:
            smtp = channel(
                MASH_NOTIFICATIONS__SMTP_URL=f"smtp://127.0.0.1:{port}",
                MASH_NOTIFICATIONS__SMTP_USERNAME=USER,
                MASH_NOTIFICATIONS__SMTP_PASSWORD=PASSWORD,
            )
        try:
            smtp.send(email())
        finally:
            smtp.close()
        (received,) = handler.received
        assert received.message["Message-ID"] == "<k1@mash-hub>"
        assert LOGINS[-1:] == [USER]


def test_a_refused_login_is_a_permanent_failure():
    with relay() as (port, handler):
        smtp = channel(
            MASH_NOTIFICATIONS__SMTP_URL=f"smtp://{USER}:wrong@127.0.0.1:{port}",
        )
        try:
            with pytest.raises(SendFailed) as failed:
                smtp.send(email())
        finally:
            smtp.close()
        assert failed.value.permanent and "535" in failed.value.reason
        assert handler.received == []
