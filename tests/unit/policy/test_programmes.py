"""Programme criteria files (policies/programmes/*.toml): the shipped ones load, every kind
of mistake is reported with its file and line, the hub refuses to start on one, and the
pure criteria check counts what a family's presenting issues and measures meet."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from mash_hub.policy import programmes
from mash_hub.policy.check import check_policies
from mash_hub.policy.cli import policies
from mash_hub.policy.pdp import PolicyConfigError, PolicyDecisionPoint
from mash_hub.presenting_issues import ISSUE_CODES

TODAY = date(2026, 6, 1)
EditText = Callable[[str, str, str], Path]
FindLine = Callable[[Path, str], int]
TF_2012 = "programmes/troubled-families-2012.toml"
PHASE_2 = "programmes/troubled-families-phase-2.toml"
SUPPORTING = "programmes/supporting-families.toml"


def programme_errors(policies_dir: Path) -> list[tuple[str, int, str]]:
    return [
        (Path(f.file).name, f.line, f.message)
        for f in check_policies(policies_dir, TODAY)
        if f.severity == "error"
    ]


@pytest.fixture
def shipped(policies_copy: Path) -> dict[str, programmes.Programme]:
    return {p.id: p for p in programmes.load(policies_copy / "programmes")}


def test_the_shipped_programmes_load_with_their_source_and_version(shipped) -> None:
    assert sorted(shipped) == [
        "supporting-families",
        "troubled-families-2012",
        "troubled-families-phase-2",
    ]
    for programme in shipped.values():
        assert programme.source and programme.version and programme.name
        for criterion in programme.criteria:
            assert set(criterion.issues) <= set(ISSUE_CODES)
    tf = shipped["troubled-families-2012"]
    assert (tf.rule.at_least, tf.rule.group) == (2, "national")
    assert [c.code for c in tf.criteria if c.group == "national"] == [
        "crime_asb",
        "education",
        "out_of_work_benefits",
    ]
    assert len(shipped["troubled-families-phase-2"].criteria) == 6
    assert len(shipped["supporting-families"].criteria) == 10
    assert shipped["supporting-families"].rule.at_least == 3
    assert tf.in_effect(date(2013, 1, 14)) and not tf.in_effect(date(2016, 1, 1))


def test_bad_toml_is_reported_at_its_line(
    policies_copy: Path, edit_text: EditText, find_line: FindLine
) -> None:
    path = edit_text(TF_2012, 'code = "gang"', 'code = "gang')

    [(name, line, message)] = programme_errors(policies_copy)

    assert (name, line) == ("troubled-families-2012.toml", find_line(path, 'code = "gang'))
    assert "at line" in message


def test_a_missing_field_is_named(policies_copy: Path, edit_text: EditText) -> None:
    edit_text(
        PHASE_2, 'version = "Phase 2 headline problems', 'edition = "Phase 2 headline problems'
    )

    assert sorted(programme_errors(policies_copy)) == [
        ("troubled-families-phase-2.toml", 1, "missing field version"),
        ("troubled-families-phase-2.toml", 10, "unknown field edition"),
    ]


def test_an_unknown_presenting_issue_is_reported_on_its_own_line(
    policies_copy: Path, edit_text: EditText, find_line: FindLine
) -> None:
    path = edit_text(PHASE_2, '    "self_harm",\n', '    "self_harm",\n    "loneliness",\n')

    assert programme_errors(policies_copy) == [
        (
            "troubled-families-phase-2.toml",
            find_line(path, '"loneliness"'),
            "criterion health: unknown presenting issue 'loneliness'",
        )
    ]


def test_a_duplicate_criterion_code_is_reported_where_it_is_used_again(
    policies_copy: Path, edit_text: EditText, find_line: FindLine
) -> None:
    path = edit_text(SUPPORTING, 'code = "secure_housing"', 'code = "early_years"')
    first = find_line(path, 'code = "early_years"') - 1  # its [[criteria]] header

    assert programme_errors(policies_copy) == [
        (
            "supporting-families.toml",
            find_line(path, 'label = "Secure housing"') - 1,
            f"criterion early_years: code is already used by the criterion at line {first}",
        )
    ]


def test_a_threshold_out_of_range_is_reported_at_its_line(
    policies_copy: Path, edit_text: EditText, find_line: FindLine
) -> None:
    path = edit_text(TF_2012, "below = 85", "below = 185")

    assert programme_errors(policies_copy) == [
        (
            "troubled-families-2012.toml",
            find_line(path, "below = 185"),
            "criterion education: below must be a number from 0 to 100"
            " (school attendance, as a percentage)",
        )
    ]


def test_a_criterion_must_say_what_meets_it(
    policies_copy: Path, edit_text: EditText, find_line: FindLine
) -> None:
    path = edit_text(TF_2012, 'measure = "benefit_cap_weekly_loss_pounds"', 'measure = "rent"')
    edit_text(
        TF_2012,
        'kind = "issue"\nissues = ["worklessness"]',
        'kind = "measure"\nissues = ["worklessness"]',
    )

    assert sorted(programme_errors(policies_copy)) == sorted(
        [
            (
                "troubled-families-2012.toml",
                find_line(path, 'measure = "rent"'),
                "criterion benefit_cap: measure must be one of: school_attendance_percent,"
                " benefit_cap_weekly_loss_pounds",
            ),
            (
                "troubled-families-2012.toml",
                find_line(path, 'issues = ["worklessness"]'),
                'criterion out_of_work_benefits: a "measure" criterion takes no issues',
            ),
            (
                "troubled-families-2012.toml",
                # No measure line to point at: the criterion's own [[criteria]] line.
                find_line(path, 'code = "out_of_work_benefits"') - 1,
                "criterion out_of_work_benefits: measure must be one of:"
                " school_attendance_percent, benefit_cap_weekly_loss_pounds",
            ),
        ]
    )


def test_the_rule_must_be_one_a_family_can_meet(
    policies_copy: Path, edit_text: EditText, find_line: FindLine
) -> None:
    path = edit_text(TF_2012, "at_least = 2", "at_least = 4")
    edit_text(PHASE_2, "[rule]\nat_least = 2", '[rule]\nat_least = 2\ngroup = "headline"')

    assert sorted(programme_errors(policies_copy)) == [
        (
            "troubled-families-2012.toml",
            find_line(path, "at_least = 4"),
            "rule: at_least is 4, but only 3 criteria can count",
        ),
        (
            "troubled-families-phase-2.toml",
            find_line(policies_copy / PHASE_2, 'group = "headline"'),
            "rule: no criterion is in group 'headline'",
        ),
    ]


def test_dates_must_run_forwards(
    policies_copy: Path, edit_text: EditText, find_line: FindLine
) -> None:
    path = edit_text(TF_2012, "effective_until = 2015-03-31", "effective_until = 2011-03-31")

    assert programme_errors(policies_copy) == [
        (
            "troubled-families-2012.toml",
            find_line(path, "effective_until"),
            "effective_until is before effective_from",
        )
    ]


def test_two_files_cannot_define_one_programme(policies_copy: Path) -> None:
    copy = policies_copy / "programmes" / "supporting-families-copy.toml"
    copy.write_text((policies_copy / SUPPORTING).read_text(encoding="utf-8"), encoding="utf-8")

    assert programme_errors(policies_copy) == [
        (
            "supporting-families.toml",
            5,
            f"programme supporting-families is already defined in {copy}",
        )
    ]


def test_no_programme_files_is_an_error(policies_copy: Path) -> None:
    for path in (policies_copy / "programmes").glob("*.toml"):
        path.unlink()

    assert programme_errors(policies_copy) == [
        ("programmes", 0, "no programme files (*.toml) found")
    ]


def test_load_raises_with_the_findings(policies_copy: Path, edit_text: EditText) -> None:
    edit_text(SUPPORTING, "at_least = 3", "at_least = 0")

    with pytest.raises(programmes.ProgrammeError) as raised:
        programmes.load(policies_copy / SUPPORTING)

    assert [f.message for f in raised.value.findings] == [
        "rule: at_least must be a whole number, 1 or more"
    ]


def test_the_hub_refuses_to_start_on_a_broken_programme_file(
    policies_copy: Path, edit_text: EditText
) -> None:
    edit_text(SUPPORTING, 'issues = ["housing"]', 'issues = ["hosuing"]')

    with pytest.raises(PolicyConfigError) as raised:
        PolicyDecisionPoint.from_dir(policies_copy, TODAY)

    assert [f.message for f in raised.value.findings] == [
        "criterion secure_housing: unknown presenting issue 'hosuing'"
    ]


def test_the_loaded_policy_set_carries_the_programmes(policies_copy: Path) -> None:
    pdp = PolicyDecisionPoint.from_dir(policies_copy, TODAY)
    assert {p.id for p in pdp.programmes} == {
        "supporting-families",
        "troubled-families-2012",
        "troubled-families-phase-2",
    }


def test_policies_check_catches_a_malformed_criteria_file_with_its_line(
    policies_copy: Path, edit_text: EditText, find_line: FindLine
) -> None:
    path = edit_text(PHASE_2, 'kind = "issue"\nissues = ["domestic_abuse"]', 'kind = "issues"')

    result = CliRunner().invoke(
        policies, ["check", "--dir", str(policies_copy), "--today", "2026-06-01"]
    )

    assert result.exit_code == 1
    line = find_line(path, 'kind = "issues"')
    assert result.output.splitlines() == [
        f"{path}:{line}: error: criterion domestic_abuse: kind must be one of:"
        " issue, measure, issue_or_measure",
        f"{policies_copy}: 1 error(s), 0 warning(s)",
    ]


# -- the criteria check ------------------------------------------------------------------


def test_two_national_criteria_meet_the_2012_programme(shipped) -> None:
    tf = shipped["troubled-families-2012"]

    met = programmes.criteria_met(tf, ["anti_social_behaviour", "worklessness", "neglect"], {})

    assert [(m.code, m.issues, m.measure_value) for m in met] == [
        ("crime_asb", ("anti_social_behaviour",), None),
        ("out_of_work_benefits", ("worklessness",), None),
    ]
    assert programmes.qualifies(tf, met)


def test_local_criteria_are_evidence_but_do_not_count_towards_the_national_rule(shipped) -> None:
    tf = shipped["troubled-families-2012"]

    met = programmes.criteria_met(tf, ["youth_crime", "domestic_abuse", "gang_involvement"], {})

    assert [m.code for m in met] == ["crime_asb", "substance_abuse_mental_health", "gang"]
    assert not programmes.qualifies(tf, met)


def test_attendance_below_the_threshold_meets_the_education_criterion(shipped) -> None:
    tf = shipped["troubled-families-2012"]

    below = programmes.criteria_met(tf, [], {"school_attendance_percent": 84.9})
    at = programmes.criteria_met(tf, [], {"school_attendance_percent": 85})
    cap = programmes.criteria_met(tf, [], {"benefit_cap_weekly_loss_pounds": 50})

    assert [(m.code, m.measure_value) for m in below] == [("education", 84.9)]
    assert at == []
    assert [(m.code, m.measure_value) for m in cap] == [("benefit_cap", 50.0)]


def test_an_issue_and_a_measure_for_one_criterion_count_once(shipped) -> None:
    phase_2 = shipped["troubled-families-phase-2"]

    met = programmes.criteria_met(phase_2, ["school_exclusion"], {"school_attendance_percent": 70})

    assert [(m.code, m.issues, m.measure_value) for m in met] == [
        ("school_attendance", ("school_exclusion",), 70.0)
    ]
    assert not programmes.qualifies(phase_2, met)


def test_supporting_families_needs_three_headline_outcomes(shipped) -> None:
    sf = shipped["supporting-families"]
    two = programmes.criteria_met(sf, ["domestic_abuse", "housing", "debt"][:2], {})
    three = programmes.criteria_met(sf, ["domestic_abuse", "housing", "debt"], {})

    assert not programmes.qualifies(sf, two)
    assert [m.code for m in three] == [
        "safe_from_domestic_abuse",
        "secure_housing",
        "financial_stability",
    ]
    assert programmes.qualifies(sf, three)
