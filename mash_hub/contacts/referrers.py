"""Who made a contact, in words for the pages: "Youth offending service", "GP: Northwick
Surgery", "A member of the public", "Anonymous"."""

from __future__ import annotations

from mash_hub.agencies import agency_name

REFERRER_LABELS = {
    "agency": "An agency of the hub",
    "professional": "Another professional",
    "public": "A member of the public",
    "family": "A family member",
    "anonymous": "Anonymous",
}
PROFESSION_LABELS = {
    "gp": "GP",
    "school": "School",
    "early_years": "Early years",
    "voluntary_sector": "Voluntary sector",
    "other_local_authority": "Another local authority",
    "adult_social_care": "Adult social care",
    "other": "Other professional",
}


def describe(
    referrer_type: str,
    agency: str | None,
    profession: str | None = None,
    organisation: str | None = None,
    *,
    sentence: bool = False,
) -> str:
    """Where the contact came from, for a page ("A member of the public"), or to follow
    "Contact from" (`sentence`: "a member of the public"); `organisation` only where it is
    released to the reader."""
    if referrer_type == "agency":
        return agency_name(agency)
    if referrer_type == "professional":
        kind = PROFESSION_LABELS.get(profession or "", "Another professional")
        return f"{kind}: {organisation}" if organisation else kind
    label = REFERRER_LABELS.get(referrer_type, referrer_type)
    if sentence:
        return "an anonymous referrer" if referrer_type == "anonymous" else label.lower()
    return label
