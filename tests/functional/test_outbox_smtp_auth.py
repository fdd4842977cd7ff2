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


# --- STARTTLS, as a council's relay on port 587 asks for it ------------------------------


def _certificates(tmp_path):
    """A certificate authority and a certificate for 127.0.0.1 that it signed."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("Test council CA"))
        .issuer_name(name("Test council CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = (tmp_path / n for n in ("ca.pem", "relay.pem", "relay.key"))
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


@contextmanager
def tls_relay(tmp_path):
    """A relay that refuses everything until STARTTLS, and AUTH only over TLS."""
    import ssl

    ca_file, cert_file, key_file = _certificates(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    handler = SinkHandler()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=check,
        tls_context=context,
        require_starttls=True,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield port, handler, ca_file
    finally:
        controller.stop()


def test_starttls_then_login_with_the_councils_certificate_authority(tmp_path):
    LOGINS.clear()
    with tls_relay(tmp_path) as (port, handler, ca_file):
        smtp = channel(
            MASH_NOTIFICATIONS__SMTP_URL=f"smtp://127.0.0.1:{port}",
            MASH_NOTIFICATIONS__SMTP_STARTTLS="true",
            MASH_NOTIFICATIONS__SMTP_CA_FILE=str(ca_file),
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


def test_without_starttls_the_relay_refuses_and_nothing_is_sent(tmp_path):
    with tls_relay(tmp_path) as (port, handler, _ca_file):
        smtp = channel(
            MASH_NOTIFICATIONS__SMTP_URL=f"smtp://127.0.0.1:{port}",
            MASH_NOTIFICATIONS__SMTP_USERNAME=USER,
            MASH_NOTIFICATIONS__SMTP_PASSWORD=PASSWORD,
        )
        try:
            with pytest.raises(SendFailed) as failed:
                smtp.send(email())
        finally:
            smtp.close()
        # The relay offers no AUTH before TLS: the credentials never cross in clear.
        assert "AUTH extension not supported" in failed.value.reason
        assert handler.received == []
        anonymous = channel(MASH_NOTIFICATIONS__SMTP_URL=f"smtp://127.0.0.1:{port}")
        try:
            with pytest.raises(SendFailed) as failed:
                anonymous.send(email())
        finally:
            anonymous.close()
        assert "530" in failed.value.reason  # "must issue a STARTTLS command first"
        assert handler.received == []


def test_a_certificate_from_an_unknown_authority_is_refused(tmp_path):
    with tls_relay(tmp_path) as (port, handler, _ca_file):
        smtp = channel(
            MASH_NOTIFICATIONS__SMTP_URL=f"smtp://127.0.0.1:{port}",
            MASH_NOTIFICATIONS__SMTP_STARTTLS="true",
        )
        try:
            with pytest.raises(SendFailed) as failed:
                smtp.send(email())
        finally:
            smtp.close()
        assert "CERTIFICATE_VERIFY_FAILED" in failed.value.reason or "certificate" in (
            failed.value.reason.lower()
        )
        assert handler.received == []
