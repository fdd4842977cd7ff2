"""Load and check policies/: the ISA register, the Cedar schema, the Cedar rules and the
early-help programmes' criteria (programmes/*.toml, `mash_hub.policy.programmes`).

`inspect_policies` reads everything once and reports every problem as a `Finding`
(file, line, error or warning). `check_policies` is what `mash-hub policies check` runs;
the decision point refuses to start when it reports an error.

Cedar's parser names a syntax error but not where it is, so the line is found by parsing
ever longer prefixes of the file: the first prefix that fails with the same message ends
on the offending line.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TextIO

import cedarpy

from mash_hub.policy import programmes as programme_files
from mash_hub.policy.register import Finding, Register, Severity, read_register
from mash_hub.policy.types import ACTION_RESOURCE_TYPES, PRINCIPAL_TYPE, PolicyInfo, PolicySources

SCHEMA_FILE = "schema.cedarschema"
REGISTER_DIR = "isa"
PROGRAMMES_DIR = "programmes"
KNOWN_ANNOTATIONS = frozenset({"id", "isa", "clause", "break_glass"})

_END_OF_INPUT = "unexpected end of input"
_TOKEN_ERRORS = ("unexpected token", "invalid token")
_BACKTICKED = re.compile(r"`([^`]+)`")
_UNRESOLVED_TYPES = re.compile(r"failed to resolve types?: ([A-Za-z_][A-Za-z0-9_:]*)")


def check_policies(policies_dir: Path, today: date) -> list[Finding]:
    """Every problem in `policies_dir`, errors and warnings, in file order."""
    return inspect_policies(policies_dir, today)[1]


def inspect_policies(policies_dir: Path, today: date) -> tuple[PolicySources, list[Finding]]:
    """Read and check the register, the schema and the rules.

    The sources hold what could be read; use them only when no finding is an error.
    """
    findings: list[Finding] = []
    register, register_findings = read_register(policies_dir / REGISTER_DIR)
    findings.extend(register_findings)
    findings.extend(_review_warnings(register, today))

    schema_path = policies_dir / SCHEMA_FILE
    schema = _read_schema(schema_path, findings)

    policies: list[PolicyInfo] = []
    cedar_files = sorted(policies_dir.glob("*.cedar"))
    if not cedar_files:
        findings.append(Finding(str(policies_dir), 0, "error", "no policy files (*.cedar) found"))
    for path in cedar_files:
        policies.extend(_read_policy_file(path, schema, findings))

    findings.extend(_check_annotations(policies, register, today))
    programmes, programme_findings = programme_files.read(policies_dir / PROGRAMMES_DIR)
    findings.extend(programme_findings)
    findings.sort(key=lambda finding: (finding.file, finding.line))
    return PolicySources(register, tuple(policies), tuple(programmes)), findings


def main(policies_dir: Path, today: date | None = None, out: TextIO | None = None) -> int:
    """Print each finding as `file:line: severity: message`; 1 if any is an error, else 0."""
    stream = out if out is not None else sys.stdout
    findings = check_policies(policies_dir, today or datetime.now(UTC).date())
    for finding in findings:
        print(finding, file=stream)
    errors = sum(1 for finding in findings if finding.severity == "error")
    warnings = len(findings) - errors
    print(f"{policies_dir}: {errors} error(s), {warnings} warning(s)", file=stream)
    return 1 if errors else 0


# ---------------------------------------------------------------------------- schema


def _read_schema(path: Path, findings: list[Finding]) -> cedarpy.Schema | None:
    if not path.is_file():
        findings.append(Finding(str(path), 0, "error", "schema file not found"))
        return None
    text = path.read_text(encoding="utf-8")
    try:
        schema = cedarpy.Schema.from_str(text)
    except ValueError as exc:
        message = str(exc)
        findings.append(Finding(str(path), _schema_error_line(text, message), "error", message))
        return None
    findings.extend(_check_schema_covers_actions(path, text, schema))
    return schema


def _schema_error_line(text: str, message: str) -> int:
    unresolved = _UNRESOLVED_TYPES.search(message)
    if unresolved:
        return _first_line_with_word(text, unresolved.group(1))
    return _first_failing_prefix(text, message, cedarpy.Schema.from_str)


def _check_schema_covers_actions(
    path: Path, text: str, schema: cedarpy.Schema
) -> Iterator[Finding]:
    """The decision point builds requests from ACTION_RESOURCE_TYPES: each pairing must exist
    in the schema, or every decision on that action would fail."""
    for action, resource_type in ACTION_RESOURCE_TYPES.items():
        probe = (
            f"permit (principal is {PRINCIPAL_TYPE}, "
            f'action == Action::"{action}", resource is {resource_type});'
        )
        result = cedarpy.validate_policies(probe, schema)
        if not result.validation_passed:
            yield Finding(
                str(path),
                _first_line_with_word(text, action),
                "error",
                f"the decision point needs action '{action}' on {resource_type} for"
                f" {PRINCIPAL_TYPE}: {'; '.join(error.error for error in result.errors)}",
            )


# ---------------------------------------------------------------------------- rules


def _read_policy_file(
    path: Path, schema: cedarpy.Schema | None, findings: list[Finding]
) -> list[PolicyInfo]:
    text = path.read_text(encoding="utf-8")
    try:
        parsed = cedarpy.PolicySet.from_str(text).to_pst()
    except ValueError as exc:
        message = str(exc)
        line = _policy_error_line(text, message)
        findings.append(Finding(str(path), line, "error", f"syntax error: {message}"))
        return []

    starts = [line for line, _ in _statements(text)]
    by_position = sorted(parsed.static_policies.items(), key=lambda item: _position(item[0]))
    lines = {
        cedar_id: starts[index] if index < len(starts) else 1
        for index, (cedar_id, _) in enumerate(by_position)
    }
    if parsed.templates:
        for cedar_id in parsed.templates:
            findings.append(
                Finding(str(path), 1, "error", f"template {cedar_id} is not supported here")
            )

    if schema is not None:
        result = cedarpy.validate_policies(text, schema)
        for error in result.errors:
            name = result.id_annotations_by_policy_id.get(error.policy_id, error.policy_id)
            findings.append(
                Finding(
                    str(path),
                    lines.get(error.policy_id, 1),
                    "error",
                    f"policy {name}: {error.error}",
                )
            )

    policies = []
    for cedar_id, node in by_position:
        annotations: Mapping[str, str] = node.annotations
        policy_id = annotations.get("id", "")
        policies.append(
            PolicyInfo(
                policy_id=policy_id,
                effect=node.effect,
                isa_id=annotations.get("isa", ""),
                clause=annotations.get("clause", ""),
                break_glass="break_glass" in annotations,
                file=str(path),
                line=lines[cedar_id],
                node=dataclasses.replace(node, id=policy_id or cedar_id),
            )
        )
    return policies


def _check_annotations(
    policies: Iterable[PolicyInfo], register: Register, today: date
) -> Iterator[Finding]:
    seen: dict[str, PolicyInfo] = {}
    today_noon = datetime.combine(today, time(12), tzinfo=UTC)
    for policy in policies:
        name = policy.policy_id or f"{policy.effect} without @id"
        if not policy.policy_id:
            yield _at(
                policy, "error", f'every policy needs @id("..."): this {policy.effect} has none'
            )
        elif policy.policy_id in seen:
            first = seen[policy.policy_id]
            yield _at(policy, "error", f"@id {name} is also used at {first.file}:{first.line}")
        else:
            seen[policy.policy_id] = policy

        for key in sorted(set(policy.node.annotations) - KNOWN_ANNOTATIONS):
            yield _at(policy, "warning", f"{name}: unknown annotation @{key}")
        if policy.break_glass and policy.effect != "permit":
            yield _at(policy, "error", f"{name}: @break_glass belongs on a permit")

        if policy.effect == "permit":
            if not policy.isa_id:
                yield _at(policy, "error", f'permit {name} needs @isa("ISA-...")')
            if not policy.clause:
                yield _at(policy, "error", f'permit {name} needs @clause("n.n")')
        elif bool(policy.isa_id) != bool(policy.clause):
            yield _at(policy, "error", f"forbid {name}: @isa and @clause go together")
        if not policy.isa_id:
            continue

        agreement = register.get(policy.isa_id)
        if agreement is None:
            yield _at(policy, "error", f"{name}: unknown agreement {policy.isa_id}")
            continue
        if policy.clause and policy.clause not in agreement.clauses:
            message = f"{name}: agreement {policy.isa_id} has no clause {policy.clause}"
            yield _at(policy, "error", message)
        if policy.effect == "permit" and not register.in_force(policy.isa_id, today_noon):
            yield _at(
                policy,
                "warning",
                f"{name} rests on {policy.isa_id}, which is not in force on {today}"
                f" (status {agreement.status}, {agreement.in_force_from}"
                f" to {agreement.in_force_until}): it allows nothing",
            )


def _at(policy: PolicyInfo, severity: Severity, message: str) -> Finding:
    return Finding(policy.file, policy.line, severity, message)


def _review_warnings(register: Register, today: date) -> Iterator[Finding]:
    for agreement in register.agreements.values():
        if agreement.status in ("active", "suspended") and agreement.review_overdue(today):
            text = Path(agreement.source).read_text(encoding="utf-8")
            line = _first_line_matching(text, re.compile(r"^\s*review_by\s*="))
            yield Finding(
                agreement.source,
                line,
                "warning",
                f"agreement {agreement.id} was due for review by {agreement.review_by}",
            )


# ---------------------------------------------------------------------------- locating lines


def _statements(text: str) -> list[tuple[int, str]]:
    """Each top-level `...;` statement with the line it starts on, skipping comments and
    strings so a `;` inside them does not split."""
    statements: list[tuple[int, str]] = []
    line = 1
    start: int | None = None
    start_line = 1
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\n":
            line += 1
        elif char == "/" and text.startswith("//", index):
            newline = text.find("\n", index)
            index = length if newline < 0 else newline
            continue
        elif not char.isspace():
            if start is None:
                start, start_line = index, line
            if char == '"':
                index += 1
                while index < length and text[index] != '"':
                    if text[index] == "\\":
                        index += 1
                    elif text[index] == "\n":
                        line += 1
                    index += 1
            elif char == ";":
                statements.append((start_line, text[start : index + 1]))
                start = None
        index += 1
    return statements


def _policy_error_line(text: str, message: str) -> int:
    line = _first_failing_prefix(text, message, cedarpy.PolicySet.from_str)
    if message.startswith(_TOKEN_ERRORS):
        return line
    # Errors such as "`foo` is not a valid method" surface only once the statement is
    # complete: point at the named thing inside the statement if it can be found.
    named = _BACKTICKED.search(message)
    starts = [start for start, _ in _statements(text) if start <= line]
    first = starts[-1] if starts else 1
    if named:
        lines = text.split("\n")
        for number in range(first, min(line, len(lines)) + 1):
            if named.group(1) in lines[number - 1]:
                return number
    return first


def _first_failing_prefix(text: str, message: str, parse: Callable[[str], object]) -> int:
    """The first line at which parsing the text up to that line fails as the whole text does."""
    lines = text.split("\n")
    fallback = 0
    for count in range(1, len(lines) + 1):
        try:
            parse("\n".join(lines[:count]))
        except ValueError as exc:
            prefix_message = str(exc)
            if prefix_message == message:
                return count
            if not fallback and _END_OF_INPUT not in prefix_message:
                fallback = count
    return fallback or len(lines)


def _first_line_with_word(text: str, word: str) -> int:
    return _first_line_matching(text, re.compile(rf"(?<!\w){re.escape(word)}(?!\w)"))


def _first_line_matching(text: str, pattern: re.Pattern[str]) -> int:
    for number, line in enumerate(text.split("\n"), start=1):
        code = line.split("//", 1)[0]
        if pattern.search(code):
            return number
    return 1


def _position(cedar_id: str) -> int:
    digits = cedar_id.removeprefix("policy")
    return int(digits) if digits.isdigit() else sys.maxsize
