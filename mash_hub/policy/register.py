"""The register of information-sharing agreements (ISAs): policies/isa/*.toml.

One agreement a file. Loading checks every field and reports each problem as a `Finding`
with the file and line, so `mash-hub policies check` can print them and the hub can
refuse to start on a broken register. Agreement dates are UK calendar dates
(Europe/London): an agreement is in force from the start of its first day to the end of
its last day, and only while its status is "active".
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from zoneinfo import ZoneInfo

from mash_hub.agencies import AGENCY_CODES

AGREEMENT_STATUSES: tuple[str, ...] = ("draft", "active", "suspended", "ended")
UK_TIME = ZoneInfo("Europe/London")

Severity = Literal["error", "warning"]

_ID_PATTERN = re.compile(r"ISA-[A-Z0-9]+(?:-[A-Z0-9]+)*")
_CLAUSE_PATTERN = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_PERIOD_PATTERN = re.compile(r"[1-9][0-9]* (?:day|week|month|year)s?")
_TOML_LINE = re.compile(r"at line (\d+)")
_DATA_CATEGORIES_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*data_categories[ \t]*\]\]", re.MULTILINE)

_REQUIRED_FIELDS = (
    "id",
    "title",
    "version",
    "status",
    "parties",
    "purpose",
    "lawful_bases",
    "signed",
    "review_by",
    "in_force_from",
    "in_force_until",
    "security_requirements",
    "breach_notification_hours",
    "retention",
    "data_categories",
    "clauses",
)
# Optional: the clauses that outlive the agreement (a duty that does not end with it, such
# as destroying records when their periods run out).
_OPTIONAL_FIELDS = ("survives",)
_DATA_CATEGORY_FIELDS = ("party", "categories", "visible_to")


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in the policies directory, located by file and line (1-based)."""

    file: str
    line: int
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True, slots=True)
class DataCategory:
    """What one party may contribute under an agreement, and which agencies may see it."""

    party: str
    categories: tuple[str, ...]
    visible_to: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Agreement:
    id: str
    title: str
    version: str
    status: str
    parties: tuple[str, ...]
    purpose: str
    lawful_bases: tuple[str, ...]
    data_categories: tuple[DataCategory, ...]
    retention: Mapping[str, str]
    security_requirements: tuple[str, ...]
    # Hours from discovering a personal data breach to telling the other parties.
    breach_notification_hours: int
    signed: date
    review_by: date
    in_force_from: date
    in_force_until: date
    clauses: Mapping[str, str]
    source: str
    survives: tuple[str, ...] = ()

    def in_force(self, at: datetime) -> bool:
        """True from the first moment of in_force_from to the last of in_force_until (UK)."""
        if self.status != "active":
            return False
        return self.in_force_from <= _uk_date(at) <= self.in_force_until

    def review_overdue(self, today: date) -> bool:
        return self.review_by < today


class Register:
    """The agreements by id, with each active agreement's window precomputed in epoch seconds
    so the decision point can test "in force" with two comparisons."""

    __slots__ = ("_agreements", "_starts", "_windows")

    def __init__(self, agreements: Iterable[Agreement]) -> None:
        by_id = {agreement.id: agreement for agreement in agreements}
        self._agreements: Mapping[str, Agreement] = MappingProxyType(by_id)
        self._windows: Mapping[str, tuple[float, float]] = MappingProxyType(
            {
                agreement.id: _window(agreement)
                for agreement in by_id.values()
                if agreement.status == "active"
            }
        )
        # For the clauses that survive an agreement: from its first day on, whatever its
        # status or end (a draft never started).
        self._starts: Mapping[str, tuple[float, frozenset[str]]] = MappingProxyType(
            {
                agreement.id: (_window(agreement)[0], frozenset(agreement.survives))
                for agreement in by_id.values()
                if agreement.survives and agreement.status != "draft"
            }
        )

    @property
    def agreements(self) -> Mapping[str, Agreement]:
        return self._agreements

    def get(self, isa_id: str) -> Agreement | None:
        return self._agreements.get(isa_id)

    def __contains__(self, isa_id: object) -> bool:
        return isa_id in self._agreements

    def __len__(self) -> int:
        return len(self._agreements)

    def in_force(self, isa_id: str, at: datetime) -> bool:
        """Whether agreement `isa_id` is active and `at` (an aware datetime) falls within its
        dates, read as UK calendar days. An unknown agreement is never in force."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("in_force needs an aware datetime")
        return self.in_force_at(isa_id, at.timestamp())

    def in_force_at(self, isa_id: str, epoch_seconds: float) -> bool:
        window = self._windows.get(isa_id)
        return window is not None and window[0] <= epoch_seconds < window[1]

    def survives_at(self, isa_id: str, clause: str, epoch_seconds: float) -> bool:
        """Whether `clause` of agreement `isa_id` outlives it and the agreement had begun by
        `epoch_seconds`: a duty such as destroying records goes on after the agreement ends."""
        start = self._starts.get(isa_id)
        return start is not None and clause in start[1] and start[0] <= epoch_seconds

    def for_agency(self, agency: str) -> tuple[Agreement, ...]:
        """The agreements the agency is a party to, in id order."""
        return tuple(
            agreement
            for _, agreement in sorted(self._agreements.items())
            if agency in agreement.parties
        )


class RegisterError(Exception):
    """The register has errors; `findings` says where."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        self.findings = tuple(findings)
        super().__init__("; ".join(str(finding) for finding in self.findings))


def load_register(isa_dir: Path) -> Register:
    """The register, or RegisterError if any agreement has an error (warnings pass)."""
    register, findings = read_register(isa_dir)
    errors = [finding for finding in findings if finding.severity == "error"]
    if errors:
        raise RegisterError(errors)
    return register


def read_register(isa_dir: Path) -> tuple[Register, list[Finding]]:
    """Every well-formed agreement in `isa_dir`, and the problems found on the way."""
    findings: list[Finding] = []
    agreements: list[Agreement] = []
    files = sorted(isa_dir.glob("*.toml")) if isa_dir.is_dir() else []
    if not files:
        findings.append(Finding(str(isa_dir), 0, "error", "no agreements (*.toml) found"))
    seen: dict[str, str] = {}
    for path in files:
        agreement = _read_agreement(path, findings)
        if agreement is None:
            continue
        if agreement.id in seen:
            findings.append(
                Finding(
                    str(path),
                    _line_of_key(path.read_text(encoding="utf-8"), "id"),
                    "error",
                    f"agreement {agreement.id} is already defined in {seen[agreement.id]}",
                )
            )
            continue
        seen[agreement.id] = str(path)
        agreements.append(agreement)
    return Register(agreements), findings


def _uk_date(at: datetime) -> date:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("agreement dates need an aware datetime")
    return at.astimezone(UK_TIME).date()


def _window(agreement: Agreement) -> tuple[float, float]:
    start = datetime.combine(agreement.in_force_from, time(0), tzinfo=UK_TIME)
    end = datetime.combine(agreement.in_force_until + timedelta(days=1), time(0), tzinfo=UK_TIME)
    return start.timestamp(), end.timestamp()


def _line_of_key(text: str, key: str) -> int:
    """The line where `key` is assigned or opens a table; 1 if it cannot be found."""
    name = re.escape(key)
    pattern = re.compile(
        rf'^[ \t]*(?:"{name}"|{name})[ \t]*=|^[ \t]*\[\[?[ \t]*{name}[ \t]*\]', re.MULTILINE
    )
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else 1


class _Reader:
    """Field checks for one agreement file, collecting findings as it goes."""

    def __init__(self, path: Path, text: str, data: dict[str, Any], out: list[Finding]) -> None:
        self.path = path
        self.text = text
        self.data = data
        self.out = out
        self.ok = True

    def error(self, key: str, message: str, line: int | None = None) -> None:
        self.ok = False
        where = _line_of_key(self.text, key) if line is None else line
        self.out.append(Finding(str(self.path), where, "error", message))

    def string(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value.strip():
            self.error(key, f"{key} must be a non-empty string")
            return ""
        return value.strip()

    def strings(
        self, key: str, value: Any = None, *, where: str = "", line: int | None = None
    ) -> tuple[str, ...]:
        value = self.data.get(key) if value is None else value
        name = f"{where}{key}"
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(item, str) and item.strip() for item in value)
        ):
            self.error(key, f"{name} must be a non-empty list of strings", line)
            return ()
        if len(set(value)) != len(value):
            self.error(key, f"{name} lists the same entry twice", line)
        return tuple(item.strip() for item in value)

    def hours(self, key: str) -> int:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 720:
            self.error(key, f"{key} must be a whole number of hours from 1 to 720")
            return 0
        return value

    def day(self, key: str) -> date:
        value = self.data.get(key)
        if not isinstance(value, date) or isinstance(value, datetime):
            self.error(key, f"{key} must be a date (YYYY-MM-DD)")
            return date.min
        return value

    def agencies(
        self, key: str, value: Any = None, *, where: str = "", line: int | None = None
    ) -> tuple[str, ...]:
        codes = self.strings(key, value, where=where, line=line)
        for code in codes:
            if code not in AGENCY_CODES:
                self.error(key, f"{where}{key}: unknown agency {code!r}", line)
        return codes


def _read_agreement(path: Path, out: list[Finding]) -> Agreement | None:
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        out.append(Finding(str(path), int(found.group(1)) if found else 1, "error", str(exc)))
        return None

    reader = _Reader(path, text, data, out)
    for key in _REQUIRED_FIELDS:
        if key not in data:
            out.append(Finding(str(path), 1, "error", f"missing field {key}"))
            reader.ok = False
    for key in data:
        if key not in _REQUIRED_FIELDS and key not in _OPTIONAL_FIELDS:
            reader.error(key, f"unknown field {key}")
    if not reader.ok:
        return None

    isa_id = reader.string("id")
    if isa_id and not _ID_PATTERN.fullmatch(isa_id):
        reader.error("id", f"id {isa_id!r} must look like ISA-NAME (capitals, digits, hyphens)")
    status = reader.string("status")
    if status and status not in AGREEMENT_STATUSES:
        reader.error("status", f"status must be one of {', '.join(AGREEMENT_STATUSES)}")
    parties = reader.agencies("parties")
    in_force_from = reader.day("in_force_from")
    in_force_until = reader.day("in_force_until")
    if reader.ok and in_force_until < in_force_from:
        reader.error("in_force_until", "in_force_until is before in_force_from")
    agreement = Agreement(
        id=isa_id,
        title=reader.string("title"),
        version=reader.string("version"),
        status=status,
        parties=parties,
        purpose=reader.string("purpose"),
        lawful_bases=reader.strings("lawful_bases"),
        data_categories=_data_categories(reader, parties),
        retention=_retention(reader),
        security_requirements=reader.strings("security_requirements"),
        breach_notification_hours=reader.hours("breach_notification_hours"),
        signed=reader.day("signed"),
        review_by=reader.day("review_by"),
        in_force_from=in_force_from,
        in_force_until=in_force_until,
        clauses=_clauses(reader),
        source=str(path),
        survives=reader.strings("survives") if "survives" in data else (),
    )
    for clause in agreement.survives:
        if clause not in agreement.clauses:
            reader.error("survives", f"survives names clause {clause!r}, which is not in clauses")
    return agreement if reader.ok else None


def _data_categories(reader: _Reader, parties: tuple[str, ...]) -> tuple[DataCategory, ...]:
    raw = reader.data.get("data_categories")
    if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
        reader.error("data_categories", "data_categories must be one or more [[data_categories]]")
        return ()
    headers = [
        reader.text.count("\n", 0, match.start()) + 1
        for match in re.finditer(
            r"^[ \t]*\[\[[ \t]*data_categories[ \t]*\]\]", reader.text, re.MULTILINE
        )
    ]
    result = []
    for number, table in enumerate(raw, start=1):
        where = f"data_categories #{number}: "
        line = headers[number - 1] if number <= len(headers) else None
        if set(table) != set(_DATA_CATEGORY_FIELDS):
            reader.error(
                "data_categories",
                f"{where}needs exactly the fields {', '.join(_DATA_CATEGORY_FIELDS)},"
                f" has {', '.join(sorted(table)) or 'none'}",
                line,
            )
            continue
        party_list = reader.agencies("party", [table["party"]], where=where, line=line)
        party = party_list[0] if party_list else ""
        if party and parties and party not in parties:
            reader.error("party", f"{where}{party!r} is not a party to this agreement", line)
        visible_to = reader.agencies("visible_to", table["visible_to"], where=where, line=line)
        for code in visible_to:
            if parties and code in AGENCY_CODES and code not in parties:
                reader.error(
                    "visible_to", f"{where}{code!r} is not a party to this agreement", line
                )
        categories = reader.strings("categories", table["categories"], where=where, line=line)
        result.append(DataCategory(party=party, categories=categories, visible_to=visible_to))
    return tuple(result)


def _retention(reader: _Reader) -> Mapping[str, str]:
    raw = reader.data.get("retention")
    if not isinstance(raw, dict) or not raw:
        reader.error("retention", "retention must be a table of record type = period")
        return MappingProxyType({})
    for record_type, period in raw.items():
        if not isinstance(period, str) or not _PERIOD_PATTERN.fullmatch(period):
            reader.error(
                record_type,
                f'retention.{record_type} must be a period like "6 years" or "18 months"',
            )
    return MappingProxyType({key: str(value) for key, value in raw.items()})


def _clauses(reader: _Reader) -> Mapping[str, str]:
    raw = reader.data.get("clauses")
    if not isinstance(raw, dict) or not raw:
        reader.error("clauses", 'clauses must be a table of "n.n" = "text"')
        return MappingProxyType({})
    for number, text in raw.items():
        if not _CLAUSE_PATTERN.fullmatch(number):
            reader.error(number, f"clause number {number!r} must look like 4.2")
        if not isinstance(text, str) or not text.strip():
            reader.error(number, f"clause {number} must have text")
    return MappingProxyType({key: str(value).strip() for key, value in raw.items()})
