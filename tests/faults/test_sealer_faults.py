"""The audit sealer dying at its worst moments, and sealing a backlog (fault review,
findings 1 and 2): a crash must never read as tampering, tampering must still read as
tampering, and a backlog is sealed in short transactions of its own."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mash_hub.audit import sealer
from mash_hub.audit.models import AuditCheckpoint
from tests.audit_trail import Trail, expect_damage, write_events


class Killed(BaseException):
    """The process dying where it is raised (not an error anything would catch)."""


def _verify_ok(trail: Trail, capsys) -> str:
    result = trail.cli_verify()
    assert result.exit_code == 0, result.output
    status, output = trail.tool_verify(capsys)
    assert status == 0, output
    return str(result.output)


def _checkpoints(trail: Trail) -> list[tuple[int, str]]:
    with trail.database.transaction() as db:
        return [(c.seq, c.head) for c in db.scalars(select(AuditCheckpoint))]


def test_a_crash_between_commit_and_file_is_caught_up_by_the_next_seal(trail, capsys, monkeypatch):
    """On dc1dfa7 the checkpoint committed, the process died before appending it to the
    file, and `verify` said "checkpoint mismatch" for ever after."""
    write_events(trail.app, 3)
    trail.seal()
    write_events(trail.app, 2)

    def die(path, lines):
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(sealer, "append_lines", die)
        with pytest.raises(Killed):
            trail.seal(force=False)
    # What an operator would see if nothing ran again: the database is a line ahead.
    expect_damage(trail, capsys, "checkpoint mismatch", None)

    idle = trail.seal(force=False)  # nothing new to seal: the file is caught up all the same
    assert idle.sealed == 0
    assert "OK: 5 sealed event(s), 0 pending" in _verify_ok(trail, capsys)
    assert len(trail.checkpoints.read_text().splitlines()) == len(_checkpoints(trail)) == 2


def test_a_line_torn_by_the_crash_is_replaced(trail, capsys, monkeypatch):
    write_events(trail.app, 2)
    trail.seal()
    write_events(trail.app, 2)

    def die_halfway(path, lines):
        with path.open("a", encoding="utf-8") as out:
            out.write(lines[0][: len(lines[0]) // 2])
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(sealer, "append_lines", die_halfway)
        with pytest.raises(Killed):
            trail.seal(force=False)
    write_events(trail.app, 1)
    trail.seal(force=False)
    assert "OK: 5 sealed event(s), 0 pending" in _verify_ok(trail, capsys)
    assert trail.checkpoints.read_text().endswith("}\n")


def test_the_very_first_checkpoint_lost_from_the_file_is_written(trail, capsys, monkeypatch):
    write_events(trail.app, 2)
    with monkeypatch.context() as patched:
        patched.setattr(sealer, "append_lines", lambda path, lines: (_ for _ in ()).throw(Killed))
        with pytest.raises(Killed):
            trail.seal()
    assert not trail.checkpoints.exists()
    trail.seal(force=False)
    assert "OK: 2 sealed event(s), 0 pending" in _verify_ok(trail, capsys)


def test_a_trail_cut_in_the_database_is_not_caught_up_but_reported(trail, capsys):
    """Catching up copies the database's own lines only after the file's last one: a
    database that lost its newest events and checkpoints (a truncation, or a restore of an
    old copy) is still reported, even after the sealer has run again."""
    write_events(trail.app, 3)
    trail.seal()
    write_events(trail.app, 3)
    newest = trail.seal(force=False).head.seq
    trail.tamper(
        "DELETE FROM audit_events WHERE seq > :cut",
        "DELETE FROM audit_checkpoints WHERE seq = :newest",
        params=[{"cut": newest - 3}, {"newest": newest}],
    )
    write_events(trail.app, 1)
    trail.seal(force=False)
    expect_damage(trail, capsys, "checkpoint mismatch", None)


def test_a_backlog_is_sealed_in_batches_each_committed_and_signed(trail, capsys, monkeypatch):
    """On dc1dfa7 a 300,000-event backlog was sealed in one transaction holding the seal
    lock for 52 s, and every audited request waited on it. Each batch now commits with its
    own checkpoint, so a sealer that dies mid-backlog keeps what it sealed."""
    monkeypatch.setattr(sealer, "BATCH", 4)
    write_events(trail.app, 10)
    result = trail.seal(force=False)
    assert result.sealed == 10
    seqs = [seq for seq, _head in _checkpoints(trail)]
    assert len(seqs) == 3 and seqs == sorted(seqs)
    assert len(trail.checkpoints.read_text().splitlines()) == 3

    write_events(trail.app, 10)
    hashed = sealer.chain.event_hash
    calls = {"n": 0}

    def dies_in_the_second_batch(prev, fields):
        calls["n"] += 1
        if calls["n"] == 6:
            raise Killed
        return hashed(prev, fields)

    with monkeypatch.context() as patched:
        patched.setattr(sealer.chain, "event_hash", dies_in_the_second_batch)
        with pytest.raises(Killed):
            trail.seal(force=False)
    # The first batch of the second backlog stayed sealed and signed; the rest is pending.
    assert "OK: 14 sealed event(s), 6 pending" in _verify_ok(trail, capsys)
    with trail.database.transaction() as db:
        assert db.scalar(select(func.count()).select_from(AuditCheckpoint)) == 4
    assert trail.seal(force=False).sealed == 6
    assert "OK: 20 sealed event(s), 0 pending" in _verify_ok(trail, capsys)
