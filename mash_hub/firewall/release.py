"""Sealing and releasing protected content: the only place ciphertext becomes text.

Both directions ask for an `Access`, the proof that the firewall decided and audited this
very access; releasing also checks that the access covers the contact the ciphertext
belongs to. In test mode it further checks that the audit event is really in the unit of
work, so a code path that fakes an Access fails the suite (security promise P1).
"""

from __future__ import annotations

from mash_hub import db, runtime
from mash_hub.audit.models import AuditEvent
from mash_hub.crypto import keys
from mash_hub.firewall.decisions import Access, allow_event_in_unit_of_work


class ReleaseRefused(RuntimeError):
    """Content was asked for without a matching, audited, allowed access."""


def _check(access: Access, contact_id: str) -> None:
    if not isinstance(access, Access) or not access.decision.allowed:
        raise ReleaseRefused("no allowed access")
    if access.contact_id != contact_id:
        raise ReleaseRefused("the access is for another contact")
    if runtime.settings().app.mode == "test" and not allow_event_in_unit_of_work(
        access.audit_event_id
    ):
        event = db.session().scalar(
            AuditEvent.__table__.select()
            .with_only_columns(AuditEvent.decision)
            .where(AuditEvent.id == access.audit_event_id)
        )
        if event != "allow":
            raise ReleaseRefused("released without an allow event in this unit of work")


def seal(
    access: Access,
    *,
    contact_id: str,
    agency_code: str,
    table: str,
    row_id: str,
    column: str,
    text: str,
) -> bytes:
    _check(access, contact_id)
    return keys.encrypt(
        db.session(),
        contact_id=contact_id,
        agency_code=agency_code,
        table=table,
        row_id=row_id,
        column=column,
        plaintext=text.encode(),
    )


def release(
    access: Access,
    *,
    contact_id: str,
    agency_code: str,
    table: str,
    row_id: str,
    column: str,
    envelope: bytes,
) -> str:
    _check(access, contact_id)
    return keys.decrypt(
        db.session(),
        contact_id=contact_id,
        agency_code=agency_code,
        table=table,
        row_id=row_id,
        column=column,
        envelope=envelope,
    ).decode()
