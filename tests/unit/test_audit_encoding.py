"""The canonical encoding: stable, unambiguous, and the same in the hub and in the
standalone verifier (which must not share code with the hub)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mash_hub.audit import chain
from mash_hub.config import ConfigError, load_settings

TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_audit.py"
_spec = importlib.util.spec_from_file_location("verify_audit_unit", TOOL)
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)

ID = uuid.UUID("9a3e7c21-0b6d-4e58-8f14-7d2c5b9e0a01")
AT = datetime(2026, 11, 30, 10, 0, 0, 123456, tzinfo=UTC)


def row(**changes: object) -> tuple[object, ...]:
    values: dict[str, object] = {
        "seq": 7, "id": ID, "at": AT, "kind": "access.decision", "actor_type": "user",
        "actor_id": "u-1", "agency": "police", "roles": "screener", "action": "contact:read",
        "object_type": "Contact", "object_id": "c-1", "contact_id": "c-1", "decision": "allow",
        "isa_ids": "ISA-MASH-CORE", "clauses": "4.2", "policy_ids": "policy0", "reason": "ok",
        "break_glass": False, "request_id": None, "client_address": "127.0.0.1",
    }  # fmt: skip
    values.update(changes)
    return tuple(values[name] for name in chain.FIELDS)


def test_the_record_is_exactly_as_documented():
    assert chain.encode(chain.GENESIS, row()).decode() == "\n".join(
        [
            "mash-audit/1", "64:" + "0" * 64, "1:7", "32:9a3e7c210b6d4e588f147d2c5b9e0a01",
            "16:1796032800123456", "15:access.decision", "4:user", "3:u-1", "6:police",
            "8:screener", "12:contact:read", "7:Contact", "3:c-1", "3:c-1", "5:allow",
            "13:ISA-MASH-CORE", "3:4.2", "7:policy0", "2:ok", "5:false", "~", "9:127.0.0.1",
        ]
    )  # fmt: skip


def test_null_differs_from_empty_and_text_cannot_slide_between_fields():
    base = chain.event_hash(chain.GENESIS, row())
    assert chain.event_hash(chain.GENESIS, row(request_id="")) != base
    assert chain.event_hash(chain.GENESIS, row(request_id="~")) != base
    # The same characters split differently across two neighbouring fields.
    one = row(isa_ids="ISA-MASH-CORE\n3:4.2", clauses="")
    other = row(isa_ids="ISA-MASH-CORE", clauses="4.2\n0:")
    assert chain.encode(chain.GENESIS, one) != chain.encode(chain.GENESIS, other)


def test_the_same_instant_in_any_zone_or_naive_utc_encodes_alike():
    same = [AT, AT.astimezone(timezone(timedelta(hours=-5))), AT.replace(tzinfo=None)]
    assert len({chain.encode(chain.GENESIS, row(at=at)) for at in same}) == 1


text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@given(
    seq=st.integers(1, 2**62),
    at=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    reason=text,
    agency=st.none() | text,
    contact=st.none() | text,
    flag=st.booleans(),
)
def test_the_standalone_verifier_encodes_every_event_as_the_hub_does(
    seq, at, reason, agency, contact, flag
):
    fields = row(seq=seq, at=at, reason=reason, agency=agency, contact_id=contact, break_glass=flag)
    prev = hashlib.sha256(reason.encode()).hexdigest()
    assert tool.encode(prev, fields) == chain.encode(prev, fields)


def _production(**extra: str) -> dict[str, str]:
    return {
        "MASH_APP__MODE": "production",
        "MASH_APP__PUBLIC_URL": "https://mash.example",
        "MASH_APP__SECRET_KEY": "s" * 40,
        "MASH_KEYS__MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        **extra,
    }


def test_production_signs_only_with_a_real_key(tmp_path):
    from mash_hub.config import DEVELOPMENT_AUDIT_SIGNING_KEY

    with pytest.raises(ConfigError, match="no audit signing key"):
        load_settings(None, _production()).audit_signing_seed()
    with pytest.raises(ConfigError, match="development key"):
        load_settings(
            None, _production(MASH_AUDIT__SIGNING_KEY=DEVELOPMENT_AUDIT_SIGNING_KEY)
        ).audit_signing_seed()
    seed = os.urandom(32)
    key_file = tmp_path / "audit.key"
    key_file.write_text(base64.b64encode(seed).decode() + "\n")
    settings = load_settings(None, _production(MASH_AUDIT__SIGNING_KEY_FILE=str(key_file)))
    assert settings.audit_signing_seed() == seed
    with pytest.raises(ConfigError, match="32 bytes"):
        load_settings(
            None, _production(MASH_AUDIT__SIGNING_KEY=base64.b64encode(b"short").decode())
        ).audit_signing_seed()
