"""Optional equality information about a person named in a contact, for the Public Sector
Equality Duty (Equality Act 2010 s149): sex, ethnic group in the ONS 2021 census
categories for England and Wales, disability and first language.

Never required and never a reason to refuse a contact. Sealed with the contact under the
recording agency's keys, apart from the person's details, and shown only to the MASH: a
partner answering a request never sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PREFER_NOT_TO_SAY = "prefer_not_to_say"

SEX_LABELS: dict[str, str] = {
    "female": "Female",
    "male": "Male",
    PREFER_NOT_TO_SAY: "Prefer not to say",
}

DISABILITY_LABELS: dict[str, str] = {
    "yes": "Yes",
    "no": "No",
    PREFER_NOT_TO_SAY: "Prefer not to say",
}

# The ONS 2021 census ethnic groups (England and Wales): 19 categories in 5 high-level
# groups, listed as the census lists them. The code is the hub's name for each.
ETHNIC_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Asian, Asian British or Asian Welsh",
        (
            ("asian_bangladeshi", "Bangladeshi"),
            ("asian_chinese", "Chinese"),
            ("asian_indian", "Indian"),
            ("asian_pakistani", "Pakistani"),
            ("asian_other", "Any other Asian background"),
        ),
    ),
    (
        "Black, Black British, Black Welsh, Caribbean or African",
        (
            ("black_african", "African"),
            ("black_caribbean", "Caribbean"),
            ("black_other", "Any other Black, Black British or Caribbean background"),
        ),
    ),
    (
        "Mixed or multiple ethnic groups",
        (
            ("mixed_white_asian", "White and Asian"),
            ("mixed_white_black_african", "White and Black African"),
            ("mixed_white_black_caribbean", "White and Black Caribbean"),
            ("mixed_other", "Any other mixed or multiple ethnic background"),
        ),
    ),
    (
        "White",
        (
            ("white_british", "English, Welsh, Scottish, Northern Irish or British"),
            ("white_irish", "Irish"),
            ("white_gypsy_irish_traveller", "Gypsy or Irish Traveller"),
            ("white_roma", "Roma"),
            ("white_other", "Any other White background"),
        ),
    ),
    (
        "Other ethnic group",
        (
            ("other_arab", "Arab"),
            ("other_any", "Any other ethnic group"),
        ),
    ),
)

ETHNICITY_LABELS: dict[str, str] = {
    **{
        code: f"{group}: {label}"
        for group, categories in ETHNIC_GROUPS
        for code, label in categories
    },
    PREFER_NOT_TO_SAY: "Prefer not to say",
}

SEXES = tuple(SEX_LABELS)
ETHNICITIES = tuple(ETHNICITY_LABELS)
DISABILITIES = tuple(DISABILITY_LABELS)
LANGUAGE_MAX = 60


@dataclass(frozen=True)
class Equality:
    """What was given; None for each question not answered."""

    sex: str | None = None
    ethnicity: str | None = None
    disability: str | None = None
    first_language: str | None = None

    def as_document(self) -> dict[str, Any]:
        return {
            "sex": self.sex,
            "ethnicity": self.ethnicity,
            "disability": self.disability,
            "first_language": self.first_language,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Equality:
        return cls(
            sex=document.get("sex"),
            ethnicity=document.get("ethnicity"),
            disability=document.get("disability"),
            first_language=document.get("first_language"),
        )

    @property
    def empty(self) -> bool:
        return not any(self.as_document().values())

    @property
    def sex_label(self) -> str | None:
        return SEX_LABELS.get(self.sex) if self.sex else None

    @property
    def ethnicity_label(self) -> str | None:
        return ETHNICITY_LABELS.get(self.ethnicity) if self.ethnicity else None

    @property
    def disability_label(self) -> str | None:
        return DISABILITY_LABELS.get(self.disability) if self.disability else None
