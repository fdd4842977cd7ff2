"""The tamper-evident audit trail: sealing, signed checkpoints, and both verifiers
(`mash-hub audit verify` and the standalone tools/verify_audit.py) catching each kind of
tampering an insider with database access could attempt."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import threading
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from mash_hub.audit import chain
from mash_hub.audit.models import AuditCheckpoint, AuditEvent
from mash_hub.audit.services import EventDraft
from mash_hub.cli import cli
from tests.audit_trail import TOOL, Trail, draft, expect_damage, write_events


def test_sealing_chains_events_in_order_and_signs_a_checkpoint(trail, capsys):
    write_events(trail.app, 5)
    result = trail.seal()
    assert result.sealed == 5
    rows = trail.rows()
    assert rows[0].prev_hash == chain.GENESIS
    for before, after in zip(rows, rows[1:], strict=False):
        assert after.prev_hash == before.hash
    assert result.head.seq == rows[-1].seq and result.head.hash == rows[-1].hash
    line = json.loads(trail.checkpoints.read_text().splitlines()[-1])
    assert (line["seq"], line["head"]) == (rows[-1].seq, rows[-1].hash)
    with trail.database.transaction() as db:
        stored = db.scalars(select(AuditCheckpoint)).all()
    assert [(c.seq, c.head) for c in stored] == [(rows[-1].seq, rows[-1].hash)]

    ok = trail.cli_verify()
    assert ok.exit_code == 0, ok.output
    assert "OK: 5 sealed event(s), 0 pending" in ok.output
    status, output = trail.tool_verify(capsys)
    assert status == 0 and "OK: 5 sealed event(s), 0 pending" in output


def test_every_seal_signs_the_new_head_and_only_then(trail):
    write_events(trail.app, 2)
    first = trail.seal()
    write_events(trail.app, 3)
    again = trail.seal(force=False)  # one second later: signed at once all the same
    assert again.sealed == 3 and again.checkpoint is not None
    assert again.checkpoint.seq == first.head.seq + 3
    idle = trail.seal(force=False)  # nothing new: nothing to sign
    assert idle.sealed == 0 and idle.checkpoint is None
    assert len(trail.checkpoints.read_text().splitlines()) == 2


def test_a_new_trail_verifies_and_pending_events_are_reported(trail, capsys):
    write_events(trail.app, 2)
    trail.seal()
    write_events(trail.app, 2)  # not sealed yet: still verifiable, counted as pending
    result = trail.cli_verify()
    assert result.exit_code == 0 and "2 pending" in result.output
    assert trail.tool_verify(capsys)[0] == 0


@pytest.fixture
def sealed(trail) -> Trail:
    """Twelve events with a gap in seq (as a rolled-back insert leaves on PostgreSQL)
    between 6 and 10, sealed and checkpointed at the head."""
    write_events(trail.app, 6)
    with trail.app.app_context(), trail.database.transaction() as db:
        event = AuditEvent(
            **{**_event_values(draft(99)), "seq": 10, "id": uuid.uuid4(), "at": trail.clock.now()}
        )
        db.add(event)
    if trail.postgres:  # an explicit seq does not move the sequence, as on SQLite
        trail.tamper("SELECT setval(pg_get_serial_sequence('audit_events', 'seq'), 10)")
    write_events(trail.app, 2)
    trail.seal()
    assert [r.seq for r in trail.rows()] == [1, 2, 3, 4, 5, 6, 10, 11, 12]
    return trail


def _event_values(d: EventDraft) -> dict[str, object]:
    return {
        "kind": d.kind,
        "actor_type": d.actor_type,
        "actor_id": d.actor_id,
        "agency": d.agency,
        "roles": " ".join(d.roles),
        "action": d.action,
        "object_type": d.object_type,
        "object_id": d.object_id,
        "contact_id": d.contact_id,
        "decision": d.decision,
        "isa_ids": " ".join(d.isa_ids),
        "clauses": "",
        "policy_ids": " ".join(d.policy_ids),
        "reason": d.reason,
        "break_glass": False,
        "request_id": None,
        "client_address": None,
    }


def test_tamper_a_field_edited(sealed, capsys):
    sealed.tamper("UPDATE audit_events SET decision = 'allow', reason = 'x' WHERE seq = 4")
    expect_damage(sealed, capsys, "altered", 4)


def test_tamper_a_middle_event_deleted(sealed, capsys):
    sealed.tamper("DELETE FROM audit_events WHERE seq = 3")
    expect_damage(sealed, capsys, "broken link", 4)


def test_tamper_a_forged_event_inserted(sealed, capsys):
    # The forger knows the encoding (it is public) and links the event correctly to seq 6:
    # the chain alone exposes it at the next genuine event, whose link now skips it.
    rows = sealed.rows()
    forged = {**_event_values(draft(7)), "seq": 8, "id": uuid.uuid4(), "at": rows[5].at}
    fields = tuple(forged[name] for name in chain.FIELDS)
    forged["prev_hash"] = rows[5].hash
    forged["hash"] = chain.event_hash(rows[5].hash, fields)
    if not sealed.postgres:
        forged["id"] = forged["id"].hex
        forged["at"] = forged["at"].replace(tzinfo=None)
    columns = ", ".join(forged)
    values = ", ".join(f":{name}" for name in forged)
    sealed.tamper(f"INSERT INTO audit_events ({columns}) VALUES ({values})", params=[forged])  # noqa: S608
    expect_damage(sealed, capsys, "broken link", 10)


def test_tamper_two_events_swapped(sealed, capsys):
    movable = [c.name for c in AuditEvent.__table__.columns if c.name not in ("seq", "id")]
    sets = ", ".join(f"{c} = other.{c}" for c in movable)
    swap = (
        f"UPDATE audit_events SET {sets} FROM (SELECT * FROM audit_events) AS other "  # noqa: S608
        "WHERE (audit_events.seq, other.seq) IN ((4, 5), (5, 4))"
    )
    sealed.tamper(swap)
    expect_damage(sealed, capsys, "altered", 4)


def test_tamper_tail_truncated_past_the_last_checkpoint(sealed, capsys):
    sealed.tamper("DELETE FROM audit_events WHERE seq >= 11")
    expect_damage(sealed, capsys, "truncated", None)


def rechain(trail: Trail, prev: str, rows: list, forged: dict[int, tuple[str, str]]) -> None:
    """As a database owner without the signing key: set `forged` rows' decision and reason
    (by seq), and recompute every hash of `rows` from `prev` on."""
    statements, params = [], []
    for row in rows:
        fields = [getattr(row, name) for name in chain.FIELDS]
        if row.seq in forged:
            decision, reason = forged[row.seq]
            fields[chain.FIELDS.index("decision")] = decision
            fields[chain.FIELDS.index("reason")] = reason
        digest = chain.event_hash(prev, tuple(fields))
        statements.append(
            "UPDATE audit_events SET decision = :decision, reason = :reason, "
            "prev_hash = :prev, hash = :hash WHERE seq = :seq"
        )
        params.append(
            {
                "decision": fields[chain.FIELDS.index("decision")],
                "reason": fields[chain.FIELDS.index("reason")],
                "prev": prev,
                "hash": digest,
                "seq": row.seq,
            }
        )
        prev = digest
    trail.tamper(*statements, params=params)


def test_tamper_whole_chain_recomputed_without_the_signing_key(sealed, capsys):
    rows = sealed.rows()
    rechain(sealed, rows[2].hash, rows[3:], {rows[3].seq: ("allow", "nothing to see")})
    expect_damage(sealed, capsys, "rewritten", 12)


def test_a_forged_checkpoint_is_refused(sealed, capsys):
    sealed.tamper("UPDATE audit_checkpoints SET head = :head", params=[{"head": "ab" * 32}])
    expect_damage(sealed, capsys, "bad signature", None)


def test_no_sealed_tail_is_left_unsigned(sealed, capsys):
    """Every seal signs its head, so cutting the newest sealed events off the end is caught
    however few they are (on dc1dfa7 events sealed within the checkpoint interval could be
    cut unnoticed)."""
    write_events(sealed.app, 2)
    sealed.seal(force=False)
    result = sealed.cli_verify()
    assert result.exit_code == 0
    assert "the last at seq 14, the head of the chain" in result.output
    sealed.tamper("DELETE FROM audit_events WHERE seq > 12")
    expect_damage(sealed, capsys, "truncated", None)


def test_the_newest_events_rewritten_with_the_chain_recomputed_are_caught(sealed, capsys):
    """Security review V9: an edited and a deleted event just before the head, the chain
    after them recomputed without the key, verified OK on dc1dfa7."""
    write_events(sealed.app, 3)
    sealed.seal(force=False)
    rows = [row for row in sealed.rows() if row.seq >= 12]
    sealed.tamper("DELETE FROM audit_events WHERE seq = 14")
    # seq 13 forged, seq 15 relinked past the deleted 14; 12 is signed by the fixture.
    rechain(sealed, rows[0].hash, [rows[1], rows[3]], {13: ("deny", "forged")})
    result = sealed.cli_verify()
    assert result.exit_code == 1, result.output
    status, output = sealed.tool_verify(capsys)
    assert status == 1, output


def test_an_event_appended_after_the_head_is_unsigned(sealed, capsys):
    """An event linked onto the end with a correct hash, as a database owner without the
    signing key could add it, lies after the newest checkpoint: nothing the sealer leaves."""
    head = sealed.rows()[-1]
    write_events(sealed.app, 1)  # written as the hub writes it, then "sealed" by hand
    added = sealed.rows()[-1]
    assert added.hash is None and added.seq > head.seq
    digest = chain.event_hash(head.hash, tuple(getattr(added, name) for name in chain.FIELDS))
    sealed.tamper(
        "UPDATE audit_events SET prev_hash = :prev, hash = :hash WHERE seq = :seq",
        params=[{"prev": head.hash, "hash": digest, "seq": added.seq}],
    )
    expect_damage(sealed, capsys, "unsigned", None)


def test_a_missing_checkpoint_file_is_damage_not_silence(sealed, capsys):
    sealed.checkpoints.unlink()
    expect_damage(sealed, capsys, "checkpoint mismatch", None)


def test_the_standalone_verifier_imports_nothing_from_the_hub():
    tree = ast.parse(TOOL.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert "mash_hub" not in imported
    assert imported <= set(sys.stdlib_module_names) | {"cryptography", "sqlalchemy"}


def test_the_standalone_verifier_runs_as_a_script(sealed):
    result = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-I",
            str(TOOL),
            "--database",
            sealed.settings.database.url,
            "--checkpoints",
            str(sealed.checkpoints),
            "--public-key",
            str(sealed.public_key),
        ],
        capture_output=True,
        text=True,
        cwd=sealed.checkpoints.parent,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "OK: 9 sealed event(s)" in result.stdout


def test_the_seal_command_seals_and_checkpoints_at_once(trail, capsys):
    write_events(trail.app, 3)
    result = CliRunner().invoke(cli, ["audit", "seal"], env=trail.env())
    assert result.exit_code == 0, result.output
    assert "sealed 3 event(s); head seq 3" in result.output
    assert all(row.hash for row in trail.rows())
    assert len(trail.checkpoints.read_text().splitlines()) == 1
    assert trail.tool_verify(capsys)[0] == 0


def test_sealing_while_others_write_leaves_no_event_behind(trail, capsys):
    """Writers never wait for the chain; a sealer running among them seals in seq order
    and never skips an event that commits late."""
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            write_events(trail.app, 15)
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        trail.seal(force=False)
    for thread in threads:
        thread.join()
    assert errors == []
    trail.seal()
    rows = trail.rows()
    assert len(rows) == 45 and all(row.hash for row in rows)
    result = trail.cli_verify()
    assert result.exit_code == 0, result.output
    assert trail.tool_verify(capsys)[0] == 0


def _two_checkpoints(trail: Trail) -> int:
    """Events under a first checkpoint, then more under a second; the first's seq."""
    write_events(trail.app, 3)
    trail.seal()
    first = max(r.seq for r in trail.rows())
    write_events(trail.app, 3)
    trail.seal()
    return first


def test_a_database_older_than_the_checkpoint_file_is_truncated_not_tampered(trail, capsys):
    """As a restore from a backup taken before the newest checkpoint leaves it: the last
    events and the checkpoints that signed them are missing from the database, while the
    checkpoint file (kept outside it) goes on. Both verifiers say "truncated" and why,
    not "checkpoint mismatch", and exit 3, apart from every other damage (1)."""
    first = _two_checkpoints(trail)
    last = max(r.seq for r in trail.rows())
    trail.tamper(
        f"DELETE FROM audit_events WHERE seq > {first}",  # noqa: S608
        f"DELETE FROM audit_checkpoints WHERE seq > {first}",  # noqa: S608
    )
    expected = (
        f"FAILED: truncated: the database ends at seq {first}, but the checkpoint file has "
        f"1 later checkpoint(s), up to seq {last}: the database is older than the file "
        "(restored from an earlier backup) or its newest events were removed"
    )
    result = trail.cli_verify()
    assert result.exit_code == 3, result.output
    assert expected in result.output
    status, output = trail.tool_verify(capsys)
    assert status == 3, output
    assert output.strip() == expected


def test_a_database_older_than_the_file_with_an_event_missing_inside_is_damage(trail, capsys):
    """Being older than the file excuses only the missing end: an event deleted from what
    the database does hold is still a broken link (exit 1), found before the end."""
    first = _two_checkpoints(trail)
    trail.tamper(
        f"DELETE FROM audit_events WHERE seq > {first}",  # noqa: S608
        f"DELETE FROM audit_checkpoints WHERE seq > {first}",  # noqa: S608
        f"DELETE FROM audit_events WHERE seq = {first - 1}",  # noqa: S608
    )
    expect_damage(trail, capsys, "broken link", first)


@pytest.mark.parametrize("signed", ["at the same time", "later"])
def test_a_checkpoint_file_naming_another_head_at_the_same_seq_is_a_mismatch(trail, capsys, signed):
    """The file's newest checkpoint names a different head for the database's newest seq
    (a database from another trail under the same key, or a chain re-signed by someone
    holding it): never excused as the database being older, whatever its time."""
    from mash_hub.audit.signing import sign, signing_key

    _two_checkpoints(trail)
    lines = trail.checkpoints.read_text().splitlines()
    newest = json.loads(lines[-1])
    if signed == "later":
        newest["at"] = newest["at"].replace(newest["at"][:4], str(int(newest["at"][:4]) + 1), 1)
    head = "cd" * 32
    message = chain.checkpoint_message(newest["seq"], head, newest["at"])
    other = newest | {"head": head, "signature": sign(signing_key(trail.settings), message)}
    trail.checkpoints.write_text("\n".join([*lines[:-1], json.dumps(other)]) + "\n")
    expect_damage(trail, capsys, "checkpoint mismatch", None)
    result = trail.cli_verify()
    assert f"checkpoint mismatch: the checkpoint at seq {newest['seq']} signed at " in (
        result.output
    )


def test_a_checkpoint_missing_from_the_middle_of_the_database_is_still_a_mismatch(trail, capsys):
    first = _two_checkpoints(trail)
    trail.tamper(f"DELETE FROM audit_checkpoints WHERE seq = {first}")  # noqa: S608
    expect_damage(trail, capsys, "checkpoint mismatch", None)
