"""What the policy sees of the hub's duties that are not one record: an agency's audit
trail, its user accounts, its request performance, a contact as a governance lead names
it, the MASH's screening work, its performance reports, and the breach log. Built here,
like every record's resource in `records`, so that the whole mapping to the policy is in
the firewall.
"""

from __future__ import annotations

from typing import Any

from mash_hub.policy import (
    AgencyPerformanceResource,
    AuditLogResource,
    BreachLogResource,
    BreachResource,
    MashReportsResource,
    RetentionListResource,
    ScreeningQueueResource,
    TrailContactResource,
    UserDirectoryResource,
)


def audit_log(agency: str) -> AuditLogResource:
    """The audit trail of access by and to `agency`."""
    return AuditLogResource(agency=agency)


def user_directory(agency: str) -> UserDirectoryResource:
    """The user accounts of `agency`."""
    return UserDirectoryResource(agency=agency)


def agency_performance(agency: str) -> AgencyPerformanceResource:
    """The counts and times of the requests addressed to `agency`."""
    return AgencyPerformanceResource(agency=agency)


def trail_contact(typed: str, agency: str, *, in_trail: bool) -> TrailContactResource:
    """A contact as a lead of `agency` named it (`typed`, never its internal id)."""
    return TrailContactResource(id=typed, agency=agency, in_trail=in_trail)


def retention_list(agency: str) -> RetentionListResource:
    """The records of `agency` listed for review when their retention periods run out."""
    return RetentionListResource(agency=agency)


def screening_queue() -> ScreeningQueueResource:
    """The MASH's screening work: its queue, sign-offs and screening staff."""
    return ScreeningQueueResource()


def mash_reports() -> MashReportsResource:
    """The MASH's performance figures (aggregates by period, never case content)."""
    return MashReportsResource()


def breach_log(agency: str) -> BreachLogResource:
    """The breach log, as `agency` records a breach into it."""
    return BreachLogResource(agency=agency)


def breach(row: Any) -> BreachResource:
    """A breach of the log: the agency that recorded it and the agencies whose data it
    concerns (kept as ",csc,health,")."""
    return BreachResource(
        id=str(row.id),
        recorded_by=row.recorded_by_agency,
        agencies=frozenset(code for code in row.agencies.split(",") if code),
    )


def missing_breach(typed: str) -> BreachResource:
    """What the policy is asked about for an id that names no breach: refused like another
    agency's, so a missing breach and a refused one look the same."""
    return BreachResource(id=typed[:64], recorded_by="none", agencies=frozenset())
