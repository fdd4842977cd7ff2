"""`mash-hub policies check`: each kind of mistake is caught and located by file and line."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from mash_hub.policy.check import check_policies, main
from mash_hub.policy.cli import policies
from mash_hub.policy.pdp import PolicyConfigError, PolicyDecisionPoint
from mash_hub.policy.register import Finding

TODAY = date(2026, 6, 1)
EditText = Callable[[str, str, str], Path]
FindLine = Callable[[Path, str], int]


def errors(findings: list[Finding]) -> list[tuple[str, int, str]]:
    return [(Path(f.file).name, f.line, f.message) for f in findings if f.severity == "error"]


def test_shipped_policies_are_clean(policies_copy: Path) -> None:
    assert check_policies(policies_copy, TODAY) == []


def test_unknown_agreement_is_an_error_at_the_policy(
    policies_copy: Path, edit_text: EditText, find_line: FindLine
) -> None:
    path = edit_text(
        "partner_health.cedar",
        '@isa("ISA-MASH-HEALTH")\n@clause("4.3")',
        '@isa("ISA-MASH-HEALTH-OLD")\n@clause("4.3")',
    )

    findings = check_policies(policies_copy, TODAY)

    assert errors(findings) == [
        (
            "partner_health.cedar",
            find_line(path, '@id("health-researcher-answer-own-request")'),
            "health-researcher-answer-own-request: unknown agreement ISA-MASH-HEALTH-OLD",
        )
    ]


def test_clause_must_exist_in_the_agreement(
    policies_copy: Path, edit_text: EditText, find_line: FindLine
) -> None:
    path = edit_text("mash_core.cedar", '@clause("8.4")', '@clause("8.9")')

    assert errors(check_policies(policies_copy, TODAY)) == [
        (
            "mash_core.cedar",
            find_line(path, '@id("admin-manage-own-users")'),
            "admin-manage-own-users: agreement ISA-MASH-CORE has no clause 8.9",
        )
    ]


def test_every_permit_needs_id_isa_and_clause(policies_copy: Path, edit_text: EditText) -> None:
    edit_text("partner_yos.cedar", '@id("yos-researcher-read-own-request")\n', "")
    edit_text("partner_yos.cedar", '@clause("4.3")\n', "")
    edit_text("partner_probation.cedar", '@isa("ISA-MASH-PROBATION")\n@clause("5.1")\n', "")

    messages = sorted(message for _, _, message in errors(check_policies(policies_copy, TODAY)))

    assert messages == [
        'every policy needs @id("..."): this permit has none',
        'permit mash-staff-read-probation-contribution needs @clause("n.n")',
        'permit mash-staff-read-probation-contribution needs @isa("ISA-...")',
        'permit yos-researcher-answer-own-request needs @clause("n.n")',
    ]


def test_duplicate_policy_ids_are_an_error(policies_copy: Path, edit_text: EditText) -> None:
    edit_text(
        "partner_housing.cedar",
        '@id("housing-researcher-answer-own-request")',
        '@id("housing-researcher-read-own-request")',
    )

    (message,) = [m for _, _, m in errors(check_policies(policies_copy, TODAY))]
    assert message.startswith("@id housing-researcher-read-own-request is also used at ")


def test_schema_type_error_is_reported_at_its_policy(
    policies_copy: Path, edit_text: EditText, find_line: FindLine
) -> None:
    path = edit_text(
        "mash_core.cedar",
        'principal.roles.contains("mash_manager") &&\n  resource.status == "open"',
        'principal.roles.contains("mash_manager") &&\n  resource.status == 3',
    )

    assert errors(check_policies(policies_copy, TODAY)) == [
        (
            "mash_core.cedar",
            find_line(path, '@id("mash-manager-decide-open-contact")'),
            "policy mash-manager-decide-open-contact: the types Long and String are not compatible",
        )
    ]


def test_unknown_attribute_is_a_schema_error(policies_copy: Path, edit_text: EditText) -> None:
    edit_text("hard_lines.cedar", 'resource.contact_rag == "green"', 'resource.rag == "green"')

    ((name, _, message),) = errors(check_policies(policies_copy, TODAY))
    assert name == "hard_lines.cedar"
    assert message.startswith("policy forbid-partner-green-request: ")
    assert "attribute `rag` on entity type `InfoRequest` not found" in message


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        (
            'resource.status == "open" &&',
            "resource.status == &&",
            "resource.status == &&",
            "syntax error: unexpected token `&&`",
        ),
        (
            '["red", "amber"].contains(resource.contact_rag)\n};',
            '["red", "amber"].contains(resource.contact_rag)\n}',
            '@id("housing-researcher-read-own-request")',  # the policy after the first
            "syntax error: unexpected token `@`",
        ),
        (
            'resource.agency == "housing" &&',
            "resource.agency.foo() &&",
            "resource.agency.foo()",
            "syntax error: `foo` is not a valid method",
        ),
    ],
)
def test_syntax_error_names_its_line(
    policies_copy: Path,
    edit_text: EditText,
    find_line: FindLine,
    old: str,
    new: str,
    needle: str,
    message: str,
) -> None:
    path = edit_text("partner_housing.cedar", old, new)

    assert errors(check_policies(policies_copy, TODAY)) == [
        ("partner_housing.cedar", find_line(path, needle), message)
    ]


def test_schema_syntax_error_names_its_line(
    policies_copy: Path, edit_text: EditText, find_line: FindLine
) -> None:
    path = edit_text("schema.cedarschema", "entity AuditLog = {", "entity AuditLog = {{")

    (finding,) = [f for f in check_policies(policies_copy, TODAY) if f.severity == "error"]
    assert (Path(finding.file), finding.line) == (path, find_line(path, "entity AuditLog"))
    assert finding.message == "error parsing schema: unexpected token `{`"


def test_schema_unknown_type_names_its_line(
    policies_copy: Path, edit_text: EditText, find_line: FindLine
) -> None:
    path = edit_text("schema.cedarschema", "roles: Set<String>", "roles: Set<Strin>")

    (finding,) = [f for f in check_policies(policies_copy, TODAY) if f.severity == "error"]
    assert (Path(finding.file), finding.line) == (path, find_line(path, "Set<Strin>"))


def test_schema_must_declare_every_action_the_decision_point_uses(
    policies_copy: Path, edit_text: EditText, find_line: FindLine
) -> None:
    path = edit_text(
        "schema.cedarschema",
        'action "audit:read" appliesTo {\n  principal: [Actor],\n  resource: [AuditLog],',
        'action "audit:read" appliesTo {\n  principal: [Actor],\n  resource: [UserDirectory],',
    )

    findings = errors(check_policies(policies_copy, TODAY))

    schema_errors = [f for f in findings if f[0] == "schema.cedarschema"]
    assert len(schema_errors) == 1
    assert schema_errors[0][1] == find_line(path, 'action "audit:read"')
    assert "needs action 'audit:read' on AuditLog" in schema_errors[0][2]


def test_unknown_party_in_an_agreement_is_an_error(
    policies_copy: Path, edit_text: EditText
) -> None:
    edit_text(
        "isa/mash-yos.toml",
        'parties = ["csc", "police", "yos"]',
        'parties = ["csc", "police", "yos", "ymca"]',
    )

    findings = errors(check_policies(policies_copy, TODAY))

    assert ("mash-yos.toml", 8, "parties: unknown agency 'ymca'") in findings


def test_overdue_review_is_a_warning_not_an_error(policies_copy: Path, find_line: FindLine) -> None:
    path = policies_copy / "isa" / "mash-core.toml"

    assert check_policies(policies_copy, date(2027, 3, 31)) == []
    findings = check_policies(policies_copy, date(2027, 4, 1))

    assert [(Path(f.file), f.line, f.severity, f.message) for f in findings] == [
        (
            path,
            find_line(path, "review_by ="),
            "warning",
            "agreement ISA-MASH-CORE was due for review by 2027-03-31",
        )
    ]
    assert main(policies_copy, date(2027, 4, 1), io.StringIO()) == 0


def test_permit_on_an_agreement_not_in_force_is_a_warning(
    policies_copy: Path, edit_text: EditText
) -> None:
    edit_text("isa/mash-education.toml", 'status = "active"', 'status = "suspended"')

    findings = check_policies(policies_copy, TODAY)

    assert {f.severity for f in findings} == {"warning"}
    assert len(findings) == 5  # the five permits of partner_education.cedar
    assert all("rests on ISA-MASH-EDUCATION, which is not in force" in f.message for f in findings)


def test_main_prints_file_line_severity_message_and_fails_on_errors(
    policies_copy: Path, edit_text: EditText, find_line: FindLine
) -> None:
    path = edit_text("partner_yos.cedar", '@isa("ISA-MASH-YOS")', '@isa("ISA-MASH-Y0S")')
    out = io.StringIO()

    code = main(policies_copy, TODAY, out)

    lines = out.getvalue().splitlines()
    line = find_line(path, "mash-staff-request-yos")
    assert code == 1
    assert lines[0] == (
        f"{path}:{line}: error: mash-staff-request-yos: unknown agreement ISA-MASH-Y0S"
    )
    assert lines[-1] == f"{policies_copy}: 1 error(s), 0 warning(s)"


def test_cli_check_exit_codes(policies_copy: Path, edit_text: EditText) -> None:
    runner = CliRunner()

    clean = runner.invoke(policies, ["check", "--dir", str(policies_copy), "--today", "2026-06-01"])
    assert (clean.exit_code, clean.output) == (0, f"{policies_copy}: 0 error(s), 0 warning(s)\n")

    late = runner.invoke(policies, ["check", "--dir", str(policies_copy), "--today", "2027-12-01"])
    assert late.exit_code == 0
    assert "warning: agreement ISA-MASH-CORE was due for review by 2027-03-31" in late.output

    edit_text("hard_lines.cedar", "forbid (", "forbidd (")
    broken = runner.invoke(policies, ["check", "--dir", str(policies_copy)])
    assert broken.exit_code == 1
    assert "hard_lines.cedar:" in broken.output
    assert ": error: syntax error:" in broken.output


def test_cli_check_defaults_to_the_shipped_policies() -> None:
    result = CliRunner().invoke(policies, ["check", "--today", "2026-06-01"])
    assert result.exit_code == 0, result.output


def test_decision_point_refuses_to_start_on_errors(
    policies_copy: Path, edit_text: EditText
) -> None:
    edit_text("mash_core.cedar", '@clause("3.2")', '@clause("3.99")')

    with pytest.raises(PolicyConfigError) as raised:
        PolicyDecisionPoint.from_dir(policies_copy, TODAY)

    assert [f.message for f in raised.value.findings] == [
        "mash-staff-read-open-contact: agreement ISA-MASH-CORE has no clause 3.99"
    ]


def test_missing_pieces_are_errors(tmp_path: Path) -> None:
    messages = {f.message for f in check_policies(tmp_path, TODAY)}
    assert messages == {
        "no agreements (*.toml) found",
        "schema file not found",
        "no policy files (*.cedar) found",
        "no programme files (*.toml) found",
    }


def test_a_surviving_clause_must_be_one_of_the_agreements_clauses(
    policies_copy: Path, edit_text: EditText
) -> None:
    edit_text("isa/mash-core.toml", 'survives = ["9.1", "8.11"]', 'survives = ["9.9", "8.11"]')

    findings = errors(check_policies(policies_copy, TODAY))

    # The agreement is refused whole, so the policies citing it are errors too.
    assert [(file, message) for file, _line, message in findings if file == "mash-core.toml"] == [
        ("mash-core.toml", "survives names clause '9.9', which is not in clauses")
    ]
