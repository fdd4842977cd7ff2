"""The criteria check: which early-help programme criteria a family appears to meet, from
the contact's presenting issues and the measures in partners' answers (an attendance of
82%), against the programmes in force (`policies/programmes/*.toml`, loaded at start).
Services never commit.

Shown to the MASH side on a contact (`contact:read`, audited as any read of the
contact); recorded by a screener or manager (`contact:rate`, as a proposal is), with its
evidence sealed under the contact's keys and the versions of the criteria in clear. The
measures come from `sharing.measures_given`, which leaves out an item withheld from the
person checking (another agency's restricted item), so the check never shows more than
the contact page does.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from mash_hub import runtime
from mash_hub.agencies import agency_name
from mash_hub.audit.services import EventDraft, record
from mash_hub.authz.gate import Principal
from mash_hub.contacts import services as contacts
from mash_hub.contacts.models import Contact, ContactPresentingIssue
from mash_hub.criteria.models import CriteriaCheck
from mash_hub.firewall import records
from mash_hub.http.times import api_time
from mash_hub.policy import Action
from mash_hub.policy.programmes import MEASURES, Programme, criteria_met, qualifies
from mash_hub.presenting_issues import in_list_order, label
from mash_hub.screening.services import display_names
from mash_hub.sharing import services as sharing
from mash_hub.uktime import uk


@dataclass(frozen=True)
class Evidence:
    """What met one criterion."""

    code: str
    label: str
    issues: tuple[str, ...]  # the presenting issues' labels
    # The measure that crossed the threshold: its label, value, the agency that gave it,
    # and when (an answer's time).
    measure: str | None = None
    value: float | None = None
    agency: str | None = None
    given_at: str | None = None


@dataclass(frozen=True)
class ProgrammeResult:
    id: str
    name: str
    version: str
    source: str
    rule: str
    qualifies: bool
    met: tuple[Evidence, ...]
    not_met: tuple[str, ...]


@dataclass(frozen=True)
class Recorded:
    checked_at: datetime
    checked_by: str
    programmes: str
    results: tuple[ProgrammeResult, ...]


@dataclass(frozen=True)
class CheckView:
    contact_id: str
    reference: str
    status: str
    issues: tuple[str, ...]  # labels, in the list's order
    measures: tuple[tuple[str, float, str], ...]  # (label, value, agency name), latest each
    results: tuple[ProgrammeResult, ...]
    recorded: tuple[Recorded, ...]  # newest first


def in_force(programmes: Iterable[Programme], on: date) -> list[Programme]:
    """The programmes whose criteria apply on `on`."""
    return [
        p
        for p in programmes
        if p.effective_from <= on and (p.effective_until is None or on <= p.effective_until)
    ]


def _latest(measures: Sequence[sharing.MeasureGiven]) -> dict[str, sharing.MeasureGiven]:
    """The latest value given of each measure."""
    latest: dict[str, sharing.MeasureGiven] = {}
    for given in sorted(measures, key=lambda m: m.answered_at):
        latest[given.code] = given
    return latest


def _rule_text(programme: Programme) -> str:
    group = programme.rule.group.replace("_", " ")
    group = f" of the {group} criteria" if group else ""
    return f"At least {programme.rule.at_least}{group}"


def evaluate(
    programmes: Sequence[Programme],
    issue_codes: Iterable[str],
    measures: Sequence[sharing.MeasureGiven],
) -> tuple[ProgrammeResult, ...]:
    """The check itself: each programme's criteria met by these presenting issues and
    measures (the latest value of each measure counts), with the evidence. Pure."""
    issue_codes = set(issue_codes)
    latest = _latest(measures)
    values = {code: given.value for code, given in latest.items()}
    results = []
    for programme in programmes:
        met = criteria_met(programme, issue_codes, values)
        met_codes = {m.code for m in met}
        evidence = []
        for m in met:
            measure = m.criterion.measure if m.measure_value is not None else None
            source = latest.get(measure) if measure else None
            evidence.append(
                Evidence(
                    code=m.code,
                    label=m.criterion.label,
                    issues=tuple(label(code) for code in in_list_order(list(m.issues))),
                    measure=MEASURES[measure].label if measure else None,
                    value=m.measure_value,
                    agency=agency_name(source.agency) if source else None,
                    given_at=source.answered_at.isoformat() if source else None,
                )
            )
        results.append(
            ProgrammeResult(
                id=programme.id,
                name=programme.name,
                version=programme.version,
                source=programme.source,
                rule=_rule_text(programme),
                qualifies=qualifies(programme, met),
                met=tuple(evidence),
                not_met=tuple(c.label for c in programme.criteria if c.code not in met_codes),
            )
        )
    return tuple(results)


def _open(db: Session, principal: Principal, contact_id: str, action: Action) -> Any:
    return records.open(
        db, principal, Contact, contact_id, action, missing=contacts.ContactNotFound
    )


def _inputs(
    db: Session, principal: Principal, opened: Any
) -> tuple[list[str], list[sharing.MeasureGiven]]:
    issues = list(
        db.scalars(
            opened.rows(ContactPresentingIssue).with_only_columns(ContactPresentingIssue.issue_code)
        )
    )
    return issues, sharing.measures_given(db, principal, opened.access)


def current(db: Session, principal: Principal, contact_id: str) -> CheckView:
    """The check as it stands, and the checks recorded before (one audited read)."""
    opened = _open(db, principal, contact_id, Action.CONTACT_READ)
    contact = opened.record
    issues, measures = _inputs(db, principal, opened)
    programmes = in_force(runtime.programmes(), uk(runtime.now()).date())
    latest = _latest(measures)
    recorded = []
    for row in db.scalars(
        opened.rows(CriteriaCheck).order_by(CriteriaCheck.checked_at.desc()).limit(20)
    ):
        recorded.append(
            Recorded(
                checked_at=row.checked_at,
                checked_by=row.checked_by,
                programmes=row.programmes,
                results=_results_from(json.loads(opened.text("result", row=row))),
            )
        )
    names = display_names(db, [r.checked_by for r in recorded])
    return CheckView(
        contact_id=opened.contact_id,
        reference=contact.reference,
        status=contact.status,
        issues=tuple(label(code) for code in in_list_order(issues)),
        measures=tuple(
            (MEASURES[g.code].label, g.value, agency_name(g.agency))
            for g in latest.values()
            if g.code in MEASURES
        ),
        results=evaluate(programmes, issues, measures),
        recorded=tuple(
            Recorded(r.checked_at, names.get(r.checked_by, r.checked_by), r.programmes, r.results)
            for r in recorded
        ),
    )


def record_check(db: Session, principal: Principal, contact_id: str) -> CriteriaCheck:
    """Record the check as it stands now: the evidence sealed, the criteria versions in
    clear. Audited. Raises firewall.AccessDenied for anyone who may not work the contact,
    and NothingToCheck when no programme is in force."""
    # Two decisions, each audited: reading what the check uses (the answers' measures are
    # released as the contact page releases them), and working the contact to record it.
    issues, measures = _inputs(db, principal, _open(db, principal, contact_id, Action.CONTACT_READ))
    opened = _open(db, principal, contact_id, Action.CONTACT_RATE)
    programmes = in_force(runtime.programmes(), uk(runtime.now()).date())
    if not programmes:
        raise NothingToCheck("no programme's criteria are in force today")
    results = evaluate(programmes, issues, measures)
    ident = uuid.uuid4()
    check = CriteriaCheck(
        id=ident,
        contact_id=uuid.UUID(opened.contact_id),
        checked_at=runtime.now(),
        checked_by=principal.id,
        programmes="; ".join(f"{p.id} {p.version}" for p in programmes)[:1000],
        result_sealed=opened.seal(
            "result",
            json.dumps([_result_json(r) for r in results]),
            table=CriteriaCheck.__tablename__,
            row_id=ident,
        ),
    )
    db.add(check)
    db.flush()
    record(
        db,
        EventDraft(
            kind="criteria.checked",
            actor_type=principal.kind,
            actor_id=principal.id,
            agency=principal.agency,
            roles=tuple(sorted(r.value for r in principal.roles)),
            action=Action.CONTACT_RATE.value,
            object_type="Contact",
            object_id=opened.contact_id,
            contact_id=opened.contact_id,
            decision="allow",
            reason="; ".join(
                f"{r.id}: {'meets' if r.qualifies else 'does not meet'} the rule" for r in results
            ),
        ),
    )
    return check


class NothingToCheck(Exception):
    pass


def _result_json(result: ProgrammeResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "name": result.name,
        "version": result.version,
        "source": result.source,
        "rule": result.rule,
        "qualifies": result.qualifies,
        "met": [e.__dict__ | {"issues": list(e.issues)} for e in result.met],
        "not_met": list(result.not_met),
    }


def _results_from(raw: list[dict[str, Any]]) -> tuple[ProgrammeResult, ...]:
    return tuple(
        ProgrammeResult(
            id=r["id"],
            name=r["name"],
            version=r["version"],
            source=r["source"],
            rule=r["rule"],
            qualifies=r["qualifies"],
            met=tuple(Evidence(**{**e, "issues": tuple(e["issues"])}) for e in r["met"]),
            not_met=tuple(r["not_met"]),
        )
        for r in raw
    )


def latest_recorded(db: Session, principal: Principal, contact_id: str) -> str | None:
    """The criteria check last recorded on the contact, as JSON (when, and each
    programme's result with its evidence), for an onward referral to carry; None if none
    was recorded. Read under its own decision (`contact:read`, audited)."""
    opened = _open(db, principal, contact_id, Action.CONTACT_READ)
    row = db.scalars(
        opened.rows(CriteriaCheck).order_by(CriteriaCheck.checked_at.desc()).limit(1)
    ).first()
    if row is None:
        return None
    return json.dumps(
        {
            "checked_at": api_time(row.checked_at),
            "programmes": json.loads(opened.text("result", row=row)),
        }
    )
