"""What the hub's own server (gunicorn, as `mash-hub serve` runs it) puts on the wire."""

from __future__ import annotations

from pathlib import Path

from tests.served import served


def test_served_answers_carry_no_server_banner(tmp_path: Path, clean_database: str) -> None:
    """Security review V15 (row 210): gunicorn added `Server: gunicorn` to every answer."""
    with served(tmp_path, clean_database) as hub:
        for path in ("/sign-in", "/no-such-page", "/static/hub.css"):
            answer, _body = hub.get(path)
            assert answer.status in {200, 404}, (path, hub.log.read_text())
            assert answer.getheader("Server") is None, (path, answer.getheaders())
            # What else gunicorn writes itself is still there.
            assert answer.getheader("Date"), path
