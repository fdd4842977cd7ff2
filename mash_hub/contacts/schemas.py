"""The contact payload of the API contract (shared/docs/api.md), read and checked."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from mash_hub.agencies import AGENCY_CODES, PROFESSIONS, REFERRER_TYPES
from mash_hub.contacts.equality import (
    DISABILITIES,
    ETHNICITIES,
    LANGUAGE_MAX,
    SEXES,
    Equality,
)
from mash_hub.contacts.identifiers import normalise_nhs_number, upn_valid
from mash_hub.contacts.models import CONSENT_STATUSES, SUBJECT_ROLES
from mash_hub.http.validation import Reader
from mash_hub.presenting_issues import ISSUE_CODES, in_list_order

MAX_SUBJECTS = 30
PHONE_RE = re.compile(r"\+?[0-9][0-9 ()-]{5,30}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
NAME_MAX = 100
CONCERN_MAX = 20_000


@dataclass(frozen=True)
class SubjectInput:
    role: str
    given_name: str
    family_name: str
    date_of_birth: date | None
    address: str | None
    nhs_number: str | None
    upn: str | None
    # Optional equality information (intake only), sealed apart from the details.
    equality: Equality | None = None

    def as_document(self) -> dict[str, Any]:
        """The person's details as sealed: never their equality information."""
        return {
            "given_name": self.given_name,
            "family_name": self.family_name,
            "date_of_birth": self.date_of_birth.isoformat() if self.date_of_birth else None,
            "address": self.address,
            "nhs_number": self.nhs_number,
            "upn": self.upn,
        }


@dataclass(frozen=True)
class Referrer:
    """Who made the contact. `agency` is set for an agency of the hub only; the contact of
    any other referrer is sealed for the agency that records it."""

    type: str
    agency: str | None
    name: str | None  # None for an anonymous contact only
    role: str | None
    profession: str | None
    organisation: str | None
    phone: str | None
    email: str | None

    def as_document(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "role": self.role,
            "profession": self.profession,
            "organisation": self.organisation,
            "phone": self.phone,
            "email": self.email,
        }


@dataclass(frozen=True)
class ContactInput:
    received_at: datetime
    referrer: Referrer
    concern: str
    consent_status: str
    consent_reason: str | None
    subjects: tuple[SubjectInput, ...]
    # Codes of the published list (mash_hub.presenting_issues), each once, in list order.
    presenting_issues: tuple[str, ...] = ()
    # A step-up from a receiving service: the id of the onward referral it comes through.
    stepped_up_from_referral: str | None = None


# Nobody on a contact was born this long before it: an older date of birth is a slip.
OLDEST_AGE_YEARS = 120


def read_contact(body: Any, now: datetime, go_live: date) -> ContactInput:
    """The contact in `body`, or ValidationFailed listing every bad field. A contact
    cannot be received before the hub went live (`go_live`) or after `now`."""
    reader = Reader()
    root = reader.obj(body, "")
    received_at = reader.moment(root, "received_at", "received_at")
    if received_at is not None and received_at > now:
        reader.fail("received_at", "must not be in the future")
    elif received_at is not None and received_at.date() < go_live:
        reader.fail(
            "received_at",
            f"must be on or after {go_live.day} {go_live:%B %Y}, when the hub started "
            "taking contacts",
        )
    referrer = _read_referrer(reader, reader.obj(root.get("source"), "source"))
    concern = reader.text(root, "concern", "concern", max_length=CONCERN_MAX, multiline=True)
    consent = reader.obj(root.get("consent"), "consent")
    consent_status = reader.choice(consent, "status", "consent.status", CONSENT_STATUSES)
    consent_reason = reader.text(
        consent,
        "reason",
        "consent.reason",
        max_length=2000,
        required=consent_status not in (None, "given"),
        multiline=True,
    )
    subjects: list[SubjectInput] = []
    raw_subjects = root.get("subjects")
    if not isinstance(raw_subjects, list) or not raw_subjects:
        reader.fail("subjects", "must list at least one subject")
        raw_subjects = []
    elif len(raw_subjects) > MAX_SUBJECTS:
        reader.fail("subjects", f"must list {MAX_SUBJECTS} subjects or fewer")
        raw_subjects = []
    for index, raw in enumerate(raw_subjects):
        subject = _read_subject(reader, raw, f"subjects[{index}]", now)
        equality = _read_equality(reader, raw, f"subjects[{index}].equality")
        if subject is not None:
            subjects.append(replace(subject, equality=equality))
    presenting_issues = _read_presenting_issues(reader, root.get("presenting_issues"))
    stepped_up = root.get("stepped_up_from_referral")
    if stepped_up is not None and not _is_uuid(stepped_up):
        reader.fail("stepped_up_from_referral", "must be the id of an onward referral")
    if raw_subjects and not any(
        isinstance(s, dict) and s.get("role") == "child" for s in raw_subjects
    ):
        reader.fail("subjects", "must include at least one child")
    reader.check()
    assert received_at and referrer and concern and consent_status  # noqa: S101
    return ContactInput(
        received_at=received_at,
        referrer=referrer,
        concern=concern,
        consent_status=consent_status,
        consent_reason=consent_reason,
        subjects=tuple(subjects),
        presenting_issues=presenting_issues,
        stepped_up_from_referral=stepped_up,
    )


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 40:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


MAX_PRESENTING_ISSUES = len(ISSUE_CODES)


def _read_presenting_issues(reader: Reader, raw: Any) -> tuple[str, ...]:
    """`presenting_issues`: optional (v1 callers send none), else a list of codes of the
    published list; each bad entry is named by its place (`presenting_issues[2]`)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        reader.fail("presenting_issues", "must be a list of presenting issue codes")
        return ()
    if len(raw) > MAX_PRESENTING_ISSUES:
        reader.fail("presenting_issues", f"must list {MAX_PRESENTING_ISSUES} codes or fewer")
        return ()
    codes: list[str] = []
    for index, code in enumerate(raw):
        if not isinstance(code, str) or code not in ISSUE_CODES:
            reader.fail(
                f"presenting_issues[{index}]",
                "must be a presenting issue code from the published list "
                "(PresentingIssue in the OpenAPI document)",
            )
            continue
        codes.append(code)
    return in_list_order(codes)


def _read_equality(reader: Reader, raw_subject: Any, path: str) -> Equality | None:
    """A subject's optional `equality`: each answer optional; None if nothing was given."""
    raw = raw_subject.get("equality") if isinstance(raw_subject, dict) else None
    if raw is None:
        return None
    if not isinstance(raw, dict):
        reader.fail(path, "must be a JSON object")
        return None

    def choice(key: str, options: tuple[str, ...]) -> str | None:
        if raw.get(key) is None:
            return None
        return reader.choice(raw, key, f"{path}.{key}", options)

    equality = Equality(
        sex=choice("sex", SEXES),
        ethnicity=choice("ethnicity", ETHNICITIES),
        disability=choice("disability", DISABILITIES),
        first_language=reader.text(
            raw,
            "first_language",
            f"{path}.first_language",
            max_length=LANGUAGE_MAX,
            required=False,
        ),
    )
    return None if equality.empty else equality


def _read_referrer(reader: Reader, source: dict[str, Any]) -> Referrer | None:
    """`source`: an agency of the hub (the contract's first shape: `type` may be left out),
    another professional with their organisation, a member of the public, a family member,
    or anonymous (no name)."""
    before = len(reader.errors)
    kind = source.get("type", "agency")
    if kind not in REFERRER_TYPES:
        reader.fail("source.type", f"must be one of: {', '.join(REFERRER_TYPES)}")
        kind = None  # the other fields are still checked, so every problem is listed
    agency = None
    if kind == "agency":
        agency = reader.choice(source, "agency", "source.agency", AGENCY_CODES)
    elif kind is not None and source.get("agency") is not None:
        reader.fail("source.agency", "must be left out unless source.type is agency")
    profession = None
    if kind == "professional":
        profession = reader.choice(source, "profession", "source.profession", PROFESSIONS)
    elif kind is not None and source.get("profession") is not None:
        reader.fail("source.profession", "must be left out unless source.type is professional")
    organisation = reader.text(
        source,
        "organisation",
        "source.organisation",
        max_length=200,
        required=kind == "professional",
    )
    if kind == "anonymous":
        name = None
        if source.get("referrer_name") not in (None, ""):
            reader.fail("source.referrer_name", "must be left out for an anonymous contact")
    else:
        name = reader.text(source, "referrer_name", "source.referrer_name", max_length=200)
    role = reader.text(
        source, "referrer_role", "source.referrer_role", max_length=200, required=False
    )
    phone = reader.text(source, "phone", "source.phone", max_length=40, required=False)
    if phone is not None and not PHONE_RE.fullmatch(phone):
        reader.fail("source.phone", "must be a telephone number, like 020 7946 0000")
    email = reader.text(source, "email", "source.email", max_length=254, required=False)
    if email is not None and not EMAIL_RE.fullmatch(email):
        reader.fail("source.email", "must be an email address, like name@example.com")
    if len(reader.errors) != before or kind is None:
        return None
    return Referrer(kind, agency, name, role, profession, organisation, phone, email)


def read_subject(body: Any, now: datetime, *, role: str | None = None) -> SubjectInput:
    """One person's details (a person added to a contact, or a subject's corrected
    details), checked as intake checks a contact's subjects; ValidationFailed names each
    bad field by its own name (`date_of_birth`, ...). `role`: the person's role where it
    is not the body's to say (a correction keeps the subject's role)."""
    reader = Reader()
    if role is not None and isinstance(body, dict):
        body = {**body, "role": role}
    subject = _read_subject(reader, body, "", now)
    reader.check()
    assert subject is not None  # noqa: S101 - checked above
    return subject


def _read_subject(reader: Reader, raw: Any, path: str, now: datetime) -> SubjectInput | None:
    def at(name: str) -> str:
        return f"{path}.{name}" if path else name

    before = len(reader.errors)
    subject = reader.obj(raw, path)
    role = reader.choice(subject, "role", at("role"), SUBJECT_ROLES)
    given = reader.text(subject, "given_name", at("given_name"), max_length=NAME_MAX)
    family = reader.text(subject, "family_name", at("family_name"), max_length=NAME_MAX)
    born = reader.day(subject, "date_of_birth", at("date_of_birth"), required=False)
    if born is not None and born > now.date():
        reader.fail(at("date_of_birth"), "must not be in the future")
    elif born is not None and born.year < now.year - OLDEST_AGE_YEARS:
        reader.fail(
            at("date_of_birth"),
            f"must be in {now.year - OLDEST_AGE_YEARS} or later: check the year",
        )
    address = reader.text(subject, "address", at("address"), max_length=300, required=False)
    nhs_text = reader.text(subject, "nhs_number", at("nhs_number"), max_length=16, required=False)
    nhs_number = None
    if nhs_text is not None:
        nhs_number = normalise_nhs_number(nhs_text)
        if nhs_number is None:
            reader.fail(at("nhs_number"), "must be a valid 10-digit NHS number")
    upn = reader.text(subject, "upn", at("upn"), max_length=13, required=False)
    if upn is not None and not upn_valid(upn):
        reader.fail(at("upn"), "must be a valid 13-character unique pupil number")
    if len(reader.errors) != before or role is None or given is None or family is None:
        return None
    return SubjectInput(role, given, family, born, address, nhs_number, upn)


def subject_json(subject: Any) -> dict[str, Any]:
    """A subject as the API shows it (a contact's, or a request's need-to-know copy): the
    same fields as `SubjectInput` takes, with the date of birth as an ISO date."""
    born = subject.date_of_birth
    return {
        "role": subject.role,
        "given_name": subject.given_name,
        "family_name": subject.family_name,
        "date_of_birth": born.isoformat() if born else None,
        "address": subject.address,
        "nhs_number": subject.nhs_number,
        "upn": subject.upn,
    }
