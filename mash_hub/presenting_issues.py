"""The presenting issues a contact can be recorded with: one fixed list of codes, each with
its plain-English label and the group the intake page shows it under.

Codes are what the API takes and answers (published in the OpenAPI document as an enum),
what the database stores and what programme criteria files (policies/programmes/*.toml)
name, so a code is never renamed or reused: a new issue gets a new code. It sits beside
`agencies.py` at the bottom of the package because the policy layer checks programme
files against it and may not import the contacts package.

Sources for the list: the factors that seeds 000 (strategy 1.4 and 5.10), 001 and 002
(2.6) name, and the categories of abuse and harm that children's social care records.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PresentingIssue:
    code: str
    label: str
    group: str


# The page's groups, in the order it shows them.
GROUPS: tuple[str, ...] = (
    "Abuse, neglect and exploitation",
    "Health and wellbeing",
    "Education",
    "Crime and behaviour",
    "Home, money and work",
    "Family circumstances",
)

PRESENTING_ISSUES: tuple[PresentingIssue, ...] = (
    PresentingIssue("domestic_abuse", "Domestic abuse", GROUPS[0]),
    PresentingIssue("neglect", "Neglect", GROUPS[0]),
    PresentingIssue("physical_abuse", "Physical abuse", GROUPS[0]),
    PresentingIssue("sexual_abuse", "Sexual abuse", GROUPS[0]),
    PresentingIssue("emotional_abuse", "Emotional abuse", GROUPS[0]),
    PresentingIssue("sexual_exploitation", "Child sexual exploitation", GROUPS[0]),
    PresentingIssue(
        "criminal_exploitation", "Child criminal exploitation, including county lines", GROUPS[0]
    ),
    PresentingIssue("trafficking", "Trafficking or modern slavery", GROUPS[0]),
    PresentingIssue("radicalisation", "Radicalisation", GROUPS[0]),
    PresentingIssue("female_genital_mutilation", "Female genital mutilation", GROUPS[0]),
    PresentingIssue("online_harm", "Harm online", GROUPS[0]),
    PresentingIssue("missing", "Missing from home, care or education", GROUPS[0]),
    PresentingIssue("child_mental_health", "Child's mental health", GROUPS[1]),
    PresentingIssue("parental_mental_health", "Parent's or carer's mental health", GROUPS[1]),
    PresentingIssue("self_harm", "Self-harm or risk of suicide", GROUPS[1]),
    PresentingIssue("substance_misuse", "Drug or alcohol misuse in the family", GROUPS[1]),
    PresentingIssue("physical_health", "Physical health problems in the family", GROUPS[1]),
    PresentingIssue("child_disability", "Child's disability or additional needs", GROUPS[1]),
    PresentingIssue(
        "parental_illness_disability",
        "Parent's or carer's illness or disability limiting daily life",
        GROUPS[1],
    ),
    PresentingIssue(
        "parental_learning_disability", "Parent's or carer's learning disability", GROUPS[1]
    ),
    PresentingIssue("early_years", "Concerns about a young child's development", GROUPS[1]),
    PresentingIssue("school_attendance", "Poor school attendance", GROUPS[2]),
    PresentingIssue("school_exclusion", "Excluded from school", GROUPS[2]),
    PresentingIssue(
        "special_educational_needs",
        "Special educational needs or alternative provision",
        GROUPS[2],
    ),
    PresentingIssue(
        "not_in_education_or_work",
        "Young person not in education, employment or training",
        GROUPS[2],
    ),
    PresentingIssue("youth_crime", "Child or young person involved in crime", GROUPS[3]),
    PresentingIssue("anti_social_behaviour", "Anti-social behaviour", GROUPS[3]),
    PresentingIssue("gang_involvement", "Gang involvement or offending associates", GROUPS[3]),
    PresentingIssue("family_offending", "Offending by an adult in the family", GROUPS[3]),
    PresentingIssue("parent_in_prison", "Parent or carer in prison", GROUPS[3]),
    PresentingIssue("worklessness", "No adult in work, or on out-of-work benefits", GROUPS[4]),
    PresentingIssue("debt", "Debt or money problems", GROUPS[4]),
    PresentingIssue(
        "housing", "Housing problems: homeless, insecure, overcrowded or poor", GROUPS[4]
    ),
    PresentingIssue("parenting", "Poor or inconsistent parenting", GROUPS[5]),
    PresentingIssue("family_conflict", "Family conflict or breakdown", GROUPS[5]),
    PresentingIssue("edge_of_care", "Child at risk of coming into care", GROUPS[5]),
    PresentingIssue(
        "family_in_care", "A parent was in care, or a sibling is in care now", GROUPS[5]
    ),
    PresentingIssue("young_carer", "Young carer", GROUPS[5]),
    PresentingIssue("other", "Something not listed here", GROUPS[5]),
)

ISSUE_CODES: tuple[str, ...] = tuple(issue.code for issue in PRESENTING_ISSUES)
ISSUE_LABELS: dict[str, str] = {issue.code: issue.label for issue in PRESENTING_ISSUES}

# The longest code, for the database column.
CODE_MAX = 32


def label(code: str) -> str:
    """The plain-English label of a code; the code itself for one that is not listed."""
    return ISSUE_LABELS.get(code, code)


def in_list_order(codes: list[str] | tuple[str, ...] | set[str]) -> tuple[str, ...]:
    """The codes given, each once, in the order of the published list (unknown ones last)."""
    wanted = set(codes)
    known = tuple(code for code in ISSUE_CODES if code in wanted)
    return known + tuple(sorted(wanted - set(ISSUE_CODES)))
