"""The ISA register: loading, field checks and the in-force window (UK calendar days)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mash_hub.policy.register import RegisterError, load_register, read_register

LONDON = ZoneInfo("Europe/London")
PARTNERS = ("health", "education", "probation", "housing", "yos", "earlyhelp")


def test_shipped_register_has_a_core_agreement_and_one_per_partner(policies_copy: Path) -> None:
    register, findings = read_register(policies_copy / "isa")

    assert findings == []
    assert sorted(register.agreements) == [
        "ISA-MASH-CORE",
        "ISA-MASH-EARLYHELP",
        "ISA-MASH-EDUCATION",
        "ISA-MASH-HEALTH",
        "ISA-MASH-HOUSING",
        "ISA-MASH-PROBATION",
        "ISA-MASH-YOS",
    ]
    core = register.agreements["ISA-MASH-CORE"]
    assert core.parties == ("csc", "police")
    assert core.retention["nfa_contact"] == "6 years"
    assert "Children Act 1989 s47 (enquiries into significant harm)" in core.lawful_bases
    assert core.clauses["7.1"].startswith("In an emergency a MASH manager")
    for partner in PARTNERS:
        agreement = register.agreements[f"ISA-MASH-{partner.upper()}"]
        assert agreement.parties == ("csc", "police", partner)
        assert agreement.status == "active"
        assert {category.party for category in agreement.data_categories} == {partner, "csc"}
        assert agreement.in_force_from <= agreement.review_by <= agreement.in_force_until
    # The receiving service's agreement sends it the family, never the MASH's case content.
    early_help = register.agreements["ISA-MASH-EARLYHELP"]
    assert "Children Act 2004 s10 (co-operation to improve well-being)" in (early_help.lawful_bases)
    assert "never sends the concern narrative" in early_help.clauses["3.1"]
    assert [a.id for a in register.for_agency("health")] == ["ISA-MASH-HEALTH"]
    assert len(register.for_agency("csc")) == len(register.for_agency("police")) == 7


def test_last_day_is_in_force_and_the_next_day_is_not(
    policies_copy: Path, edit_agreement: Callable[..., Path]
) -> None:
    # 30 June is in British Summer Time: the UK day ends at 23:00 UTC.
    edit_agreement("mash-health", in_force_from="2026-03-01", in_force_until="2026-06-30")
    register = load_register(policies_copy / "isa")
    last_moment = datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=LONDON)

    assert register.in_force("ISA-MASH-HEALTH", datetime(2026, 6, 30, 9, tzinfo=LONDON))
    assert register.in_force("ISA-MASH-HEALTH", last_moment)
    assert register.in_force("ISA-MASH-HEALTH", datetime(2026, 6, 30, 22, 59, 59, tzinfo=UTC))
    assert not register.in_force("ISA-MASH-HEALTH", datetime(2026, 7, 1, 0, 0, tzinfo=LONDON))
    assert not register.in_force("ISA-MASH-HEALTH", datetime(2026, 6, 30, 23, 0, tzinfo=UTC))
    assert not register.in_force("ISA-MASH-HEALTH", last_moment + timedelta(days=1))


def test_first_day_starts_at_uk_midnight(
    policies_copy: Path, edit_agreement: Callable[..., Path]
) -> None:
    # 1 April 2026 is in BST: the agreement starts at 23:00 UTC on 31 March.
    edit_agreement("mash-health", in_force_from="2026-04-01", in_force_until="2026-12-31")
    register = load_register(policies_copy / "isa")

    assert not register.in_force("ISA-MASH-HEALTH", datetime(2026, 3, 31, 22, 59, 59, tzinfo=UTC))
    assert register.in_force("ISA-MASH-HEALTH", datetime(2026, 3, 31, 23, 0, tzinfo=UTC))
    # 31 December is in GMT: the last day ends at midnight UTC.
    assert register.in_force("ISA-MASH-HEALTH", datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert not register.in_force("ISA-MASH-HEALTH", datetime(2027, 1, 1, 0, 0, tzinfo=UTC))


@pytest.mark.parametrize("status", ["draft", "suspended", "ended"])
def test_only_an_active_agreement_is_in_force(
    policies_copy: Path, edit_agreement: Callable[..., Path], status: str
) -> None:
    edit_agreement("mash-yos", status=f'"{status}"')
    register = load_register(policies_copy / "isa")
    inside = datetime(2026, 6, 1, 12, tzinfo=UTC)

    assert register.agreements["ISA-MASH-YOS"].status == status
    assert not register.in_force("ISA-MASH-YOS", inside)
    assert register.in_force("ISA-MASH-CORE", inside)


def test_unknown_agreement_is_never_in_force(policies_copy: Path) -> None:
    register = load_register(policies_copy / "isa")
    assert not register.in_force("ISA-NOT-THERE", datetime(2026, 6, 1, tzinfo=UTC))


def test_in_force_refuses_a_naive_datetime(policies_copy: Path) -> None:
    register = load_register(policies_copy / "isa")
    with pytest.raises(ValueError, match="aware"):
        register.in_force("ISA-MASH-CORE", datetime(2026, 6, 1, 12))


def test_agreement_in_force_matches_register(policies_copy: Path) -> None:
    register = load_register(policies_copy / "isa")
    agreement = register.agreements["ISA-MASH-CORE"]
    last_day = datetime.combine(agreement.in_force_until, datetime.min.time(), tzinfo=LONDON)

    assert agreement.in_force(last_day + timedelta(hours=23, minutes=59))
    assert not agreement.in_force(last_day + timedelta(days=1))
    assert agreement.review_overdue(agreement.review_by + timedelta(days=1))
    assert not agreement.review_overdue(agreement.review_by)


@pytest.mark.parametrize(
    ("fields", "needle", "message"),
    [
        (
            {"parties": '["csc", "police", "health", "social_club"]'},
            "parties =",
            "unknown agency 'social_club'",
        ),
        ({"status": '"paused"'}, "status =", "status must be one of"),
        ({"signed": '"last spring"'}, "signed =", "signed must be a date"),
        ({"in_force_until": "2024-01-01"}, "in_force_until =", "before in_force_from"),
        ({"id": '"mash health"'}, "id =", "must look like ISA-NAME"),
        ({"title": '"  "'}, "title =", "title must be a non-empty string"),
    ],
)
def test_bad_fields_are_errors_on_their_line(
    policies_copy: Path,
    edit_agreement: Callable[..., Path],
    find_line: Callable[[Path, str], int],
    fields: dict[str, str],
    needle: str,
    message: str,
) -> None:
    path = edit_agreement("mash-health", **fields)

    _, findings = read_register(policies_copy / "isa")

    assert [(f.file, f.line, f.severity) for f in findings] == [
        (str(path), find_line(path, needle), "error")
    ]
    assert message in findings[0].message


def test_a_party_not_in_the_agreement_cannot_contribute(
    policies_copy: Path, find_line: Callable[[Path, str], int]
) -> None:
    path = policies_copy / "isa" / "mash-housing.toml"
    path.write_text(
        path.read_text(encoding="utf-8").replace('party = "housing"', 'party = "health"'),
        encoding="utf-8",
    )

    _, findings = read_register(policies_copy / "isa")

    assert len(findings) == 1
    assert findings[0].line == find_line(path, "[[data_categories]]")
    assert "'health' is not a party to this agreement" in findings[0].message


def test_retention_periods_are_checked(policies_copy: Path) -> None:
    path = policies_copy / "isa" / "mash-core.toml"
    path.write_text(
        path.read_text(encoding="utf-8").replace('nfa_contact = "6 years"', 'nfa_contact = "6yrs"'),
        encoding="utf-8",
    )

    _, findings = read_register(policies_copy / "isa")

    assert [f.message for f in findings] == [
        'retention.nfa_contact must be a period like "6 years" or "18 months"'
    ]


def test_unknown_and_missing_fields_are_errors(policies_copy: Path) -> None:
    path = policies_copy / "isa" / "mash-yos.toml"
    text = path.read_text(encoding="utf-8").replace('version = "2.2"\n', "")
    path.write_text(text.replace("status =", 'colour = "blue"\nstatus ='), encoding="utf-8")

    _, findings = read_register(policies_copy / "isa")

    assert sorted(f.message for f in findings) == ["missing field version", "unknown field colour"]


def test_duplicate_agreement_id_is_an_error(policies_copy: Path) -> None:
    (policies_copy / "isa" / "mash-yos-copy.toml").write_text(
        (policies_copy / "isa" / "mash-yos.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )

    _, findings = read_register(policies_copy / "isa")

    assert len(findings) == 1
    assert "ISA-MASH-YOS is already defined in" in findings[0].message


def test_toml_syntax_error_names_its_line(policies_copy: Path) -> None:
    path = policies_copy / "isa" / "mash-probation.toml"
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[6] == 'status = "active"'
    lines[6] = 'status = "active'  # line 7: unterminated string
    path.write_text("\n".join(lines), encoding="utf-8")

    _, findings = read_register(policies_copy / "isa")

    assert len(findings) == 1
    assert (findings[0].file, findings[0].line, findings[0].severity) == (str(path), 7, "error")


def test_load_register_raises_with_every_error(
    policies_copy: Path, edit_agreement: Callable[..., Path]
) -> None:
    edit_agreement("mash-health", status='"paused"')
    edit_agreement("mash-yos", parties='["csc", "police", "yos", "nobody"]')

    with pytest.raises(RegisterError) as raised:
        load_register(policies_copy / "isa")

    assert len(raised.value.findings) == 2
    assert {Path(f.file).name for f in raised.value.findings} == {
        "mash-health.toml",
        "mash-yos.toml",
    }


def test_empty_register_is_an_error(tmp_path: Path) -> None:
    register, findings = read_register(tmp_path)
    assert len(register) == 0
    assert [f.message for f in findings] == ["no agreements (*.toml) found"]
