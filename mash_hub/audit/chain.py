"""The audit hash chain: the canonical encoding of an event, and of a signed checkpoint.

Every audit event, once sealed, carries ``prev_hash`` (the hash of the event before it in
``seq`` order) and ``hash``::

    hash = lowercase hex of SHA-256( UTF-8( record ) )

    record = "mash-audit/1"
             for each field below, in this order: "\\n" field

    field  = "~"                          when the value is NULL
           | <length> ":" <text>          otherwise; <length> is the number of Unicode
                                          code points in <text>, in decimal

The fields, in order, with the text form of each value:

 1. prev_hash       64 lowercase hex digits; the first event has 64 zeros (``GENESIS``)
 2. seq             decimal, no sign, no leading zeros
 3. id              the UUID as 32 lowercase hex digits, no hyphens
 4. at              whole microseconds since 1970-01-01T00:00:00Z, decimal
 5. kind            6. actor_type      7. actor_id      8. agency        9. roles
10. action         11. object_type    12. object_id    13. contact_id   14. decision
15. isa_ids        16. clauses        17. policy_ids   18. reason       (text, as stored)
19. break_glass     ``true`` or ``false``
20. request_id     21. client_address (text, as stored)

Each field says how long it is, so no choice of text can make two different events encode
to the same record, and NULL is distinct from the empty text. Events hold ids, decisions
and reasons only, never personal data, so crypto-shredding case content never changes an
event and never breaks the chain.

A checkpoint signs the chain's head with Ed25519. The signed message is::

    UTF-8( "mash-audit-checkpoint/1\\n" <seq> "\\n" <head hash> "\\n" <at> )

where <seq> is the last sealed event's seq (0, with the head ``GENESIS``, for an empty
chain) and <at> is the signing time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, always six
fraction digits). Each checkpoint is stored in the ``audit_checkpoints`` table and
appended, as one JSON line ``{"seq", "head", "at", "key_id", "signature"}`` (signature in
base64, key_id the first 16 hex digits of SHA-256 over the raw 32-byte public key), to
the checkpoint file that ``[audit] checkpoint_file`` names, outside the database.

Sealing and checkpoints: ``mash_hub.audit.sealer``. What verification proves, and its one
gap (events after the newest checkpoint can be cut off the end unnoticed):
``mash_hub.audit.verify``.

``tools/verify_audit.py`` implements this same encoding without importing the hub, so
anyone holding the public key can check the trail without trusting the hub's code.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

VERSION = "mash-audit/1"
CHECKPOINT_VERSION = "mash-audit-checkpoint/1"
GENESIS = "0" * 64

# The columns of audit_events that the hash covers, after prev_hash, in encoding order.
FIELDS: tuple[str, ...] = (
    "seq",
    "id",
    "at",
    "kind",
    "actor_type",
    "actor_id",
    "agency",
    "roles",
    "action",
    "object_type",
    "object_id",
    "contact_id",
    "decision",
    "isa_ids",
    "clauses",
    "policy_ids",
    "reason",
    "break_glass",
    "request_id",
    "client_address",
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


def micros(at: datetime) -> int:
    """Microseconds since the Unix epoch; a naive datetime is taken to be UTC already."""
    return (at - (_NAIVE_EPOCH if at.tzinfo is None else _EPOCH)) // _MICROSECOND


def time_text(at: datetime) -> str:
    """A checkpoint's signing time in the signed form."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds") + "Z"


def encode(prev_hash: str, fields: tuple[Any, ...]) -> bytes:
    """The canonical record of one event: ``fields`` holds the FIELDS values in order."""
    return encode_row((prev_hash, None, *fields))


# Encoded fields of the columns that take few distinct values (kind, action, agency...),
# kept so the verifier formats each only once; bounded, and only ever a cache.
_FIELD_MEMO: dict[str | None, str] = {None: "~"}
_FIELD_MEMO_LIMIT = 4096


def _field(value: str | None) -> str:
    encoded = "~" if value is None else f"{len(value)}:{value}"
    if len(_FIELD_MEMO) < _FIELD_MEMO_LIMIT:
        _FIELD_MEMO[value] = encoded
    return encoded


def encode_row(row: Sequence[Any]) -> bytes:
    """The canonical record of a stored row ``(prev_hash, hash, *FIELDS)`` (its own hash is
    not part of it).

    Written as one expression because the verifier runs it for every event: it must keep
    up with the bare SHA-256 beside it (benchmarks/bench_audit_verify.py).
    """
    (
        prev_hash,
        _hash,
        seq,
        ident,
        at,
        kind,
        actor_type,
        actor_id,
        agency,
        roles,
        action,
        object_type,
        object_id,
        contact_id,
        decision,
        isa_ids,
        clauses,
        policy_ids,
        reason,
        break_glass,
        request_id,
        client_address,
    ) = row
    s = str(seq)
    i = ident.hex if type(ident) is uuid.UUID else uuid.UUID(str(ident)).hex
    t = str((at - (_NAIVE_EPOCH if at.tzinfo is None else _EPOCH)) // _MICROSECOND)
    m = _FIELD_MEMO.get
    return (
        f"{VERSION}\n64:{prev_hash}\n{len(s)}:{s}\n32:{i}\n{len(t)}:{t}"
        f"\n{m(kind) or _field(kind)}\n{m(actor_type) or _field(actor_type)}"
        f"\n{len(actor_id)}:{actor_id}\n{m(agency) or _field(agency)}"
        f"\n{m(roles) or _field(roles)}\n{m(action) or _field(action)}"
        f"\n{m(object_type) or _field(object_type)}"
        f"\n{'~' if object_id is None else f'{len(object_id)}:{object_id}'}"
        f"\n{'~' if contact_id is None else f'{len(contact_id)}:{contact_id}'}"
        f"\n{m(decision) or _field(decision)}\n{m(isa_ids) or _field(isa_ids)}"
        f"\n{m(clauses) or _field(clauses)}\n{m(policy_ids) or _field(policy_ids)}"
        f"\n{m(reason) or _field(reason)}\n{'4:true' if break_glass else '5:false'}"
        f"\n{'~' if request_id is None else f'{len(request_id)}:{request_id}'}"
        f"\n{m(client_address) or _field(client_address)}"
    ).encode()


def event_hash(prev_hash: str, row: tuple[Any, ...]) -> str:
    return hashlib.sha256(encode(prev_hash, row)).hexdigest()


def checkpoint_message(seq: int, head: str, at: datetime | str) -> bytes:
    when = at if isinstance(at, str) else time_text(at)
    return f"{CHECKPOINT_VERSION}\n{seq}\n{head}\n{when}".encode()
