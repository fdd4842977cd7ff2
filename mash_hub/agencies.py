"""The agencies of the MASH (shared/docs/domain.md): one list for configuration, the
policy register, the database and the pages. Core agencies screen in the MASH; partners
only answer requests addressed to them, or (a receiving service such as early help) take
the families the MASH refers on to them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class AgencyInfo:
    code: str
    name: str
    mash_core: bool
    # Whether the MASH sends it information requests (a receiving service such as early
    # help takes referrals instead, under an agreement that has no request clauses).
    answers_requests: bool = True


AGENCIES: tuple[AgencyInfo, ...] = (
    AgencyInfo("csc", "Children's social care", True),
    AgencyInfo("police", "Police (Public Protection Desk)", True),
    AgencyInfo("health", "Health", False),
    AgencyInfo("education", "Education", False),
    AgencyInfo("probation", "Probation", False),
    AgencyInfo("housing", "Housing", False),
    AgencyInfo("yos", "Youth offending service", False),
    # A receiving service: the MASH steps families down to it (issue #15 item 4).
    AgencyInfo("earlyhelp", "Early Help Family Support", False, answers_requests=False),
)
AGENCY_CODES = tuple(a.code for a in AGENCIES)

# Who may make a contact: the front door takes "all notifications... from professionals
# and members of the public" (seed 000, section 4.1). And the professions outside the hub.
REFERRER_TYPES = ("agency", "professional", "public", "family", "anonymous")
PROFESSIONS = (
    "gp",
    "school",
    "early_years",
    "voluntary_sector",
    "other_local_authority",
    "adult_social_care",
    "other",
)

_NAMES = {agency.code: agency.name for agency in AGENCIES}


def agency_name(code: str | None) -> str:
    """The agency's name for a page ("Youth offending service", not "yos"); a code the hub
    does not know is shown as it is rather than hidden."""
    if code is None:
        return ""
    return _NAMES.get(code, code)


def agency_names(codes: Iterable[str]) -> str:
    """Several agencies' names, for a page: "Children's social care, Health"."""
    return ", ".join(agency_name(code) for code in codes)
