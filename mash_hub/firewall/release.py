"""Sealing and releasing protected content: the only place ciphertext becomes text.

Both directions ask for an `Access`, the proof that the firewall decided and audited this
very access; releasing also checks that the access covers the contact the ciphertext
belongs to. In test mode it further checks that the audit event is really in the unit of
work, so a code path that fakes an Access fails the suite (security promise P1).
"""

from __future__ import annotations

from typing import Any

from mash_hub import db, runtime
from mash_hub.audit.models import AuditEvent
from mash_hub.crypto import keys
from mash_hub.firewall.decisions import Access, allow_event_in_unit_of_work
from mash_hub.policy import Action


class ReleaseRefused(RuntimeError):
    """Content was asked for without a matching, audited, allowed access."""


# The person register is the MASH's: each person's details (and the reasons for merging
# them) are sealed under a key of that person's own, held for the register's agency.
REGISTER_AGENCY = "csc"


def _check(access: Access, contact_id: str | None) -> None:
    """`contact_id` None: content not bound to one contact (the person register), opened
    under an allowed access to the contact that shows it."""
    if not isinstance(access, Access) or not access.decision.allowed:
        raise ReleaseRefused("no allowed access")
    if contact_id is not None and access.contact_id != contact_id:
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


def opened_contact(access: Access, principal_id: str, action: Action) -> str:
    """The contact that `access` opened for this principal and action, or ReleaseRefused.

    For the parts of a page that show what the page's own decision allowed (the requests,
    people and disclosures of a contact page): they take the page's Access as proof instead
    of trusting a bare contact id."""
    if access.contact_id is None:
        raise ReleaseRefused("the access is not for a contact")
    _check(access, access.contact_id)
    if access.principal_id != principal_id or access.action != action:
        raise ReleaseRefused("the access was decided for someone or something else")
    return access.contact_id


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


def seal_for_person(
    access: Access, *, person_id: str, table: str, row_id: str, column: str, text: str
) -> bytes:
    """Seal register content under the person's own key (crypto-shredding a person
    shreds only them), under an allowed access to the contact it came from."""
    _check(access, None)
    return keys.encrypt(
        db.session(),
        contact_id=person_id,
        agency_code=REGISTER_AGENCY,
        table=table,
        row_id=row_id,
        column=column,
        plaintext=text.encode(),
    )


def release_for_person(
    access: Access, *, person_id: str, table: str, row_id: str, column: str, envelope: bytes
) -> str:
    """Release register content sealed by `seal_for_person`."""
    _check(access, None)
    return keys.decrypt(
        db.session(),
        contact_id=person_id,
        agency_code=REGISTER_AGENCY,
        table=table,
        row_id=row_id,
        column=column,
        envelope=envelope,
    ).decode()


def _for_approval(access: Access) -> None:
    """An originator's governance lead deciding a disclosure: the decision names no contact
    (their trail must not learn it), so it opens only what its own agency restricted."""
    if not isinstance(access, Access) or access.action is not Action.DISCLOSURE_APPROVE:
        raise ReleaseRefused("not an approval of a disclosure")
    _check(access, None)


def release_for_approval(access: Access, **where: Any) -> str:
    """Content of the approving lead's own agency, released under the approval's decision
    (`where`: contact_id, agency_code, table, row_id, column, envelope, as for `release`)."""
    _for_approval(access)
    return keys.decrypt(db.session(), **where).decode()


def seal_for_approval(access: Access, *, text: str, **where: Any) -> bytes:
    """The approving lead's own words (a refusal's reason), sealed for their agency
    (`where`: contact_id, agency_code, table, row_id, column, as for `seal`)."""
    _for_approval(access)
    return keys.encrypt(db.session(), plaintext=text.encode(), **where)
