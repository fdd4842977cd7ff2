"""`mash-hub policies ...`: commands for whoever keeps the agreements and rules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from mash_hub.policy import check


def default_policies_dir() -> Path:
    """policies/ beside the mash_hub package (the repository layout)."""
    return Path(__file__).resolve().parents[2] / "policies"


@click.group("policies")
def policies() -> None:
    """Information-sharing agreements and firewall rules (policies/)."""


@policies.command("check")
@click.option(
    "--dir",
    "policies_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The policies directory (default: policies/ of this installation).",
)
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Check review dates as of this day (default: today, UTC).",
)
def check_command(policies_dir: Path | None, today: datetime | None) -> None:
    """Validate the register and the Cedar rules; print file:line: severity: message.

    Exits 1 if there is any error. Warnings (such as an agreement past its review date)
    are printed but do not fail the check.
    """
    day = today.date() if today is not None else datetime.now(UTC).date()
    code = check.main(policies_dir or default_policies_dir(), day)
    raise SystemExit(code)
