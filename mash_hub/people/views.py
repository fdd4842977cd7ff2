"""Pages for the person register: candidate review on a contact, links, merges."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, redirect, render_template, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers.response import Response as BaseResponse

from mash_hub import db, uktime
from mash_hub.authz import Permission, acting_principal, requires
from mash_hub.http.confirm import confirm
from mash_hub.people import services
from mash_hub.people.forms import (
    ContactSearchForm,
    LinkForm,
    MergeDecisionForm,
    MergeForm,
    NewPersonForm,
    RejectRepeatForm,
    UndoMergeForm,
)

bp = Blueprint("people", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_filter(match_reasons, "match_reasons")


# Why the register thinks two records may be one person, in a screener's words.
REASON_WORDS = {
    "nhs_number": "same NHS number",
    "nhs_number_differs": "different NHS numbers",
    "given_name": "same first name",
    "nickname": "first name is a short form of the other",
    "nickname_typo": "first name is a short form, spelt differently",
    "given_name_middle": "first name matches a middle name",
    "given_name_phonetic": "first names sound alike",
    "given_name_typo": "first names differ by one letter",
    "given_initial": "first name matches an initial",
    "given_name_similar": "first names are similar",
    "given_name_differs": "different first names",
    "given_name_missing": "no first name to compare",
    "family_name": "same last name",
    "family_name_partial": "last name is part of a double-barrelled name",
    "family_name_partial_typo": "last name is part of a double-barrelled name, spelt differently",
    "family_name_phonetic": "last names sound alike",
    "family_name_typo": "last names differ by one letter",
    "family_name_similar": "last names are similar",
    "family_name_differs": "different last names",
    "family_name_missing": "no last name to compare",
    "dob": "same date of birth",
    "dob_transposed": "date of birth with day and month swapped",
    "dob_typo": "date of birth differs by one digit",
    "dob_differs": "different dates of birth",
    "dob_missing": "no date of birth to compare",
    "postcode": "same postcode",
    "same_postcode": "same postcode, different house",
    "address": "same address",
    "address_differs": "different addresses",
    "address_missing": "no address to compare",
}


def match_reasons(reasons: tuple[str, ...] | list[str]) -> str:
    """ "Same NHS number, first names sound alike, no date of birth to compare"."""
    words = [REASON_WORDS.get(reason, reason.replace("_", " ")) for reason in reasons]
    text = ", ".join(words)
    return text[:1].upper() + text[1:]


def _merge_form(people: services.ContactPeople, form: MergeForm | None = None) -> MergeForm:
    form = form or MergeForm(formdata=None)
    choices = merge_choices(people)
    form.survivor_id.choices = choices
    form.merged_id.choices = choices
    return form


def merge_choices(people: services.ContactPeople) -> dict[str, str]:
    """Every person reached from this contact (linked or suggested), labelled."""
    choices: dict[str, str] = {}
    for subject in people.subjects:
        persons = [subject.linked] if subject.linked else [c.person for c in subject.candidates]
        for person in persons:
            if person is not None:
                born = uktime.day(person.date_of_birth)
                choices[person.id] = f"{person.name} {born}".strip()
    return choices


def _review(contact_id: str, form: FlaskForm | None = None, **forms: Any) -> str:
    people = _people(contact_id)
    merge_form = forms.pop("merge_form", None)
    return render_template(
        "people/review.html",
        people=people,
        form=form,
        merge_form=_merge_form(people, merge_form),
        title=f"People in {people.reference}",
    )


def _people(contact_id: str) -> services.ContactPeople:
    return services.people_for_contact(db.session(), acting_principal(), contact_id)


@bp.route("/contacts/search", methods=["GET", "POST"])
@requires(Permission.CONTACTS_VIEW)
def search() -> str:
    """Find any contact, open or closed (usability review D2): by reference, or by a
    child's NHS number, name and date of birth, or address through the keyed index."""
    form = ContactSearchForm()
    found: list[services.FoundContact] | None = None
    if form.validate_on_submit():
        kind = form.kind() or "reference"
        found = services.find_contacts(
            db.session(),
            acting_principal(),
            kind,
            reference=(form.reference.data or "").upper(),
            nhs_number=form.nhs_number.data or "",
            given_name=form.given_name.data or "",
            family_name=form.family_name.data or "",
            date_of_birth=form.birth_day(),
            address=form.address.data or "",
        )
        if found is None:
            form.address.errors = [
                "Enter the house number and the postcode or street, like 12 Mill Lane, AB1 2CD"
            ]
    return render_template("people/search.html", form=form, found=found, title="Find a contact")


@bp.route("/contacts/<contact_id>/people")
@requires(Permission.CONTACTS_VIEW)
def review(contact_id: str) -> str:
    return _review(contact_id)


def _back(contact_id: str) -> BaseResponse:
    return redirect(url_for("people.review", contact_id=contact_id))


@bp.route("/contacts/<contact_id>/people/<subject_id>/link", methods=["POST"])
@requires(Permission.PERSONS_LINK)
def link(contact_id: str, subject_id: str) -> BaseResponse | str:
    form = LinkForm()
    if form.validate_on_submit():
        try:
            services.link_subject(
                db.session(), acting_principal(), contact_id, subject_id, form.person_id.data or ""
            )
        except services.PersonChangeRefused as refused:
            form.person_id.errors = [str(refused)]
        else:
            confirm(
                "Person linked to the register",
                "Their earlier contacts now show on this contact's history.",
            )
            return _back(contact_id)
    return _review(contact_id, form)


@bp.route("/contacts/<contact_id>/people/<subject_id>/new", methods=["POST"])
@requires(Permission.PERSONS_LINK)
def new_person(contact_id: str, subject_id: str) -> BaseResponse | str:
    form = NewPersonForm()
    if form.validate_on_submit():
        try:
            services.create_person_for_subject(
                db.session(), acting_principal(), contact_id, subject_id
            )
        except services.PersonChangeRefused as refused:
            form.submit.errors = [str(refused)]
        else:
            confirm(
                "Person added to the register",
                "Later contacts naming them will be matched to this record.",
            )
            return _back(contact_id)
    return _review(contact_id, form)


@bp.route("/contacts/<contact_id>/people/repeats/<repeat_id>/reject", methods=["POST"])
@requires(Permission.PERSONS_LINK)
def reject_repeat(contact_id: str, repeat_id: str) -> BaseResponse | str:
    form = RejectRepeatForm()
    if form.validate_on_submit():
        try:
            services.reject_possible_repeat(db.session(), acting_principal(), contact_id, repeat_id)
        except services.PersonNotFound:
            abort(404)
        confirm(
            "Recorded: not the person in the earlier contact",
            "That earlier contact will not be shown as a possible repeat for this person again.",
        )
        return _back(contact_id)
    return _review(contact_id, form)


@bp.route("/contacts/<contact_id>/people/merge", methods=["POST"])
@requires(Permission.PERSONS_MERGE_PROPOSE)
def propose_merge(contact_id: str) -> BaseResponse | str:
    people = _people(contact_id)
    form = _merge_form(people, MergeForm())
    if form.validate_on_submit():
        try:
            services.propose_merge(
                db.session(),
                acting_principal(),
                contact_id,
                form.survivor_id.data or "",
                form.merged_id.data or "",
                form.reason.data or "",
            )
        except services.PersonChangeRefused as refused:
            field = getattr(form, refused.field, form.merged_id)
            field.errors = [str(refused)]
        else:
            confirm(
                "Merge proposed",
                "A MASH manager will approve or reject it. Until then both records stay apart.",
            )
            return _back(contact_id)
    return _review(contact_id, form, merge_form=form)


@bp.route("/people/merges")
@requires(Permission.PERSONS_MERGE_DECIDE)
def merges() -> str:
    waiting = services.merges_waiting(db.session(), acting_principal())
    return render_template("people/merges.html", merges=waiting, title="Person merges")


def _show_merge(merge_id: str, form: FlaskForm | None = None) -> str:
    merge = services.show_merge(db.session(), acting_principal(), merge_id)
    return render_template(
        "people/merge.html",
        merge=merge,
        form=form,
        decision_form=form if isinstance(form, MergeDecisionForm) else MergeDecisionForm(),
        undo_form=UndoMergeForm(),
        title="Merge of two person records",
    )


@bp.route("/people/merges/<merge_id>")
@requires(Permission.PERSONS_MERGE_DECIDE)
def merge(merge_id: str) -> str:
    return _show_merge(merge_id)


@bp.route("/people/merges/<merge_id>/decision", methods=["POST"])
@requires(Permission.PERSONS_MERGE_DECIDE)
def decide(merge_id: str) -> BaseResponse | str:
    form = MergeDecisionForm()
    if form.validate_on_submit():
        try:
            services.decide_merge(
                db.session(),
                acting_principal(),
                merge_id,
                form.decision.data == "approve",
                form.override_reason.data or "",
            )
        except services.PersonChangeRefused as refused:
            field = getattr(form, refused.field, form.decision)
            field.errors = [str(refused)]
        else:
            if form.decision.data == "approve":
                confirm(
                    "Merge approved",
                    "The two records are now one. You can undo the merge from this page.",
                )
            else:
                confirm("Merge rejected", "The two records stay apart.")
            return redirect(url_for("people.merge", merge_id=merge_id))
    return _show_merge(merge_id, form)


@bp.route("/people/merges/<merge_id>/undo", methods=["POST"])
@requires(Permission.PERSONS_MERGE_DECIDE)
def undo(merge_id: str) -> BaseResponse | str:
    form = UndoMergeForm()
    if form.validate_on_submit():
        try:
            services.undo_merge(db.session(), acting_principal(), merge_id)
        except services.PersonChangeRefused as refused:
            form.submit.errors = [str(refused)]
        else:
            confirm("Merge undone", "The two person records are apart again, as before.")
            return redirect(url_for("people.merge", merge_id=merge_id))
    return _show_merge(merge_id, form)
