"""The agencies of the MASH (shared/docs/domain.md): one list for configuration, the
policy register, the database and the pages. Core agencies screen in the MASH; partners
only answer requests addressed to them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AgencyInfo:
    code: str
    name: str
    mash_core: bool


AGENCIES: tuple[AgencyInfo, ...] = (
    AgencyInfo("csc", "Children's social care", True),
    AgencyInfo("police", "Police (Public Protection Desk)", True),
    AgencyInfo("health", "Health", False),
    AgencyInfo("education", "Education", False),
    AgencyInfo("probation", "Probation", False),
    AgencyInfo("housing", "Housing", False),
    AgencyInfo("yos", "Youth offending service", False),
)
AGENCY_CODES = tuple(a.code for a in AGENCIES)
