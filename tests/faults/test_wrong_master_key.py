"""A well-formed but wrong master key (fault review, scenario 8 and finding 6): on
dc1dfa7 the hub started and answered every data call with an error; now it does not
start, and says why in one line."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from tests.served import run_command, served


def test_the_hub_refuses_to_start_with_a_master_key_that_opens_nothing(
    tmp_path: Path, clean_database: str
) -> None:
    run_command(tmp_path, clean_database, "demo")  # agency keys wrapped under the key in use
    wrong = base64.b64encode(os.urandom(32)).decode()
    with served(tmp_path, clean_database, MASH_KEYS__MASTER_KEY=wrong) as hub:
        assert hub.process.wait(timeout=60) == 2
    lines = hub.log.read_text().strip().splitlines()
    assert len(lines) == 1, lines
    assert "[keys] master_key" in lines[0]
    assert "is not the one the agency keys are wrapped under" in lines[0]
    assert wrong not in lines[0]
    # The right key still starts it.
    with served(tmp_path, clean_database) as hub:
        assert hub.get("/sign-in")[0].status == 200
