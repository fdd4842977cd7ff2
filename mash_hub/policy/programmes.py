"""Early-help programme criteria: policies/programmes/*.toml, one programme a file.

Each file says which programme and which version of its criteria it encodes, where they
were published (`source`), from when they apply, the criteria themselves and the rule a
family must meet. A change of criteria is a change to a reviewed file, not to code.

A criterion is met by presenting issues recorded on a contact (`kind = "issue"`), by a
measure crossing a threshold (`kind = "measure"`, such as school attendance below 85%),
or by either (`kind = "issue_or_measure"`). The rule counts the criteria met, in one
group of criteria or in all of them: "at least 2 of the national criteria".

`read_dir` reports every problem as a `Finding` with its file and line, for `mash-hub
policies check`; `load` raises `ProgrammeError` on any, so the hub refuses to start on a
broken file. `criteria_met` and `qualifies` are pure: the check a screener sees calls them.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from mash_hub.policy.register import Finding
from mash_hub.presenting_issues import ISSUE_CODES

KINDS = ("issue", "measure", "issue_or_measure")
_ID_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_CODE_PATTERN = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")
_TOML_LINE = re.compile(r"at line (\d+)")
_TABLE_HEADER = re.compile(r"^[ \t]*\[")
_CRITERIA_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*criteria[ \t]*\]\]")
_RULE_HEADER = re.compile(r"^[ \t]*\[[ \t]*rule[ \t]*\]")

_REQUIRED = ("id", "name", "source", "version", "effective_from", "rule", "criteria")
_OPTIONAL = ("effective_until",)
_CRITERION_REQUIRED = ("code", "label", "kind")
_CRITERION_OPTIONAL = ("group", "issues", "measure", "below", "at_or_above")
_RULE_REQUIRED = ("at_least",)
_RULE_OPTIONAL = ("group",)


@dataclass(frozen=True)
class Measure:
    """Something measured about a family that a criterion may set a threshold on."""

    code: str
    label: str
    lowest: float
    highest: float


MEASURES: Mapping[str, Measure] = {
    measure.code: measure
    for measure in (
        Measure("school_attendance_percent", "School attendance, as a percentage", 0, 100),
        Measure(
            "benefit_cap_weekly_loss_pounds",
            "Income lost to the benefit cap, pounds a week",
            0,
            1000,
        ),
    )
}


@dataclass(frozen=True)
class Criterion:
    code: str
    label: str
    kind: str
    group: str  # "" where the programme does not group its criteria
    issues: tuple[str, ...]  # any one of these presenting issues indicates it
    measure: str | None
    below: float | None  # met when the measure is below this
    at_or_above: float | None  # met when the measure is at or above this
    line: int

    def met_by_measure(self, value: float) -> bool:
        if self.below is not None:
            return value < self.below
        return self.at_or_above is not None and value >= self.at_or_above


@dataclass(frozen=True)
class Rule:
    """A family meets the programme when at least `at_least` of its criteria are met,
    counting only those of `group` if it names one."""

    at_least: int
    group: str  # "" counts every criterion


@dataclass(frozen=True)
class Programme:
    id: str
    name: str
    source: str
    version: str
    effective_from: date
    effective_until: date | None
    rule: Rule
    criteria: tuple[Criterion, ...]
    file: str

    def in_effect(self, day: date) -> bool:
        return self.effective_from <= day and (
            self.effective_until is None or day <= self.effective_until
        )


@dataclass(frozen=True)
class Met:
    """One criterion met, with what met it: the presenting issues that indicate it, and
    the measure's value where that crossed the threshold."""

    criterion: Criterion
    issues: tuple[str, ...]
    measure_value: float | None

    @property
    def code(self) -> str:
        return self.criterion.code


def criteria_met(
    programme: Programme, issue_codes: Iterable[str], measures: Mapping[str, float]
) -> list[Met]:
    """The programme's criteria that these presenting issues and measures meet, in the
    file's order. A measure not given meets nothing."""
    recorded = set(issue_codes)
    met: list[Met] = []
    for criterion in programme.criteria:
        issues = tuple(code for code in criterion.issues if code in recorded)
        given = measures.get(criterion.measure) if criterion.measure else None
        value = float(given) if given is not None else None
        by_measure = value is not None and criterion.met_by_measure(value)
        if issues or by_measure:
            met.append(Met(criterion, issues, value if by_measure else None))
    return met


def qualifies(programme: Programme, met: Iterable[Met]) -> bool:
    """Whether the criteria met satisfy the programme's rule."""
    group = programme.rule.group
    counted = {m.code for m in met if not group or m.criterion.group == group}
    return len(counted) >= programme.rule.at_least


class ProgrammeError(Exception):
    """A programme file has errors; `findings` says where."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        self.findings = tuple(findings)
        super().__init__("; ".join(str(finding) for finding in self.findings))


def load(path: Path) -> list[Programme]:
    """The programmes in `path` (a directory of *.toml, or one file), or ProgrammeError."""
    programmes, findings = read(path)
    if findings:
        raise ProgrammeError(findings)
    return programmes


def read(path: Path) -> tuple[list[Programme], list[Finding]]:
    """Every well-formed programme in `path` (a directory or one file), and every problem."""
    findings: list[Finding] = []
    if path.is_file():
        files = [path]
    else:
        files = sorted(path.glob("*.toml")) if path.is_dir() else []
        if not files:
            findings.append(Finding(str(path), 0, "error", "no programme files (*.toml) found"))
    programmes: list[Programme] = []
    seen: dict[str, str] = {}
    for file in files:
        programme = _read_file(file, findings)
        if programme is None:
            continue
        if programme.id in seen:
            text = file.read_text(encoding="utf-8")
            findings.append(
                Finding(
                    str(file),
                    _Lines(text).top_level("id"),
                    "error",
                    f"programme {programme.id} is already defined in {seen[programme.id]}",
                )
            )
            continue
        seen[programme.id] = str(file)
        programmes.append(programme)
    return programmes, findings


class _Lines:
    """Where things are in a file's text: a top-level key, a table, a key inside a table."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        headers = [n for n, line in enumerate(self.lines, start=1) if _TABLE_HEADER.match(line)]
        self.first_table = headers[0] if headers else len(self.lines) + 1
        self.criteria = [
            n for n, line in enumerate(self.lines, start=1) if _CRITERIA_HEADER.match(line)
        ]
        rule = [n for n, line in enumerate(self.lines, start=1) if _RULE_HEADER.match(line)]
        self.rule = rule[0] if rule else 1
        self._headers = headers

    def _end_of(self, header: int) -> int:
        later = [n for n in self._headers if n > header]
        return later[0] - 1 if later else len(self.lines)

    def _key_between(self, key: str, first: int, last: int) -> int | None:
        pattern = re.compile(rf'^[ \t]*(?:"{re.escape(key)}"|{re.escape(key)})[ \t]*=')
        for number in range(first, min(last, len(self.lines)) + 1):
            if pattern.match(self.lines[number - 1]):
                return number
        return None

    def top_level(self, key: str) -> int:
        found = self._key_between(key, 1, self.first_table - 1)
        if found is not None:
            return found
        # A table-valued key given as a table ([rule]) or an array of tables ([[criteria]]).
        pattern = re.compile(rf"^[ \t]*\[\[?[ \t]*{re.escape(key)}[ \t]*\]")
        for number, line in enumerate(self.lines, start=1):
            if pattern.match(line):
                return number
        return 1

    def in_table(self, header: int, key: str, needle: str | None = None) -> int:
        """The line of `key` in the table starting at `header` (or of `needle` after it,
        for one entry of a list written over several lines); the header if not found."""
        last = self._end_of(header)
        found = self._key_between(key, header, last)
        if found is None:
            return header
        if needle is not None:
            for number in range(found, last + 1):
                if needle in self.lines[number - 1]:
                    return number
        return found

    def criterion(self, index: int) -> int:
        return self.criteria[index] if index < len(self.criteria) else 1


class _FileReader:
    def __init__(self, path: Path, text: str, out: list[Finding]) -> None:
        self.path = path
        self.where = _Lines(text)
        self.out = out
        self.ok = True

    def error(self, line: int, message: str) -> None:
        self.ok = False
        self.out.append(Finding(str(self.path), line, "error", message))

    def fields(
        self,
        table: Mapping[str, Any],
        required: tuple[str, ...],
        optional: tuple[str, ...],
        *,
        what: str,
        header: int,
        locate: Callable[[str], int],
    ) -> bool:
        """Every required field present, and none unknown."""
        before = self.ok
        self.ok = True
        for key in required:
            if key not in table:
                self.error(header, f"{what}missing field {key}")
        for key in table:
            if key not in required and key not in optional:
                self.error(locate(key), f"{what}unknown field {key}")
        fine = self.ok
        self.ok = before and fine
        return fine

    def text(self, table: Mapping[str, Any], key: str, line: int, what: str = "") -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            self.error(line, f"{what}{key} must be a non-empty string")
            return ""
        return value.strip()


def _read_file(path: Path, out: list[Finding]) -> Programme | None:
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        out.append(Finding(str(path), int(found.group(1)) if found else 1, "error", str(exc)))
        return None
    reader = _FileReader(path, text, out)
    where = reader.where
    if not reader.fields(data, _REQUIRED, _OPTIONAL, what="", header=1, locate=where.top_level):
        return None

    programme_id = reader.text(data, "id", where.top_level("id"))
    if programme_id and not _ID_PATTERN.fullmatch(programme_id):
        reader.error(
            where.top_level("id"),
            f"id {programme_id!r} must be lower-case words joined by hyphens, like "
            "supporting-families",
        )
    effective_from = _day(reader, data, "effective_from", required=True)
    effective_until = _day(reader, data, "effective_until", required=False)
    if effective_from and effective_until and effective_until < effective_from:
        reader.error(where.top_level("effective_until"), "effective_until is before effective_from")
    criteria = _criteria(reader, data.get("criteria"))
    rule = _rule(reader, data.get("rule"), criteria)
    programme = Programme(
        id=programme_id,
        name=reader.text(data, "name", where.top_level("name")),
        source=reader.text(data, "source", where.top_level("source")),
        version=reader.text(data, "version", where.top_level("version")),
        effective_from=effective_from or date.min,
        effective_until=effective_until,
        rule=rule,
        criteria=criteria,
        file=str(path),
    )
    return programme if reader.ok else None


def _day(reader: _FileReader, data: Mapping[str, Any], key: str, *, required: bool) -> date | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, date) or isinstance(value, datetime):
        reader.error(reader.where.top_level(key), f"{key} must be a date (YYYY-MM-DD)")
        return None
    return value


def _criteria(reader: _FileReader, raw: Any) -> tuple[Criterion, ...]:
    where = reader.where
    if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
        reader.error(where.top_level("criteria"), "criteria must be one or more [[criteria]]")
        return ()
    criteria: list[Criterion] = []
    codes: dict[str, int] = {}
    for index, table in enumerate(raw):
        header = where.criterion(index)

        def at(key: str, needle: str | None = None, header: int = header) -> int:
            return where.in_table(header, key, needle)

        what = f"criterion #{index + 1}: "
        if not reader.fields(
            table, _CRITERION_REQUIRED, _CRITERION_OPTIONAL, what=what, header=header, locate=at
        ):
            continue
        code = reader.text(table, "code", at("code"), what)
        if code:
            what = f"criterion {code}: "
            if not _CODE_PATTERN.fullmatch(code):
                reader.error(at("code"), f"{what}code must be lower-case words joined by _")
            elif code in codes:
                reader.error(
                    at("code"), f"{what}code is already used by the criterion at line {codes[code]}"
                )
            else:
                codes[code] = header
        label = reader.text(table, "label", at("label"), what)
        kind = table.get("kind")
        if kind not in KINDS:
            reader.error(at("kind"), f"{what}kind must be one of: {', '.join(KINDS)}")
            continue
        group = table.get("group", "")
        if not isinstance(group, str):
            reader.error(at("group"), f"{what}group must be a string")
            group = ""
        issues = _issues(reader, table, kind, what, at)
        measure, below, at_or_above = _threshold(reader, table, kind, what, at)
        criteria.append(
            Criterion(
                code=code,
                label=label,
                kind=kind,
                group=group.strip(),
                issues=issues,
                measure=measure,
                below=below,
                at_or_above=at_or_above,
                line=header,
            )
        )
    return tuple(criteria)


def _issues(
    reader: _FileReader, table: Mapping[str, Any], kind: str, what: str, at: Any
) -> tuple[str, ...]:
    raw = table.get("issues")
    if kind == "measure":
        if raw is not None:
            reader.error(at("issues"), f'{what}a "measure" criterion takes no issues')
        return ()
    if not isinstance(raw, list) or not raw or not all(isinstance(c, str) for c in raw):
        reader.error(at("issues"), f"{what}issues must list one or more presenting issue codes")
        return ()
    for code in raw:
        if code not in ISSUE_CODES:
            reader.error(at("issues", f'"{code}"'), f"{what}unknown presenting issue {code!r}")
    if len(set(raw)) != len(raw):
        reader.error(at("issues"), f"{what}issues lists the same code twice")
    return tuple(raw)


def _threshold(
    reader: _FileReader, table: Mapping[str, Any], kind: str, what: str, at: Any
) -> tuple[str | None, float | None, float | None]:
    measure = table.get("measure")
    given = [key for key in ("below", "at_or_above") if key in table]
    if kind == "issue":
        for key in ("measure", *given):
            if key in table:
                reader.error(at(key), f'{what}an "issue" criterion takes no {key}')
        return None, None, None
    if not isinstance(measure, str) or measure not in MEASURES:
        reader.error(at("measure"), f"{what}measure must be one of: {', '.join(MEASURES)}")
        return None, None, None
    if len(given) != 1:
        reader.error(at("measure"), f"{what}give one threshold: below or at_or_above")
        return None, None, None
    key = given[0]
    value = table[key]
    scale = MEASURES[measure]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not scale.lowest <= value <= scale.highest
    ):
        reader.error(
            at(key),
            f"{what}{key} must be a number from {scale.lowest:g} to {scale.highest:g}"
            f" ({scale.label.lower()})",
        )
        return None, None, None
    threshold = float(value)
    return (
        measure,
        (threshold if key == "below" else None),
        (threshold if key == "at_or_above" else None),
    )


def _rule(reader: _FileReader, raw: Any, criteria: tuple[Criterion, ...]) -> Rule:
    where = reader.where

    def at(key: str) -> int:
        return where.in_table(where.rule, key)

    if not isinstance(raw, dict):
        reader.error(where.top_level("rule"), "rule must be a table: [rule] at_least = N")
        return Rule(0, "")
    if not reader.fields(
        raw, _RULE_REQUIRED, _RULE_OPTIONAL, what="rule: ", header=where.rule, locate=at
    ):
        return Rule(0, "")
    group = raw.get("group", "")
    if not isinstance(group, str):
        reader.error(at("group"), "rule: group must be a string")
        group = ""
    counted = [c for c in criteria if not group or c.group == group]
    if group and not counted and criteria:
        reader.error(at("group"), f"rule: no criterion is in group {group!r}")
    at_least = raw.get("at_least")
    if isinstance(at_least, bool) or not isinstance(at_least, int) or at_least < 1:
        reader.error(at("at_least"), "rule: at_least must be a whole number, 1 or more")
        return Rule(0, group)
    if counted and at_least > len(counted):
        reader.error(
            at("at_least"),
            f"rule: at_least is {at_least}, but only {len(counted)} criteria can count",
        )
    return Rule(at_least, group)
