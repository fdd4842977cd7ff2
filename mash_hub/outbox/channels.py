"""The ways an email leaves the hub, chosen by `[notifications] channel` (see
`NotificationsSettings.chosen_channel`): SMTP (a council's relay, or a local server in
development), GOV.UK Notify, or the log (development and the demo, when no smtp_url is set).

A channel raises `SendFailed` when a message did not go: `permanent` when trying again
cannot help (a refused address, a missing template), so the message is dead at once.

Idempotency: every attempt at one message carries the same key, as the email's
Message-ID header and as Notify's `reference`. SMTP receivers and mail stores drop a
repeated Message-ID (e.g. Exchange, Gmail and Dovecot's duplicate suppression), so a
message re-sent after a delivery process died between sending and recording it reaches
the reader once. Notify keeps the reference with the notification, so a repeat can be
found by it.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol
from urllib.parse import unquote, urlsplit

import structlog

from mash_hub.config import NotificationsSettings
from mash_hub.outbox.messages import Email

log = structlog.get_logger("mash_hub.outbox")


class SendFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:500]
        self.permanent = permanent


class Channel(Protocol):
    name: str

    def send(self, email: Email) -> None: ...

    def close(self) -> None: ...


def message_id(key: str) -> str:
    return f"<{key}>"


class SmtpChannel:
    """SMTP, one connection held across a delivery cycle (reopened after a failure)."""

    name = "smtp"

    def __init__(self, settings: NotificationsSettings) -> None:
        parts = urlsplit(settings.smtp_url)
        self._tls = parts.scheme == "smtps"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (465 if self._tls else 25)
        self._username = unquote(parts.username) if parts.username else settings.smtp_username
        self._password = unquote(parts.password) if parts.password else settings.smtp_password
        self._starttls = settings.smtp_starttls
        self._ca_file = settings.smtp_ca_file or None
        self._timeout = max(1, settings.smtp_timeout.seconds)
        self._sender = settings.from_address
        self._connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        context = ssl.create_default_context(cafile=self._ca_file)
        connection: smtplib.SMTP
        if self._tls:
            connection = smtplib.SMTP_SSL(
                self._host, self._port, timeout=self._timeout, context=context
            )
        else:
            connection = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        try:
            if self._starttls and not self._tls:
                connection.starttls(context=context)
            if self._username:
                connection.login(self._username, self._password)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def send(self, email: Email) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id(email.idempotency_key)
        message["X-MASH-Kind"] = email.kind
        message.set_content(email.body)
        try:
            self._connect().send_message(message)
        except smtplib.SMTPRecipientsRefused as refused:
            codes = [code for code, _ in refused.recipients.values()]
            self._drop()
            raise SendFailed(
                f"recipient refused ({', '.join(str(c) for c in codes)})",
                permanent=all(500 <= code < 600 for code in codes),
            ) from refused
        except smtplib.SMTPResponseException as err:
            self._drop()
            raise SendFailed(
                f"SMTP {err.smtp_code}: {err.smtp_error!r}"[:500],
                permanent=500 <= err.smtp_code < 600 and err.smtp_code != 554,
            ) from err
        except (OSError, smtplib.SMTPException) as err:
            self._drop()
            raise SendFailed(f"SMTP: {type(err).__name__}: {err}") from err

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.close()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.quit()
            except (OSError, smtplib.SMTPException):
                connection.close()


class NotifyChannel:
    """GOV.UK Notify through its Python client: a template per kind, the message's facts
    as personalisation, the idempotency key as the reference."""

    name = "notify"

    def __init__(self, settings: NotificationsSettings) -> None:
        from notifications_python_client.notifications import NotificationsAPIClient

        self._client = NotificationsAPIClient(
            settings.notify_api_key,
            base_url=settings.notify_base_url,
            timeout=max(1, settings.smtp_timeout.seconds),
        )
        self._templates = settings.templates

    def send(self, email: Email) -> None:
        from notifications_python_client.errors import APIError

        template = self._templates.get(email.kind.replace(".", "_"))
        if not template:
            raise SendFailed(f"no Notify template for {email.kind}", permanent=True)
        try:
            self._client.send_email_notification(
                email_address=email.to,
                template_id=template,
                personalisation=email.personalisation,
                reference=email.idempotency_key,
            )
        except APIError as err:
            status = getattr(err, "status_code", None) or 0
            raise SendFailed(
                f"Notify {status}: {getattr(err, 'message', err)}"[:500],
                permanent=400 <= status < 500 and status not in (408, 429),
            ) from err

    def close(self) -> None:
        self._client.request_session.close()


class LogChannel:
    """Writes each message's kind and key to the log instead of sending it (development
    and the demo): the log carries ids only, never an address."""

    name = "log"

    def send(self, email: Email) -> None:
        log.info("message_logged", kind=email.kind, key=email.idempotency_key)

    def close(self) -> None:
        pass


def open_channel(settings: NotificationsSettings) -> Channel:
    chosen = settings.chosen_channel()
    if chosen == "smtp":
        return SmtpChannel(settings)
    if chosen == "notify":
        return NotifyChannel(settings)
    return LogChannel()
