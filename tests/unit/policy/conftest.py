"""Fixtures for the policy layer: a private copy of the shipped policies/ to break."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

SHIPPED_POLICIES = Path(__file__).resolve().parents[3] / "policies"

EditAgreement = Callable[..., Path]
EditText = Callable[[str, str, str], Path]


@pytest.fixture
def policies_copy(tmp_path: Path) -> Path:
    """A copy of the shipped policies/ directory that a test may change."""
    target = tmp_path / "policies"
    shutil.copytree(SHIPPED_POLICIES, target)
    return target


@pytest.fixture
def edit_agreement(policies_copy: Path) -> EditAgreement:
    """Set top-level fields of an agreement in the copy: edit("mash-health", status='"ended"')
    writes `status = "ended"` (values are TOML, written as given)."""

    def edit(name: str, **fields: str) -> Path:
        path = policies_copy / "isa" / f"{name}.toml"
        text = path.read_text(encoding="utf-8")
        for key, value in fields.items():
            text, count = re.subn(
                rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.MULTILINE
            )
            assert count == 1, f"{key} not found in {path.name}"
        path.write_text(text, encoding="utf-8")
        return path

    return edit


@pytest.fixture
def edit_text(policies_copy: Path) -> EditText:
    """Replace the first occurrence of `old` with `new` in a file of the copy."""

    def edit(relative: str, old: str, new: str) -> Path:
        path = policies_copy / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return path

    return edit


def line_of(path: Path, needle: str) -> int:
    """The 1-based line of the first occurrence of `needle` in the file."""
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


@pytest.fixture
def find_line() -> Callable[[Path, str], int]:
    return line_of
