"""The decision point: what it allows, what it names, and that it always fails closed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import cedarpy
import pytest

from mash_hub.policy import (
    Action,
    AgencyPerformanceResource,
    AuditLogResource,
    BreakGlassGrantResource,
    ContactResource,
    Context,
    ContributionResource,
    Decision,
    DisclosureResource,
    InfoRequestResource,
    PolicyDecisionPoint,
    Principal,
    RetentionListResource,
    ScreeningQueueResource,
    TrailContactResource,
    UserDirectoryResource,
)

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 6, 1, 10, 30, tzinfo=UTC)
IN_TWO_HOURS = NOW + timedelta(hours=2)

SCREENER = Principal("u-scr", "user", "police", frozenset({"screener"}))
MANAGER = Principal("u-mgr", "user", "csc", frozenset({"mash_manager"}))
HEALTH_RESEARCHER = Principal("u-hr", "user", "health", frozenset({"agency_researcher"}))
HEALTH_SYSTEM = Principal("health-0a1b", "client", "health", frozenset({"agency_researcher"}))
POLICE_RESEARCHER = Principal("u-pr", "user", "police", frozenset({"agency_researcher"}))
HEALTH_GOVERNANCE = Principal("u-hg", "user", "health", frozenset({"governance_lead"}))
CSC_ADMIN = Principal("u-adm", "user", "csc", frozenset({"admin"}))
CSC_GOVERNANCE = Principal("u-cg", "user", "csc", frozenset({"governance_lead"}))
MANAGER_AND_LEAD = Principal("u-ml", "user", "csc", frozenset({"mash_manager", "governance_lead"}))

OPEN_RED_CONTACT = ContactResource("c-1", "red", "open")
CLOSED_CONTACT = ContactResource("c-2", "amber", "closed")
HEALTH_REQUEST = InfoRequestResource("r-1", "health", "open", IN_TWO_HOURS, "amber")


@pytest.fixture(scope="module")
def pdp() -> PolicyDecisionPoint:
    return PolicyDecisionPoint.from_dir(Path(__file__).resolve().parents[3] / "policies")


def decide(
    pdp: PolicyDecisionPoint,
    principal: Any,
    action: Any,
    resource: Any,
    now: datetime = NOW,
    break_glass: bool = False,
) -> Decision:
    return pdp.decide(principal, action, resource, Context(now=now, break_glass=break_glass))


def allowed_by(policy_id: str, isa_id: str, clause: str) -> Decision:
    return Decision(True, (policy_id,), (isa_id,), (clause,), f"permitted by {policy_id}")


def forbidden_by(policy_id: str, clause: str) -> Decision:
    return Decision(False, (policy_id,), ("ISA-MASH-CORE",), (clause,), f"forbidden by {policy_id}")


NO_POLICY = Decision(False, reason="no policy permits")


@pytest.mark.parametrize(
    ("principal", "action", "resource", "expected"),
    [
        pytest.param(
            SCREENER,
            Action.CONTACT_READ,
            OPEN_RED_CONTACT,
            allowed_by("mash-staff-read-open-contact", "ISA-MASH-CORE", "3.2"),
            id="screener reads an open contact",
        ),
        pytest.param(SCREENER, Action.CONTACT_READ, CLOSED_CONTACT, NO_POLICY, id="closed contact"),
        pytest.param(
            SCREENER, Action.CONTACT_DECIDE, OPEN_RED_CONTACT, NO_POLICY, id="screener decides"
        ),
        pytest.param(
            MANAGER,
            Action.CONTACT_DECIDE,
            OPEN_RED_CONTACT,
            allowed_by("mash-manager-decide-open-contact", "ISA-MASH-CORE", "3.4"),
            id="manager decides",
        ),
        pytest.param(
            HEALTH_RESEARCHER,
            Action.CONTACT_READ,
            OPEN_RED_CONTACT,
            forbidden_by("forbid-contact-outside-mash", "6.1"),
            id="researcher reads a contact",
        ),
        pytest.param(
            HEALTH_RESEARCHER,
            Action.REQUEST_ANSWER,
            HEALTH_REQUEST,
            allowed_by("health-researcher-answer-own-request", "ISA-MASH-HEALTH", "4.3"),
            id="researcher answers",
        ),
        pytest.param(
            HEALTH_SYSTEM,
            Action.REQUEST_READ,
            HEALTH_REQUEST,
            allowed_by("health-researcher-read-own-request", "ISA-MASH-HEALTH", "4.2"),
            id="agency system reads",
        ),
        pytest.param(
            POLICE_RESEARCHER,
            Action.REQUEST_ANSWER,
            HEALTH_REQUEST,
            forbidden_by("forbid-answer-other-agency-request", "6.4"),
            id="another agency answers",
        ),
        pytest.param(
            HEALTH_RESEARCHER,
            Action.REQUEST_READ,
            InfoRequestResource("r-2", "health", "withdrawn", IN_TWO_HOURS, "red"),
            forbidden_by("forbid-read-closed-or-late-request", "6.5"),
            id="withdrawn request",
        ),
        pytest.param(
            HEALTH_RESEARCHER,
            Action.REQUEST_READ,
            InfoRequestResource("r-3", "health", "open", IN_TWO_HOURS, "green"),
            forbidden_by("forbid-partner-green-request", "6.2"),
            id="green request",
        ),
        pytest.param(
            SCREENER,
            Action.REQUEST_CREATE,
            InfoRequestResource("r-4", "education", "open", IN_TWO_HOURS, "green"),
            forbidden_by("forbid-request-unless-red-or-amber", "6.6"),
            id="request on a green contact",
        ),
        pytest.param(
            SCREENER,
            Action.REQUEST_CREATE,
            InfoRequestResource("r-5", "education", "open", IN_TWO_HOURS, "red"),
            allowed_by("mash-staff-request-education", "ISA-MASH-EDUCATION", "4.1"),
            id="request to education",
        ),
        pytest.param(
            SCREENER,
            Action.CONTRIBUTION_READ,
            ContributionResource("k-1", "health", True, "red"),
            NO_POLICY,
            id="screener reads a restricted health item",
        ),
        pytest.param(
            MANAGER,
            Action.CONTRIBUTION_READ,
            ContributionResource("k-1", "health", True, "red"),
            allowed_by("mash-staff-read-health-contribution", "ISA-MASH-HEALTH", "5.1"),
            id="manager reads a restricted health item",
        ),
        pytest.param(
            SCREENER,
            Action.CONTRIBUTION_READ,
            ContributionResource("k-2", "police", True, "amber"),
            allowed_by("mash-staff-read-core-contribution", "ISA-MASH-CORE", "5.2"),
            id="police screener reads a restricted police item",
        ),
        pytest.param(
            HEALTH_GOVERNANCE,
            Action.AUDIT_READ,
            AuditLogResource("health"),
            allowed_by("governance-lead-read-own-audit", "ISA-MASH-CORE", "8.3"),
            id="governance lead reads own audit",
        ),
        pytest.param(
            HEALTH_GOVERNANCE,
            Action.AUDIT_READ,
            AuditLogResource("police"),
            NO_POLICY,
            id="governance lead reads another audit",
        ),
        pytest.param(
            CSC_ADMIN,
            Action.USERS_MANAGE,
            UserDirectoryResource("csc"),
            allowed_by("admin-manage-own-users", "ISA-MASH-CORE", "8.4"),
            id="admin manages own users",
        ),
        pytest.param(
            Principal("u-adm2", "user", "csc", frozenset({"admin", "mash_manager"})),
            Action.CONTACT_READ,
            OPEN_RED_CONTACT,
            Decision(
                False,
                ("forbid-admin-case-content",),
                ("ISA-MASH-CORE",),
                ("6.3",),
                "forbidden by forbid-admin-case-content",
            ),
            id="admin who is also a manager",
        ),
        pytest.param(
            HEALTH_GOVERNANCE,
            Action.PERFORMANCE_READ,
            AgencyPerformanceResource("education"),
            NO_POLICY,
            id="partner lead reads another agency's performance",
        ),
        pytest.param(
            CSC_GOVERNANCE,
            Action.PERFORMANCE_READ,
            AgencyPerformanceResource("education"),
            allowed_by("core-governance-lead-read-all-performance", "ISA-MASH-CORE", "8.5"),
            id="core lead reads every agency's performance",
        ),
        pytest.param(
            HEALTH_GOVERNANCE,
            Action.AUDIT_FIND_CONTACT,
            TrailContactResource("MASH-2026-000002", "health", in_trail=False),
            NO_POLICY,
            id="partner lead looks up a contact outside its trail",
        ),
        pytest.param(
            HEALTH_GOVERNANCE,
            Action.AUDIT_LINKED_CHILDREN,
            TrailContactResource("MASH-2026-000002", "health", in_trail=True),
            NO_POLICY,
            id="partner lead asks for linked children",
        ),
        pytest.param(
            MANAGER_AND_LEAD,
            Action.BREAK_GLASS_REVIEW,
            BreakGlassGrantResource("g-1", holder="u-ml", agency="csc", owning_agency="police"),
            forbidden_by("forbid-review-own-break-glass", "7.3"),
            id="lead reviews own break-glass",
        ),
        pytest.param(
            CSC_GOVERNANCE,
            Action.BREAK_GLASS_REVIEW,
            BreakGlassGrantResource("g-1", holder="u-ml", agency="csc", owning_agency="police"),
            allowed_by("governance-lead-review-break-glass", "ISA-MASH-CORE", "7.2"),
            id="lead reviews a colleague's break-glass",
        ),
        pytest.param(
            HEALTH_GOVERNANCE,
            Action.DISCLOSURE_APPROVE,
            DisclosureResource("d-1", frozenset({"education"})),
            NO_POLICY,
            id="lead approves another agency's restricted item",
        ),
        pytest.param(
            HEALTH_RESEARCHER,
            Action.SCREENING_READ,
            ScreeningQueueResource(),
            NO_POLICY,
            id="partner reads the screening queue",
        ),
    ],
)
def test_decisions_name_their_policy_agreement_and_clause(
    pdp: PolicyDecisionPoint,
    principal: Principal,
    action: Action,
    resource: Any,
    expected: Decision,
) -> None:
    assert decide(pdp, principal, action, resource) == expected


def test_due_time_closes_the_request(pdp: PolicyDecisionPoint) -> None:
    due = HEALTH_REQUEST.due_at

    assert decide(
        pdp,
        HEALTH_RESEARCHER,
        Action.REQUEST_ANSWER,
        HEALTH_REQUEST,
        due - timedelta(microseconds=1),
    ).allowed
    late = decide(pdp, HEALTH_RESEARCHER, Action.REQUEST_ANSWER, HEALTH_REQUEST, due)
    assert late == forbidden_by("forbid-answer-closed-or-late-request", "6.5")
    assert not decide(pdp, HEALTH_RESEARCHER, Action.REQUEST_READ, HEALTH_REQUEST, due).allowed
    # MASH staff keep sight of their own requests after the due time.
    assert decide(pdp, SCREENER, Action.REQUEST_READ, HEALTH_REQUEST, due).allowed


def test_fractional_due_time_is_rounded_down(pdp: PolicyDecisionPoint) -> None:
    request = InfoRequestResource("r-9", "health", "open", NOW + timedelta(seconds=10.5), "red")

    assert decide(
        pdp, HEALTH_RESEARCHER, Action.REQUEST_ANSWER, request, NOW + timedelta(seconds=9.9)
    ).allowed
    assert not decide(
        pdp, HEALTH_RESEARCHER, Action.REQUEST_ANSWER, request, NOW + timedelta(seconds=10.2)
    ).allowed


def test_break_glass_is_reported_only_when_it_was_needed(pdp: PolicyDecisionPoint) -> None:
    # CLOSED_CONTACT has no history window left: only break-glass reviews it, read only.
    emergency = decide(pdp, MANAGER, Action.CONTACT_REVIEW, CLOSED_CONTACT, break_glass=True)
    recent = ContactResource("c-3", "amber", "closed", int((NOW + timedelta(days=1)).timestamp()))
    ordinary = decide(pdp, MANAGER, Action.CONTACT_REVIEW, recent, break_glass=True)

    assert emergency == Decision(
        True,
        ("mash-manager-break-glass-review-contact",),
        ("ISA-MASH-CORE",),
        ("7.1",),
        "permitted by mash-manager-break-glass-review-contact",
        break_glass=True,
    )
    assert ordinary == allowed_by("mash-staff-review-closed-contact", "ISA-MASH-CORE", "8.10")
    assert not decide(pdp, MANAGER, Action.CONTACT_REVIEW, CLOSED_CONTACT).allowed
    assert not decide(
        pdp, SCREENER, Action.CONTACT_REVIEW, CLOSED_CONTACT, break_glass=True
    ).allowed
    system = Principal("csc-sys", "client", "csc", frozenset({"mash_manager"}))
    assert not decide(pdp, system, Action.CONTACT_REVIEW, CLOSED_CONTACT, break_glass=True).allowed
    # Break-glass only reviews: it never reads a closed contact as open (the read that
    # requests and disclosures rest on), rates it or decides it.
    assert not decide(pdp, MANAGER, Action.CONTACT_READ, CLOSED_CONTACT, break_glass=True).allowed
    # Break-glass reads; it never rates or decides.
    assert not decide(pdp, MANAGER, Action.CONTACT_DECIDE, CLOSED_CONTACT, break_glass=True).allowed


def test_agreement_last_day_allows_and_next_day_denies(
    policies_copy: Path, edit_agreement: Callable[..., Path]
) -> None:
    edit_agreement("mash-health", in_force_from="2026-03-01", in_force_until="2026-06-30")
    pdp = PolicyDecisionPoint.from_dir(policies_copy, datetime(2026, 6, 1).date())
    request = InfoRequestResource("r-1", "health", "open", datetime(2026, 7, 2, tzinfo=UTC), "red")
    last_minute = datetime(2026, 6, 30, 23, 59, 59, tzinfo=LONDON)
    next_day = datetime(2026, 7, 1, 0, 0, 0, tzinfo=LONDON)

    assert decide(pdp, HEALTH_RESEARCHER, Action.REQUEST_ANSWER, request, last_minute).allowed
    assert decide(pdp, HEALTH_RESEARCHER, Action.REQUEST_ANSWER, request, next_day) == Decision(
        False,
        ("health-researcher-answer-own-request",),
        ("ISA-MASH-HEALTH",),
        ("4.3",),
        "agreement not in force",
    )
    item = ContributionResource("k-1", "health", False, "red")
    assert not decide(pdp, SCREENER, Action.CONTRIBUTION_READ, item, next_day).allowed
    # What rests on the core agreement carries on.
    assert decide(pdp, SCREENER, Action.CONTACT_READ, OPEN_RED_CONTACT, next_day).allowed


def test_suspended_core_agreement_stops_the_mash(
    policies_copy: Path, edit_agreement: Callable[..., Path]
) -> None:
    edit_agreement("mash-core", status='"suspended"')
    pdp = PolicyDecisionPoint.from_dir(policies_copy, NOW.date())

    decision = decide(pdp, SCREENER, Action.CONTACT_READ, OPEN_RED_CONTACT)

    assert (decision.allowed, decision.reason) == (False, "agreement not in force")
    assert decision.isa_ids == ("ISA-MASH-CORE",)


def test_an_exception_inside_is_a_deny(
    pdp: PolicyDecisionPoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("engine fell over")

    monkeypatch.setattr(cedarpy, "is_authorized", broken)

    assert decide(pdp, SCREENER, Action.CONTACT_READ, OPEN_RED_CONTACT) == Decision(
        False, reason="error: RuntimeError"
    )


def test_an_error_while_parsing_entities_is_a_deny(
    pdp: PolicyDecisionPoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(cedarpy.Entities, "with_added_json_str", broken)

    decision = decide(pdp, HEALTH_RESEARCHER, Action.REQUEST_ANSWER, HEALTH_REQUEST)
    assert decision == Decision(False, reason="error: MemoryError")


@dataclass(frozen=True)
class MistypedRequest:
    """An InfoRequest whose due time is not a number: Cedar fails to evaluate `<`."""

    id: str = "r-bad"
    entity_type: ClassVar[str] = "InfoRequest"

    def entity_json(self) -> str:
        attrs = {"agency": "health", "status": "open", "due_at": "soon", "contact_rag": "red"}
        return json.dumps(
            {"uid": {"type": "InfoRequest", "id": self.id}, "attrs": attrs, "parents": []}
        )


def test_a_policy_evaluation_error_is_a_deny(pdp: PolicyDecisionPoint) -> None:
    decision = decide(pdp, HEALTH_RESEARCHER, Action.REQUEST_ANSWER, MistypedRequest())
    assert decision == Decision(False, reason="error: PolicyEvaluationError")


@pytest.mark.parametrize(
    ("action", "resource", "now", "reason"),
    [
        (
            Action.CONTACT_READ,
            OPEN_RED_CONTACT,
            datetime(2026, 6, 1, 12),
            "error: PolicyInputError",
        ),
        (Action.REQUEST_READ, OPEN_RED_CONTACT, NOW, "error: PolicyInputError"),
        ("contact:delete", OPEN_RED_CONTACT, NOW, "error: ValueError"),
        (
            Action.REQUEST_READ,
            InfoRequestResource("r", "health", "open", datetime(2026, 6, 2), "red"),
            NOW,
            "error: PolicyInputError",
        ),
    ],
    ids=["naive now", "wrong resource type", "unknown action", "naive due time"],
)
def test_bad_input_is_a_deny(
    pdp: PolicyDecisionPoint, action: Any, resource: Any, now: datetime, reason: str
) -> None:
    assert decide(pdp, SCREENER, action, resource, now) == Decision(False, reason=reason)


def test_a_principal_id_that_is_not_a_string_is_a_deny(pdp: PolicyDecisionPoint) -> None:
    odd = Principal(42, "user", "police", frozenset({"screener"}))  # type: ignore[arg-type]
    decision = decide(pdp, odd, Action.CONTACT_READ, OPEN_RED_CONTACT)
    assert not decision.allowed
    assert decision.reason.startswith("error: ")


class Role(StrEnum):
    SCREENER = "screener"


@dataclass(frozen=True)
class GatePrincipal:
    """Shaped like the web gate's principal: extra fields, roles as a StrEnum."""

    kind: str
    id: str
    agency: str
    roles: frozenset[Role]
    scopes: frozenset[str]


def test_any_principal_shaped_object_is_accepted(pdp: PolicyDecisionPoint) -> None:
    principal = GatePrincipal("user", "u-9", "police", frozenset({Role.SCREENER}), frozenset())
    assert decide(pdp, principal, Action.CONTACT_READ, OPEN_RED_CONTACT).allowed


def test_a_change_of_roles_takes_effect_on_the_next_decision(pdp: PolicyDecisionPoint) -> None:
    before = Principal("u-same", "user", "police", frozenset({"screener"}))
    after = Principal("u-same", "user", "police", frozenset({"governance_lead"}))

    assert decide(pdp, before, Action.CONTACT_READ, OPEN_RED_CONTACT).allowed
    assert not decide(pdp, after, Action.CONTACT_READ, OPEN_RED_CONTACT).allowed


def test_principal_ids_with_any_characters_are_safe(pdp: PolicyDecisionPoint) -> None:
    for odd_id in ['quote"d', "back\\slash", "new\nline", 'Actor::"admin"', "ünïcødé"]:
        principal = Principal(odd_id, "user", "police", frozenset({"screener"}))
        assert decide(pdp, principal, Action.CONTACT_READ, OPEN_RED_CONTACT).allowed
        assert not decide(pdp, principal, Action.CONTACT_DECIDE, OPEN_RED_CONTACT).allowed


@pytest.mark.parametrize(
    ("resource", "conforms"),
    [
        (OPEN_RED_CONTACT, True),
        (HEALTH_REQUEST, True),
        (ContributionResource("k", "yos", False, "amber"), True),
        (AuditLogResource("police"), True),
        (UserDirectoryResource("housing"), True),
        (MistypedRequest(), False),  # the control: the schema does catch a wrong type
    ],
    ids=lambda value: type(value).__name__,
)
def test_entities_conform_to_the_schema(resource: Any, conforms: bool) -> None:
    schema = cedarpy.Schema.from_str(
        (Path(__file__).resolve().parents[3] / "policies" / "schema.cedarschema").read_text()
    )
    principal = {
        "uid": {"type": "Actor", "id": "u"},
        "attrs": {"agency": "csc", "roles": ["screener"], "kind": "user"},
        "parents": [],
    }
    entity = json.loads(resource.entity_json())
    assert entity["uid"] == {"type": resource.entity_type, "id": resource.id}
    entities = json.dumps([principal, entity])
    if conforms:
        cedarpy.Entities.from_json_str(entities, schema)
    else:
        with pytest.raises(ValueError, match="does not conform"):
            cedarpy.Entities.from_json_str(entities, schema)


def test_entity_json_escapes_every_string() -> None:
    odd = 'a"b\\c\n\u2028ü'
    resources = [
        ContactResource(odd, "red", "open"),
        InfoRequestResource(odd, odd, "open", NOW, "red"),
        ContributionResource(odd, odd, True, "red"),
        AuditLogResource(odd),
        UserDirectoryResource(odd),
    ]
    for resource in resources:
        entity = json.loads(resource.entity_json())
        assert entity["uid"]["id"] == odd
        assert entity["parents"] == []
    assert json.loads(resources[1].entity_json())["attrs"] == {
        "agency": odd,
        "status": "open",
        "due_at": int(NOW.timestamp()),
        "contact_rag": "red",
    }
    assert json.loads(resources[2].entity_json())["attrs"]["restricted"] is True


def test_a_surviving_clause_outlives_its_agreement(
    policies_copy: Path, edit_agreement: Callable[..., Path]
) -> None:
    """Retention (ISA-MASH-CORE 9.1) survives the agreement (10.3): a core lead still reviews
    records after it ends or is suspended; nothing else resting on it does."""
    edit_agreement("mash-core", in_force_until="2026-06-30")
    pdp = PolicyDecisionPoint.from_dir(policies_copy, NOW.date())
    after = datetime(2026, 7, 1, 0, 0, 0, tzinfo=LONDON)
    own_list = RetentionListResource("csc")

    assert decide(pdp, CSC_GOVERNANCE, Action.RETENTION_REVIEW, own_list, after) == allowed_by(
        "core-lead-review-retention", "ISA-MASH-CORE", "9.1"
    )
    assert not decide(pdp, SCREENER, Action.CONTACT_READ, OPEN_RED_CONTACT, after).allowed
    assert not decide(
        pdp, CSC_GOVERNANCE, Action.AUDIT_READ, AuditLogResource("csc"), after
    ).allowed
    # Only the core's leads, and only their own agency's list; never before it began.
    assert not decide(
        pdp, HEALTH_GOVERNANCE, Action.RETENTION_REVIEW, RetentionListResource("health"), after
    ).allowed
    assert not decide(
        pdp, CSC_GOVERNANCE, Action.RETENTION_REVIEW, RetentionListResource("police"), after
    ).allowed
    before = datetime(2025, 3, 31, 12, tzinfo=LONDON)
    assert not decide(pdp, CSC_GOVERNANCE, Action.RETENTION_REVIEW, own_list, before).allowed

    edit_agreement("mash-core", status='"suspended"')
    suspended = PolicyDecisionPoint.from_dir(policies_copy, NOW.date())
    assert decide(suspended, CSC_GOVERNANCE, Action.RETENTION_REVIEW, own_list).allowed
    assert not decide(suspended, SCREENER, Action.CONTACT_READ, OPEN_RED_CONTACT).allowed
