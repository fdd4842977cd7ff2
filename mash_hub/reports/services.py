"""The MASH's own performance: figures by week, month or quarter for MASH managers and
governance leads (issue #15 item 5; the seeds' "Origin of Referrals", "Family
Composition" and "Measures of Success" charts). Services never commit.

Who sees them is decided by the firewall (`report:read` on the MASH's reports, clause
8.12 of the core agreement): the managers and leads of the core agencies. A partner's
lead is refused here, and sees their own agency's response figures in the governance
workspace (`performance:read`, 8.5). On PostgreSQL, row-level security lets the core
agencies see every contact, rating, decision and request, so the figures count all of
them; nobody else reaches these queries.

Every figure counts the contacts *received* in each period, whatever became of them
later (a contact received in March and decided in April counts in March), so the
figures of one period add up across reports. Each report is one or a few aggregate
queries (GROUP BY over a CASE that names each row's period); none loops over the rows.
No report reads a sealed column: the figures are counts of plain columns (dates, codes,
ratings, outcomes, roles) and never case content.

Small numbers: a count from 1 to 4 is shown as "fewer than 5" (statistical disclosure
control), and where a table shows totals, further counts are hidden so that no hidden
count can be worked out from a total and the counts beside it.

A further report is one more `ReportDefinition` in `REPORTS`: a function from the
`Inputs` (session, principal, periods) to a `Report`, usually a `_tally` of one query
turned into a table by `_breakdown` (counts by category) or `_shares` (a numerator of a
denominator). Presenting issues and step-downs join this way once their data exists.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import Select, String, and_, case, cast, exists, func, literal, select, text
from sqlalchemy.orm import Session, aliased

from mash_hub import runtime, uktime
from mash_hub.agencies import AGENCIES
from mash_hub.audit.services import EventDraft, record
from mash_hub.authz.gate import Principal
from mash_hub.authz.permissions import Role
from mash_hub.contacts.models import (
    SUBJECT_ROLES,
    Contact,
    ContactDecision,
    ContactSubject,
    DecisionReview,
    ReferrerAcknowledgement,
)
from mash_hub.contacts.referrers import REFERRER_LABELS
from mash_hub.firewall import duties, require
from mash_hub.firewall.decisions import Access
from mash_hub.http.spreadsheets import safe_cell
from mash_hub.identity.models import Agency
from mash_hub.policy import Action
from mash_hub.screening.services import OUTCOME_LABELS
from mash_hub.sharing import services as sharing

Period = Literal["week", "month", "quarter"]
PERIODS: dict[str, str] = {"week": "Week", "month": "Month", "quarter": "Quarter"}
# Counts from 1 to SMALL - 1 are not shown.
SMALL = 5
FEWER = "fewer than 5"
HIDDEN = "not shown"
# The longest range one page may ask for: three years, 157 weeks.
LONGEST = timedelta(days=3 * 366)
# The Department for Education counts a re-referral within 12 months of the last one.
REREFERRAL_WINDOW = timedelta(days=365)
CORE = frozenset(agency.code for agency in AGENCIES if agency.mash_core)
RAG_LABELS = {"red": "Red", "amber": "Amber", "green": "Green"}


# ------------------------------------------------------------------------ periods


@dataclass(frozen=True)
class Window:
    """UK days `first` to `last`, both included, shown by `period`."""

    first: date
    last: date
    period: Period

    @property
    def start(self) -> datetime:
        return _uk_midnight(self.first)

    @property
    def end(self) -> datetime:
        return _uk_midnight(self.last + timedelta(days=1))


@dataclass(frozen=True)
class Bucket:
    label: str
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive


def _uk_midnight(day: date) -> datetime:
    # A UK day of a clock change is 23 or 25 hours long: midnight is found in UK time.
    return datetime.combine(day, time(), uktime.UK).astimezone(UTC)


def _period_start(day: date, period: Period) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())  # Monday
    if period == "month":
        return day.replace(day=1)
    return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)


def _next_start(start: date, period: Period) -> date:
    if period == "week":
        return start + timedelta(days=7)
    months = 1 if period == "month" else 3
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1)


def _label(start: date, period: Period) -> str:
    if period == "week":
        return f"Week beginning {uktime.day(start)}"
    if period == "month":
        return f"{start:%B %Y}"
    last = _next_start(start, period) - timedelta(days=1)
    return f"{start:%B} to {last:%B %Y}"


def buckets(window: Window) -> list[Bucket]:
    """The periods of the window, the first and last cut to it (they may be partial)."""
    out = []
    start = _period_start(window.first, window.period)
    while start <= window.last:
        following = _next_start(start, window.period)
        out.append(
            Bucket(
                _label(start, window.period),
                _uk_midnight(max(start, window.first)),
                _uk_midnight(min(following, window.last + timedelta(days=1))),
            )
        )
        start = following
    return out


def default_window(today: date) -> Window:
    """The last twelve months by month, this month included."""
    first = _period_start(today, "month")
    for _ in range(11):
        first = _period_start(first - timedelta(days=1), "month")
    return Window(first, today, "month")


# ------------------------------------------------------------------ small numbers


def shown(count: int | None) -> str:
    """A count as the page and the CSV show it."""
    if count is None:
        return HIDDEN
    if 0 < count < SMALL:
        return FEWER
    return f"{count:,}"


def _small(count: int) -> bool:
    return 0 < count < SMALL


def _text(count: int, visible: int | None) -> str:
    """A count of a suppressed table: "fewer than 5" for a small one, "not shown" for
    one hidden to protect a small one."""
    return shown(count) if visible is not None or _small(count) else HIDDEN


def suppress(cells: list[list[int]], *, row_totals: bool) -> list[list[int | None]]:
    """`cells` (one row per period; the last row the totals of each column, and, with
    `row_totals`, the last column each row's total) with the counts that must not be
    shown replaced by None: every count from 1 to 4, and then, for as long as a row or
    column that adds up (its cells and its total) has exactly one count hidden, the
    smallest other non-zero count of that line, so the hidden one cannot be worked out
    by subtraction. The totals row and column are hidden only if no other count can be."""
    height, width = len(cells), len(cells[0]) if cells else 0
    hidden = {(i, j) for i in range(height) for j in range(width) if _small(cells[i][j])}
    lines: list[list[tuple[int, int]]] = [[(i, j) for i in range(height)] for j in range(width)]
    if row_totals:
        lines += [[(i, j) for j in range(width)] for i in range(height)]
    changed = True
    while changed:
        changed = False
        for line in lines:
            if sum(1 for place in line if place in hidden) != 1:
                continue
            totals = {line[-1]}
            candidates = [p for p in line if p not in hidden and cells[p[0]][p[1]] > 0]
            if not candidates:
                continue
            inner = [p for p in candidates if p not in totals]
            pick = min(inner or candidates, key=lambda p: cells[p[0]][p[1]])
            hidden.add(pick)
            changed = True
    return [
        [None if (i, j) in hidden else cells[i][j] for j in range(width)] for i in range(height)
    ]


# ------------------------------------------------------------------ the reports


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # a count, or a share from 0 to 1; None where it is not shown
    text: str


@dataclass(frozen=True)
class ChartSpec:
    """A horizontal bar per category over the whole range; the table has the periods."""

    title: str
    unit: Literal["count", "share"]
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Report:
    key: str
    title: str
    explanation: str
    row_heading: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]  # (label, cells as shown)
    chart: ChartSpec


@dataclass(frozen=True)
class Inputs:
    db: Session
    principal: Principal
    window: Window
    buckets: list[Bucket]
    now: datetime


@dataclass(frozen=True)
class ReportDefinition:
    key: str
    title: str
    explanation: str
    build: Callable[[Inputs, ReportDefinition], Report]


ALL_PERIODS = "All periods"
Tally = dict[tuple[int, str], int]


def _tally(inputs: Inputs, rows: Select[datetime, Any]) -> Tally:
    """How many of `rows` (a select of a `moment` and a `category`) fall in each period
    and category: one GROUP BY query. The period is a CASE over the periods' ends, named
    in a subquery so that PostgreSQL groups by the name rather than by an expression
    whose parameters it cannot compare."""
    inner = rows.subquery()
    moment = inner.c.moment
    spans = inputs.buckets
    period = case(
        *((moment < bucket.end, index) for index, bucket in enumerate(spans)),
        else_=len(spans),
    ).label("period")
    named = (
        select(period, inner.c.category)
        .where(moment >= inputs.window.start, moment < inputs.window.end)
        .subquery()
    )
    query = select(named.c.period, named.c.category, func.count()).group_by(
        named.c.period, named.c.category
    )
    return {
        (int(index), str(category)): int(count)
        for index, category, count in inputs.db.execute(query)
        if index < len(spans)
    }


def _breakdown(
    inputs: Inputs,
    definition: ReportDefinition,
    tally: Tally,
    categories: Sequence[tuple[str, str]],
) -> Report:
    """Counts by category: a row per period and one for the whole range, a column per
    category and one for the total."""
    codes = [code for code, _label in categories]
    matrix = [[tally.get((i, code), 0) for code in codes] for i in range(len(inputs.buckets))]
    matrix.append([sum(column) for column in zip(*matrix, strict=True)] if matrix else [])
    matrix = [[*row, sum(row)] for row in matrix]
    visible = suppress(matrix, row_totals=True)
    labels = [bucket.label for bucket in inputs.buckets] + [ALL_PERIODS]
    whole = visible[-1]
    return Report(
        definition.key,
        definition.title,
        definition.explanation,
        PERIODS[inputs.window.period],
        (*(label for _code, label in categories), "Total"),
        tuple(
            (label, tuple(_text(n, v) for n, v in zip(counts, row, strict=True)))
            for label, counts, row in zip(labels, matrix, visible, strict=True)
        ),
        ChartSpec(
            f"{definition.title}, {_range(inputs.window)}",
            "count",
            tuple(
                Bar(label, shown_count, _text(count, shown_count))
                for (_code, label), count, shown_count in zip(
                    categories, matrix[-1], whole, strict=False
                )
            ),
        ),
    )


@dataclass(frozen=True)
class Series:
    """A share: the count of `numerator` categories of the count of `denominator` ones."""

    label: str
    numerator_label: str
    denominator_label: str
    numerator: frozenset[str]
    denominator: frozenset[str]


def _share_text(part: int | None, whole: int | None) -> tuple[float | None, str]:
    if part is None or whole is None or _small(part) or _small(whole):
        return None, HIDDEN
    if whole == 0:
        return None, "none"
    return part / whole, f"{part / whole:.0%}"


def _shares(
    inputs: Inputs, definition: ReportDefinition, tally: Tally, series: Sequence[Series]
) -> Report:
    """Shares: for each series a column of its numerator, its denominator and the share,
    a row per period and one for the whole range. A share is shown only where neither of
    its counts is hidden."""
    periods = range(len(inputs.buckets))
    matrix: list[list[int]] = [
        [
            sum(tally.get((i, code), 0) for code in codes)
            for one in series
            for codes in (one.numerator, one.denominator)
        ]
        for i in periods
    ]
    matrix.append([sum(column) for column in zip(*matrix, strict=True)] if matrix else [])
    visible = suppress(matrix, row_totals=False)
    labels = [bucket.label for bucket in inputs.buckets] + [ALL_PERIODS]
    rows = []
    for label, counts, row in zip(labels, matrix, visible, strict=True):
        cells: list[str] = []
        for k in range(len(series)):
            part, whole = row[2 * k], row[2 * k + 1]
            cells += [
                _text(counts[2 * k], part),
                _text(counts[2 * k + 1], whole),
                _share_text(part, whole)[1],
            ]
        rows.append((label, tuple(cells)))
    whole_row = visible[-1]
    bars = []
    for k, one in enumerate(series):
        value, text = _share_text(whole_row[2 * k], whole_row[2 * k + 1])
        bars.append(Bar(one.label, value, text))
    columns = tuple(
        name
        for one in series
        for name in (
            f"{one.label}: {one.numerator_label}",
            f"{one.label}: {one.denominator_label}",
            f"{one.label}: share",
        )
    )
    return Report(
        definition.key,
        definition.title,
        definition.explanation,
        PERIODS[inputs.window.period],
        columns,
        tuple(rows),
        ChartSpec(f"{definition.title}, {_range(inputs.window)}", "share", tuple(bars)),
    )


def _range(window: Window) -> str:
    return f"{uktime.day(window.first)} to {uktime.day(window.last)}"


def _role_label(role: str) -> str:
    return role.replace("_", " ").capitalize()


# -- contacts by who made them, and by agency


def _by_referrer(inputs: Inputs, definition: ReportDefinition) -> Report:
    rows = select(Contact.received_at.label("moment"), Contact.referrer_type.label("category"))
    return _breakdown(inputs, definition, _tally(inputs, rows), list(REFERRER_LABELS.items()))


def _by_agency(inputs: Inputs, definition: ReportDefinition) -> Report:
    rows = (
        select(Contact.received_at.label("moment"), Agency.code.label("category"))
        .join(Agency, Agency.id == Contact.source_agency_id)
        .where(Contact.referrer_type == "agency")
    )
    categories = [(agency.code, agency.name) for agency in AGENCIES]
    return _breakdown(inputs, definition, _tally(inputs, rows), categories)


# -- family composition


def _by_role(inputs: Inputs, definition: ReportDefinition) -> Report:
    rows = select(Contact.received_at.label("moment"), ContactSubject.role.label("category")).join(
        Contact, Contact.id == ContactSubject.contact_id
    )
    categories = [(role, _role_label(role)) for role in SUBJECT_ROLES]
    return _breakdown(inputs, definition, _tally(inputs, rows), categories)


def _by_children(inputs: Inputs, definition: ReportDefinition) -> Report:
    named = (
        select(ContactSubject.contact_id, func.count().label("children"))
        .where(ContactSubject.role == "child")
        .group_by(ContactSubject.contact_id)
        .subquery()
    )
    children = func.coalesce(named.c.children, 0)
    size = case((children >= 4, "4+"), else_=cast(children, String))
    rows = select(Contact.received_at.label("moment"), size.label("category")).outerjoin(
        named, named.c.contact_id == Contact.id
    )
    categories = [("0", "None"), ("1", "One"), ("2", "Two"), ("3", "Three"), ("4+", "Four or more")]
    return _breakdown(inputs, definition, _tally(inputs, rows), categories)


# -- ratings


def _rag_mix(inputs: Inputs, definition: ReportDefinition) -> Report:
    rows = select(
        Contact.received_at.label("moment"),
        func.coalesce(Contact.rag, "none").label("category"),
    )
    categories = [*RAG_LABELS.items(), ("none", "Not yet rated")]
    return _breakdown(inputs, definition, _tally(inputs, rows), categories)


# -- decisions within their deadline, by rating


def _first_approvals() -> Any:
    """When each contact's outcome was first signed off: the decision, as a manager
    approved it."""
    return (
        select(DecisionReview.contact_id, func.min(DecisionReview.reviewed_at).label("at"))
        .where(DecisionReview.verdict == "approved")
        .group_by(DecisionReview.contact_id)
        .subquery()
    )


def _decisions_in_time(inputs: Inputs, definition: ReportDefinition) -> Report:
    approved = _first_approvals()
    due = Contact.decision_due_at
    state = case(
        (and_(approved.c.at.is_(None), due <= inputs.now), "overdue"),
        (approved.c.at.is_(None), "waiting"),
        (approved.c.at <= due, "in_time"),
        else_="late",
    )
    rows = (
        select(Contact.received_at.label("moment"), (Contact.rag + ":" + state).label("category"))
        .outerjoin(approved, approved.c.contact_id == Contact.id)
        .where(Contact.rag.is_not(None), due.is_not(None))
    )
    series = [
        Series(
            label,
            "decided in time",
            "decided or past deadline",
            frozenset({f"{rag}:in_time"}),
            frozenset({f"{rag}:in_time", f"{rag}:late", f"{rag}:overdue"}),
        )
        for rag, label in RAG_LABELS.items()
    ]
    return _shares(inputs, definition, _tally(inputs, rows), series)


# -- outcomes


def _approved_outcomes() -> Select[datetime, Any]:
    return (
        select(Contact.received_at.label("moment"), ContactDecision.outcome.label("category"))
        .join(DecisionReview, DecisionReview.decision_id == ContactDecision.id)
        .join(Contact, Contact.id == ContactDecision.contact_id)
        .where(DecisionReview.verdict == "approved")
    )


def _outcome_mix(inputs: Inputs, definition: ReportDefinition) -> Report:
    tally = _tally(inputs, _approved_outcomes())
    return _breakdown(inputs, definition, tally, list(OUTCOME_LABELS.items()))


def _conversion(inputs: Inputs, definition: ReportDefinition) -> Report:
    every = frozenset(OUTCOME_LABELS)
    series = [
        Series(
            "Social care assessment (s47 or s17)",
            "referred",
            "decided",
            frozenset({"strategy_discussion", "s17_assessment"}),
            every,
        ),
        Series(
            "Strategy discussion (s47)",
            "referred",
            "decided",
            frozenset({"strategy_discussion"}),
            every,
        ),
        Series("Assessment (s17)", "referred", "decided", frozenset({"s17_assessment"}), every),
        Series("Early help or step-down", "referred", "decided", frozenset({"early_help"}), every),
    ]
    return _shares(inputs, definition, _tally(inputs, _approved_outcomes()), series)


# -- re-referrals


def _rereferrals(inputs: Inputs, definition: ReportDefinition) -> Report:
    """A contact is a re-referral when a child on it, linked to the person register, was
    a child on another contact received in the 365 days before it. Merged persons count
    as one: an approved merge moves the subjects to the survivor."""
    child, earlier_child = aliased(ContactSubject), aliased(ContactSubject)
    earlier = aliased(Contact)
    if inputs.db.get_bind().dialect.name == "postgresql":
        since = Contact.received_at - literal(REREFERRAL_WINDOW)
    else:  # SQLite keeps times as text in this form
        since = func.strftime("%Y-%m-%d %H:%M:%f", Contact.received_at, "-365 days")
    repeat = exists(
        select(1)
        .select_from(child)
        .join(
            earlier_child,
            and_(
                earlier_child.person_id == child.person_id,
                earlier_child.role == "child",
                earlier_child.contact_id != child.contact_id,
            ),
        )
        .join(earlier, earlier.id == earlier_child.contact_id)
        .where(
            child.contact_id == Contact.id,
            child.role == "child",
            child.person_id.is_not(None),
            earlier.received_at < Contact.received_at,
            earlier.received_at >= since,
        )
    )
    rows = select(
        Contact.received_at.label("moment"),
        case((repeat, "repeat"), else_="first").label("category"),
    )
    series = [
        Series(
            "Re-referrals within 12 months",
            "re-referrals",
            "contacts",
            frozenset({"repeat"}),
            frozenset({"repeat", "first"}),
        )
    ]
    return _shares(inputs, definition, _tally(inputs, rows), series)


# -- referrers told in time


def _referrers_told(inputs: Inputs, definition: ReportDefinition) -> Report:
    due = DecisionReview.acknowledgement_due_at
    told = ReferrerAcknowledgement.told_at
    state = case(
        (and_(told.is_(None), due <= inputs.now), "overdue"),
        (told.is_(None), "waiting"),
        (told <= due, "in_time"),
        else_="late",
    )
    rows = (
        select(Contact.received_at.label("moment"), state.label("category"))
        .select_from(DecisionReview)
        .join(Contact, Contact.id == DecisionReview.contact_id)
        .outerjoin(ReferrerAcknowledgement, ReferrerAcknowledgement.contact_id == Contact.id)
        .where(DecisionReview.verdict == "approved", due.is_not(None))
    )
    series = [
        Series(
            "Referrers told the outcome in time",
            "told in time",
            "told or past due",
            frozenset({"in_time"}),
            frozenset({"in_time", "late", "overdue"}),
        )
    ]
    return _shares(inputs, definition, _tally(inputs, rows), series)


# -- partners' response


def _partners(inputs: Inputs, definition: ReportDefinition) -> Report:
    """Each agency's answers to the requests sent in the range (not by period): the
    figures `sharing.response_performance_between` gives the governance workspace, each
    agency's row decided as `performance:read`."""
    rows = sharing.response_performance_for(
        inputs.db, inputs.principal, between=(inputs.window.start, inputs.window.end)
    )
    table = []
    bars = []
    for row in rows:
        answered = None if _small(row.answered) else row.answered
        closed = row.answered + row.expired
        share, share_text = _share_text(answered, None if _small(closed) else closed)
        # A median of one to four answers would show one of them nearly exactly.
        median = "none" if not row.answered else HIDDEN
        if row.median_response is not None and row.answered >= SMALL:
            median = uktime.span(row.median_response)
        table.append(
            (
                row.agency_name,
                (shown(row.answered), shown(row.expired), shown(row.open), share_text, median),
            )
        )
        bars.append(Bar(row.agency_name, share, share_text))
    return Report(
        definition.key,
        definition.title,
        definition.explanation,
        "Agency",
        (
            "Answered in time",
            "Expired unanswered",
            "Still open",
            "Share answered in time",
            "Median time to answer",
        ),
        tuple(table),
        ChartSpec(f"{definition.title}, {_range(inputs.window)}", "share", tuple(bars)),
    )


REPORTS: tuple[ReportDefinition, ...] = (
    ReportDefinition(
        "referrer_types",
        "Contacts by who made them",
        "Origin of referrals: every contact received, by the kind of referrer.",
        _by_referrer,
    ),
    ReportDefinition(
        "source_agencies",
        "Contacts from the hub's agencies",
        "Contacts made by an agency of the hub, by that agency.",
        _by_agency,
    ),
    ReportDefinition(
        "people_by_role",
        "People named in contacts, by role",
        "Family composition: each person named in a contact received, by their role on it.",
        _by_role,
    ),
    ReportDefinition(
        "children_per_contact",
        "Contacts by number of children named",
        "Family composition: how many children each contact received names.",
        _by_children,
    ),
    ReportDefinition(
        "ratings",
        "Contacts by rating",
        "Each contact received, by its rating now (Red, Amber or Green), or not yet rated.",
        _rag_mix,
    ),
    ReportDefinition(
        "decisions_in_time",
        "Decisions made within their deadline, by rating",
        "Of the rated contacts that were decided or are past their decision deadline, the "
        "share whose outcome a manager signed off by the deadline. Contacts still within "
        "their deadline are not counted yet.",
        _decisions_in_time,
    ),
    ReportDefinition(
        "outcomes",
        "Outcomes signed off",
        "The outcome of each contact received, once a manager signed it off.",
        _outcome_mix,
    ),
    ReportDefinition(
        "conversion",
        "Contacts going on to social care assessment or early help",
        "Of the contacts decided, the share whose outcome was a strategy discussion (s47), "
        "a child and family assessment (s17), or early help.",
        _conversion,
    ),
    ReportDefinition(
        "rereferrals",
        "Re-referrals within 12 months",
        "Contacts naming a child, linked to the person register, who was a child on another "
        "contact received in the 365 days before. Possible repeats a screener has not yet "
        "linked are not counted.",
        _rereferrals,
    ),
    ReportDefinition(
        "referrers_told",
        "Referrers told the outcome in time",
        "Of the signed-off outcomes whose referrer was told, or should have been by now, the "
        "share told by the time due (one working day after sign-off).",
        _referrers_told,
    ),
    ReportDefinition(
        "partners",
        "Partners' response to information requests",
        "For the requests sent in the range, by the agency asked (not by period).",
        _partners,
    ),
)


# ------------------------------------------------------------------ access and runs


def may_read(principal: Principal) -> bool:
    """Whether the principal's role and agency could see the reports at all (for
    offering the link; each look is decided and audited as `report:read`)."""
    return (
        principal.kind == "user"
        and principal.agency in CORE
        and bool(principal.roles & {Role.MASH_MANAGER, Role.GOVERNANCE_LEAD})
    )


def open_reports(principal: Principal) -> Access:
    """Decide and audit one look at the reports; raises AccessDenied if refused."""
    return require(principal, Action.REPORT_READ, duties.mash_reports())


def run(db: Session, principal: Principal, window: Window) -> list[Report]:
    """Every report over the window, for a principal allowed to see them: the decision
    is taken and audited here."""
    open_reports(principal)
    if db.get_bind().dialect.name == "postgresql":
        # Row-level security's predicates make the planner expect costly plans, so it
        # compiles them with JIT, which takes longer than the queries themselves (0.9 s
        # against 0.3 s for a year of a large authority's contacts). For this unit of work
        # only.
        db.execute(text("SET LOCAL jit = off"))
    inputs = Inputs(db, principal, window, buckets(window), runtime.now())
    return [definition.build(inputs, definition) for definition in REPORTS]


def csv_text(reports: Iterable[Report]) -> tuple[str, int]:
    """The figures as CSV, one line per report, period (or agency) and measure, as the
    page shows them (small numbers included as "fewer than 5"); and the line count."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Report", "Period or agency", "Measure", "Value"])
    lines = 0
    for report in reports:
        for label, cells in report.rows:
            for column, cell in zip(report.columns, cells, strict=True):
                writer.writerow([safe_cell(v) for v in (report.title, label, column, cell)])
                lines += 1
    return out.getvalue(), lines


def export(db: Session, principal: Principal, window: Window) -> tuple[str, str]:
    """Every report as CSV, decided like the page and audited as an export with its range
    and period. Returns (file name, CSV text)."""
    reports = run(db, principal, window)
    text, lines = csv_text(reports)
    record(
        db,
        EventDraft(
            kind="report.exported",
            actor_type=principal.kind,
            actor_id=principal.id,
            agency=principal.agency,
            roles=tuple(sorted(role.value for role in principal.roles)),
            action="report:export",
            object_type="MashReports",
            object_id="mash",
            decision="allow",
            reason=(
                f"{window.first.isoformat()} to {window.last.isoformat()} by {window.period}, "
                f"{lines} figures"
            ),
        ),
    )
    name = f"mash-reports-{window.first.isoformat()}-to-{window.last.isoformat()}.csv"
    return name, text
