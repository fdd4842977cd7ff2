"""The policy decision point: one pure function from (who, what, on which record, when) to
allow or deny, with the policies, agreements and clauses that decided it.

The Cedar rules in policies/*.cedar are parsed once, at start-up, into one `PolicySet` per
(action, principal agency), holding only the policies that can apply: those whose scope
names the action and whose `when` does not pin `principal.agency` to other agencies.
Cedar would find the others unsatisfied anyway, but it spends microseconds on each
policy it is given. An allow is then checked against the ISA register: an allow resting only on
agreements that are not in force at `context.now` becomes a deny. Whatever goes wrong
inside, `decide` returns a deny and never raises.

Times reach Cedar as whole epoch seconds, rounded down, so `now < due_at` is never true
later than the real deadline.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime
from json.encoder import encode_basestring_ascii
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar, Literal, Protocol

import cedarpy
from cedarpy import pst

from mash_hub.agencies import AGENCY_CODES
from mash_hub.policy.check import inspect_policies
from mash_hub.policy.programmes import Programme
from mash_hub.policy.register import Finding, Register
from mash_hub.policy.types import (
    ACTION_RESOURCE_TYPES,
    ACTION_TYPE,
    PRINCIPAL_TYPE,
    Action,
    PolicyInfo,
    PolicySources,
)

Rag = Literal["none", "red", "amber", "green"]
ContactStatus = Literal["open", "closed"]
RequestStatus = Literal["open", "answered", "expired", "withdrawn"]
ReferralStatus = Literal["open", "accepted", "declined", "expired"]
ActorKind = Literal["user", "client"]


class Actor(Protocol):
    """Anything that says who is asking. `Principal` is one; so is the gate's principal,
    provided its roles are the policy roles (an API client's scopes need mapping first)."""

    @property
    def id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def agency(self) -> str: ...

    @property
    def roles(self) -> Set[str]: ...


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    kind: ActorKind
    agency: str
    roles: frozenset[str]


# Each resource writes its own Cedar entity JSON: an f-string is several times faster than
# json.dumps, and every string goes through the json module's own escaping.
_json_str = encode_basestring_ascii


@dataclass(frozen=True, slots=True)
class ContactResource:
    id: str
    rag: Rag
    status: ContactStatus
    # Until when (epoch seconds) a closed contact stays readable, read only, for screening
    # history: its closing plus the repeat-contact window; 0 for an open one.
    history_until: int = 0
    entity_type: ClassVar[str] = "Contact"

    def entity_json(self) -> str:
        return (
            f'{{"uid":{{"type":"Contact","id":{_json_str(self.id)}}},'
            f'"attrs":{{"rag":{_json_str(self.rag)},"status":{_json_str(self.status)},'
            f'"history_until":{int(self.history_until)}}},'
            '"parents":[]}'
        )


@dataclass(frozen=True, slots=True)
class InfoRequestResource:
    id: str
    agency: str  # the agency the request is addressed to
    status: RequestStatus
    due_at: datetime  # aware
    contact_rag: Rag
    entity_type: ClassVar[str] = "InfoRequest"

    def entity_json(self) -> str:
        return (
            f'{{"uid":{{"type":"InfoRequest","id":{_json_str(self.id)}}},'
            f'"attrs":{{"agency":{_json_str(self.agency)},"status":{_json_str(self.status)},'
            f'"due_at":{_epoch_seconds(self.due_at)},'
            f'"contact_rag":{_json_str(self.contact_rag)}}},"parents":[]}}'
        )


@dataclass(frozen=True, slots=True)
class OnwardReferralResource:
    """A family referred on from the MASH to a receiving service."""

    id: str
    agency: str  # the receiving service's agency
    status: ReferralStatus
    due_at: datetime  # aware: the service decides by then
    # Aware: until when an accepted referral stays readable to the service (None: not
    # accepted, so not readable after its due time).
    readable_until: datetime | None = None
    entity_type: ClassVar[str] = "OnwardReferral"

    def entity_json(self) -> str:
        until = _epoch_seconds(self.readable_until) if self.readable_until is not None else 0
        return (
            f'{{"uid":{{"type":"OnwardReferral","id":{_json_str(self.id)}}},'
            f'"attrs":{{"agency":{_json_str(self.agency)},"status":{_json_str(self.status)},'
            f'"due_at":{_epoch_seconds(self.due_at)},"readable_until":{until}}},'
            '"parents":[]}'
        )


@dataclass(frozen=True, slots=True)
class ContributionResource:
    id: str
    agency: str  # originating agency
    restricted: bool
    contact_rag: Rag
    entity_type: ClassVar[str] = "Contribution"

    def entity_json(self) -> str:
        restricted = "true" if self.restricted is True else "false"
        return (
            f'{{"uid":{{"type":"Contribution","id":{_json_str(self.id)}}},'
            f'"attrs":{{"agency":{_json_str(self.agency)},"restricted":{restricted},'
            f'"contact_rag":{_json_str(self.contact_rag)}}},"parents":[]}}'
        )


@dataclass(frozen=True, slots=True)
class _AgencyDuty:
    """A duty of one agency as the policy sees it: the agency is its id and its one
    attribute (its audit trail, its user accounts, its retention list...)."""

    agency: str
    entity_type: ClassVar[str] = ""

    @property
    def id(self) -> str:
        return self.agency

    def entity_json(self) -> str:
        agency = _json_str(self.agency)
        return (
            f'{{"uid":{{"type":"{self.entity_type}","id":{agency}}},'
            f'"attrs":{{"agency":{agency}}},"parents":[]}}'
        )


@dataclass(frozen=True, slots=True)
class AuditLogResource(_AgencyDuty):
    """The audit trail of one agency."""

    entity_type: ClassVar[str] = "AuditLog"


@dataclass(frozen=True, slots=True)
class RetentionListResource(_AgencyDuty):
    """The records of one agency listed for review when their retention periods run out."""

    entity_type: ClassVar[str] = "RetentionList"


@dataclass(frozen=True, slots=True)
class UserDirectoryResource(_AgencyDuty):
    """The user accounts of one agency."""

    entity_type: ClassVar[str] = "UserDirectory"


@dataclass(frozen=True, slots=True)
class AgencyPerformanceResource(_AgencyDuty):
    """The counts and times of the requests addressed to one agency (no case content)."""

    entity_type: ClassVar[str] = "AgencyPerformance"


@dataclass(frozen=True, slots=True)
class TrailContactResource:
    """A contact as a governance lead names it in the audit search of one agency's trail.

    `id` is what the lead typed (a reference or an id), never the contact's internal id,
    so that the audit of the look-up tells nothing about contacts the lead may not find.
    `in_trail` says whether the contact appears in that agency's trail."""

    id: str
    agency: str  # whose trail is searched
    in_trail: bool
    entity_type: ClassVar[str] = "TrailContact"

    def entity_json(self) -> str:
        in_trail = "true" if self.in_trail is True else "false"
        return (
            f'{{"uid":{{"type":"TrailContact","id":{_json_str(self.id)}}},'
            f'"attrs":{{"agency":{_json_str(self.agency)},"in_trail":{in_trail}}},'
            '"parents":[]}'
        )


@dataclass(frozen=True, slots=True)
class BreakGlassGrantResource:
    """One use of emergency access: who held it, from which agency, on whose contact."""

    id: str
    holder: str  # the id of the person who opened it
    agency: str  # the holder's agency
    owning_agency: str  # the agency that owns the contact
    entity_type: ClassVar[str] = "BreakGlassGrant"

    def entity_json(self) -> str:
        return (
            f'{{"uid":{{"type":"BreakGlassGrant","id":{_json_str(self.id)}}},'
            f'"attrs":{{"holder":{{"__entity":{{"type":"{PRINCIPAL_TYPE}",'
            f'"id":{_json_str(self.holder)}}}}},'
            f'"agency":{_json_str(self.agency)},'
            f'"owning_agency":{_json_str(self.owning_agency)}}},"parents":[]}}'
        )


@dataclass(frozen=True, slots=True)
class DisclosureResource:
    """A disclosure out of the MASH (one being started has the id "new")."""

    id: str
    restricted_by: frozenset[str]  # the agencies whose restricted items it releases
    entity_type: ClassVar[str] = "Disclosure"

    def entity_json(self) -> str:
        agencies = ",".join(_json_str(agency) for agency in sorted(self.restricted_by))
        return (
            f'{{"uid":{{"type":"Disclosure","id":{_json_str(self.id)}}},'
            f'"attrs":{{"restricted_by":[{agencies}]}},"parents":[]}}'
        )


@dataclass(frozen=True, slots=True)
class ScreeningQueueResource:
    """The MASH's screening work: its queue, sign-offs and screening staff."""

    id: str = "mash"
    entity_type: ClassVar[str] = "ScreeningQueue"

    def entity_json(self) -> str:
        return (
            f'{{"uid":{{"type":"ScreeningQueue","id":{_json_str(self.id)}}},'
            '"attrs":{},"parents":[]}'
        )


@dataclass(frozen=True, slots=True)
class MashReportsResource:
    """The MASH's performance figures: aggregates by period, never case content."""

    id: str = "mash"
    entity_type: ClassVar[str] = "MashReports"

    def entity_json(self) -> str:
        return (
            f'{{"uid":{{"type":"MashReports","id":{_json_str(self.id)}}},'
            '"attrs":{},"parents":[]}'
        )


@dataclass(frozen=True, slots=True)
class BreachLogResource(_AgencyDuty):
    """The breach log, as one agency records a breach into it."""

    entity_type: ClassVar[str] = "BreachLog"


@dataclass(frozen=True, slots=True)
class BreachResource:
    """A suspected personal data breach: who recorded it and whose data it concerns."""

    id: str
    recorded_by: str
    agencies: frozenset[str]
    entity_type: ClassVar[str] = "Breach"

    def entity_json(self) -> str:
        agencies = ",".join(_json_str(agency) for agency in sorted(self.agencies))
        return (
            f'{{"uid":{{"type":"Breach","id":{_json_str(self.id)}}},'
            f'"attrs":{{"recorded_by":{_json_str(self.recorded_by)},'
            f'"agencies":[{agencies}]}},"parents":[]}}'
        )


Resource = (
    ContactResource
    | InfoRequestResource
    | OnwardReferralResource
    | ContributionResource
    | AuditLogResource
    | RetentionListResource
    | UserDirectoryResource
    | AgencyPerformanceResource
    | TrailContactResource
    | BreakGlassGrantResource
    | DisclosureResource
    | ScreeningQueueResource
    | MashReportsResource
    | BreachLogResource
    | BreachResource
)


@dataclass(frozen=True, slots=True)
class Context:
    now: datetime  # aware
    break_glass: bool = False  # the principal has an open break-glass window


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer, with what decided it. `policy_ids`, `isa_ids` and `clauses` run in
    parallel, one entry per determining policy (an empty string where a forbid cites no
    agreement). `break_glass` is True when only a break-glass permit allowed the access."""

    allowed: bool
    policy_ids: tuple[str, ...] = ()
    isa_ids: tuple[str, ...] = ()
    clauses: tuple[str, ...] = ()
    reason: str = ""
    break_glass: bool = False


class PolicyInputError(ValueError):
    """The request cannot be put to the policies (wrong resource type, naive time, ...)."""


class PolicyEvaluationError(RuntimeError):
    """Cedar reported an error while evaluating a policy (never raised: named in reasons)."""


class PolicyConfigError(Exception):
    """The policies directory has errors; the decision point will not start on it."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        self.findings = tuple(findings)
        super().__init__("\n".join(str(finding) for finding in self.findings))


NOT_IN_FORCE = "agreement not in force"
NO_POLICY = "no policy permits"

_PERMITTED = "permitted"
_BREAK_GLASS = "break_glass"
_FORBIDDEN = "forbidden"
_NOT_IN_FORCE = "not_in_force"
_NO_POLICY = Decision(allowed=False, reason=NO_POLICY)
_EVALUATION_ERROR = Decision(allowed=False, reason=f"error: {PolicyEvaluationError.__name__}")

_PRINCIPAL_CACHE_SIZE = 4096
_DECISION_CACHE_SIZE = 4096
_PrincipalKey = tuple[str, str, str, frozenset[str]]


class PolicyDecisionPoint:
    """Holds the parsed rules and the register; `decide` is safe to call from any thread."""

    def __init__(self, sources: PolicySources) -> None:
        self._register = sources.register
        self._programmes = sources.programmes
        self._policies: Mapping[str, PolicyInfo] = MappingProxyType(
            {policy.policy_id: policy for policy in sources.policies}
        )
        self._policy_sets: Mapping[tuple[Action, str], cedarpy.PolicySet] = MappingProxyType(
            {
                (action, agency): _policy_set_for(action, agency, sources.policies)
                for action in Action
                for agency in AGENCY_CODES
            }
        )
        self._other_agency_policy_sets: Mapping[Action, cedarpy.PolicySet] = MappingProxyType(
            {action: _policy_set_for(action, None, sources.policies) for action in Action}
        )
        # Parsing entity JSON is a large share of a Cedar call. A principal makes many
        # requests, so its parsed entity is kept, keyed by every attribute it has (a change
        # of roles or agency is a new key), and each call parses only the resource.
        self._principal_entities: dict[_PrincipalKey, cedarpy.Entities] = {}
        self._decisions: dict[tuple[str, tuple[str, ...]], Decision] = {}

    @classmethod
    def from_dir(cls, policies_dir: Path, today: date | None = None) -> PolicyDecisionPoint:
        """Load and check policies/; PolicyConfigError if the check finds any error."""
        sources, findings = inspect_policies(policies_dir, today or datetime.now(UTC).date())
        errors = [finding for finding in findings if finding.severity == "error"]
        if errors:
            raise PolicyConfigError(errors)
        return cls(sources)

    @property
    def register(self) -> Register:
        return self._register

    @property
    def programmes(self) -> tuple[Programme, ...]:
        """The early-help programmes' criteria, checked with the rest of policies/."""
        return self._programmes

    def policy(self, policy_id: str) -> PolicyInfo | None:
        return self._policies.get(policy_id)

    def decide(
        self, principal: Actor, action: Action, resource: Resource, context: Context
    ) -> Decision:
        """Allow or deny, and why. Never raises: any failure is a deny naming the error."""
        try:
            return self._decide(principal, action, resource, context)
        except Exception as exc:  # fail closed, whatever it was
            return Decision(allowed=False, reason=f"error: {type(exc).__name__}")

    def _decide(
        self, principal: Actor, action: Action, resource: Resource, context: Context
    ) -> Decision:
        if type(action) is not Action:
            action = Action(action)
        resource_type = resource.entity_type
        if ACTION_RESOURCE_TYPES[action] != resource_type:
            raise PolicyInputError(f"{action} does not apply to {resource_type}")
        now = _epoch_seconds(context.now)
        resource_uid = {"type": resource_type, "id": resource.id}
        request = {
            "principal": {"type": PRINCIPAL_TYPE, "id": principal.id},
            "action": {"type": ACTION_TYPE, "id": action.value},
            "resource": resource_uid,
            # A string is passed through as is; `now` is an int, so this is valid JSON.
            "context": f'{{"now": {now}, "break_glass": '
            f"{'true' if context.break_glass is True else 'false'}}}",
        }
        entities = self._principal_entity(principal).with_added_json_str(
            f"[{resource.entity_json()}]"
        )
        policy_set = self._policy_sets.get((action, principal.agency))
        if policy_set is None:
            policy_set = self._other_agency_policy_sets[action]
        result = cedarpy.is_authorized(request, policy_set, entities)

        diagnostics = result.diagnostics
        if diagnostics.errors:
            return _EVALUATION_ERROR
        ids = tuple(sorted(diagnostics.reasons))
        if not result.allowed:
            return self._decision(_FORBIDDEN, ids) if ids else _NO_POLICY
        policies = self._policies
        register = self._register
        in_force = tuple(
            i
            for i in ids
            if register.in_force_at(policies[i].isa_id, now)
            or register.survives_at(policies[i].isa_id, policies[i].clause, now)
        )
        if not in_force:
            return self._decision(_NOT_IN_FORCE, ids)
        ordinary = tuple(policy_id for policy_id in in_force if not policies[policy_id].break_glass)
        if ordinary:
            return self._decision(_PERMITTED, ordinary)
        return self._decision(_BREAK_GLASS, in_force)

    def _decision(self, outcome: str, policy_ids: tuple[str, ...]) -> Decision:
        """Decisions are immutable and few (an outcome and a handful of policies), so each is
        built once and reused."""
        key = (outcome, policy_ids)
        decision = self._decisions.get(key)
        if decision is None:
            policies = [self._policies[policy_id] for policy_id in policy_ids]
            allowed = outcome in (_PERMITTED, _BREAK_GLASS)
            if outcome == _NOT_IN_FORCE:
                reason = NOT_IN_FORCE
            else:
                verb = "permitted by" if allowed else "forbidden by"
                reason = f"{verb} {', '.join(policy_ids)}"
            decision = Decision(
                allowed=allowed,
                policy_ids=policy_ids,
                isa_ids=tuple(policy.isa_id for policy in policies),
                clauses=tuple(policy.clause for policy in policies),
                reason=reason,
                break_glass=outcome == _BREAK_GLASS,
            )
            if len(self._decisions) >= _DECISION_CACHE_SIZE:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision

    def _principal_entity(self, principal: Actor) -> cedarpy.Entities:
        key = (principal.id, principal.kind, principal.agency, frozenset(principal.roles))
        entities = self._principal_entities.get(key)
        if entities is None:
            principal_json = json.dumps(
                {
                    "uid": {"type": PRINCIPAL_TYPE, "id": principal.id},
                    "attrs": {
                        "agency": principal.agency,
                        "roles": sorted(principal.roles),
                        "kind": principal.kind,
                    },
                    "parents": [],
                }
            )
            entities = cedarpy.Entities.from_json_str(f"[{principal_json}]")
            if len(self._principal_entities) >= _PRINCIPAL_CACHE_SIZE:
                self._principal_entities.clear()
            self._principal_entities[key] = entities
        return entities


def _epoch_seconds(moment: datetime) -> int:
    if moment.utcoffset() is None:
        raise PolicyInputError("times given to the policies must be timezone-aware")
    return math.floor(moment.timestamp())


def _policy_set_for(
    action: Action, agency: str | None, policies: Iterable[PolicyInfo]
) -> cedarpy.PolicySet:
    """The policies that can apply to `action` for a principal of `agency` (None: an agency
    the hub does not know). Anything the analysis does not recognise is kept."""
    chosen = {
        policy.policy_id: policy.node
        for policy in policies
        if _names_action(policy.node.action, action) and _may_apply_to_agency(policy.node, agency)
    }
    return cedarpy.PolicySet.from_pst(
        pst.PolicySet(templates={}, static_policies=chosen, template_links=())
    )


def _names_action(constraint: pst.ActionConstraint, action: Action) -> bool:
    """False only when the scope names actions and `action` is not among them. An action
    this module does not know (an action group, say) keeps the policy everywhere."""
    if isinstance(constraint, pst.ActionEq):
        named: tuple[pst.EntityUid, ...] = (constraint.entity,)
    elif isinstance(constraint, pst.ActionIn):
        named = constraint.entities
    else:
        return True
    return any(
        uid.id == action.value or uid.id not in _ACTION_IDS or str(uid.type) != ACTION_TYPE
        for uid in named
    )


def _may_apply_to_agency(node: pst.Template, agency: str | None) -> bool:
    """False only when a `when` clause is a chain of `&&` with a term that pins
    `principal.agency` to agencies other than `agency`: such a policy can never be
    satisfied for this principal. The hub's policies put that term first, so the
    terms after it are never evaluated for other agencies either."""
    for clause in node.clauses:
        if not isinstance(clause, pst.When):
            continue
        for term in _conjuncts(clause.expr):
            allowed = _pinned_agencies(term)
            if allowed is not None and agency not in allowed:
                return False
    return True


def _conjuncts(expr: pst.Expr) -> Iterator[pst.Expr]:
    if isinstance(expr, pst.BinaryOp) and expr.op == "and":
        yield from _conjuncts(expr.left)
        yield from _conjuncts(expr.right)
    else:
        yield expr


def _pinned_agencies(term: pst.Expr) -> frozenset[str] | None:
    """The agencies `term` allows if it is `principal.agency == "x"` or
    `["x", "y"].contains(principal.agency)`; None for any other term."""
    if not isinstance(term, pst.BinaryOp):
        return None
    if term.op == "eq":
        for side, other in ((term.left, term.right), (term.right, term.left)):
            if _is_principal_agency(side) and isinstance(other, pst.StringLit):
                return frozenset({other.value})
    if (
        term.op == "contains"
        and _is_principal_agency(term.right)
        and isinstance(term.left, pst.Set)
        and all(isinstance(element, pst.StringLit) for element in term.left.elements)
    ):
        return frozenset(
            element.value for element in term.left.elements if isinstance(element, pst.StringLit)
        )
    return None


def _is_principal_agency(expr: pst.Expr) -> bool:
    return (
        isinstance(expr, pst.GetAttr)
        and expr.attr == "agency"
        and isinstance(expr.base, pst.Var)
        and expr.base.name == "principal"
    )


_ACTION_IDS = frozenset(member.value for member in Action)
