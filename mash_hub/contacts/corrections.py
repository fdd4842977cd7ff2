"""A contact's subjects as they stand now: the details recorded, with each correction made
during screening applied in order. The recorded details are never overwritten; a person
added during screening is a subject of their own, recorded with the details given.

Pure: the caller releases the sealed fields (`Text`) under its own decided access, so a
contact page, a partner's request and the person register read the same current details.
A case note is never released here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# What a correction may change: the details intake records for each person named.
SUBJECT_FIELDS = ("given_name", "family_name", "date_of_birth", "address", "nhs_number", "upn")
FIELD_LABELS = {
    "given_name": "Given name",
    "family_name": "Family name",
    "date_of_birth": "Date of birth",
    "address": "Address",
    "nhs_number": "NHS number",
    "upn": "Unique pupil number",
}
CORRECTED = "subject_corrected"
ADDED = "subject_added"
NOTE = "note_added"

# Releases the sealed `column` of a row (a subject's "details", an amendment's "payload").
Text = Callable[[Any, str], str]


def changes_of(payload: dict[str, Any]) -> dict[str, Any]:
    """The new values a correction's payload carries, for the fields it changed."""
    changes = payload.get("changes")
    if not isinstance(changes, dict):
        return {}
    return {name: value for name, value in changes.items() if name in SUBJECT_FIELDS}


def corrections_for(amendments: Iterable[Any], subject_ids: Iterable[uuid.UUID]) -> list[Any]:
    """The corrections of these subjects, in the order they were made."""
    wanted = set(subject_ids)
    return sorted(
        (a for a in amendments if a.kind == CORRECTED and a.subject_id in wanted),
        key=lambda a: a.sequence,
    )


def subject_documents(
    subjects: Iterable[Any], amendments: Iterable[Any], text: Text
) -> dict[uuid.UUID, dict[str, Any]]:
    """Each subject's details now, by subject id: as recorded, then corrected in order."""
    listed = list(subjects)
    documents: dict[uuid.UUID, dict[str, Any]] = {
        subject.id: json.loads(text(subject, "details")) for subject in listed
    }
    for amendment in corrections_for(amendments, documents):
        documents[amendment.subject_id].update(changes_of(json.loads(text(amendment, "payload"))))
    return documents


def subject_document(subject: Any, amendments: Iterable[Any], text: Text) -> dict[str, Any]:
    """One subject's details now."""
    return subject_documents([subject], amendments, text)[subject.id]


@dataclass(frozen=True)
class Change:
    field: str
    before: Any
    after: Any

    @property
    def label(self) -> str:
        return FIELD_LABELS[self.field]


@dataclass(frozen=True)
class Step:
    """One amendment as the history shows it: what it changed, and why."""

    amendment: Any
    subject_id: uuid.UUID | None
    subject: dict[str, Any] | None  # the person's details just after it (none: a note)
    changes: tuple[Change, ...]
    note: str | None
    reason: str | None


def replay(
    subjects: Iterable[Any], amendments: Iterable[Any], text: Text, *, notes: bool
) -> tuple[dict[uuid.UUID, dict[str, Any]], list[Step]]:
    """The subjects' details now, and each amendment with what it changed, in order.
    `notes`: release case notes too (MASH staff only); otherwise they are left out."""
    listed = list(subjects)
    documents: dict[uuid.UUID, dict[str, Any]] = {
        subject.id: json.loads(text(subject, "details")) for subject in listed
    }
    steps: list[Step] = []
    for amendment in sorted(amendments, key=lambda a: a.sequence):
        if amendment.kind == NOTE:
            if notes:
                note = json.loads(text(amendment, "payload")).get("note", "")
                steps.append(Step(amendment, None, None, (), str(note), None))
            continue
        reason = text(amendment, "reason") if amendment.reason_sealed is not None else None
        current = documents.get(amendment.subject_id)
        if current is None:  # pragma: no cover - a foreign key
            continue
        if amendment.kind == CORRECTED:
            new = changes_of(json.loads(text(amendment, "payload")))
            changes = tuple(
                Change(name, current.get(name), new[name]) for name in SUBJECT_FIELDS if name in new
            )
            current.update(new)
        else:  # added: the subject's own details are what was given
            changes = ()
        steps.append(Step(amendment, amendment.subject_id, dict(current), changes, None, reason))
    return documents, steps
