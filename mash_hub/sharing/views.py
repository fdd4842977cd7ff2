"""Request pages (sending, the researcher's inbox, answering) and their JSON API. Thin:
parse, call the service, render."""

from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    Response,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers import Response as BaseResponse

from mash_hub import db, runtime
from mash_hub.agencies import agency_name
from mash_hub.authz import Permission, acting_principal, requires
from mash_hub.contacts.schemas import subject_json
from mash_hub.http.body import json_body
from mash_hub.http.confirm import confirm
from mash_hub.http.errors import ApiError
from mash_hub.http.paging import page_limit
from mash_hub.http.times import api_time
from mash_hub.http.validation import ValidationFailed
from mash_hub.sharing import services
from mash_hub.sharing.forms import (
    ITEM_SLOTS,
    VALUE_HINT,
    AnswerForm,
    CorrectionForm,
    SendRequestForm,
)
from mash_hub.sharing.schemas import answer_json, read_request, read_response

bp = Blueprint("sharing", __name__)
api_bp = Blueprint("sharing_api", __name__, url_prefix="/api/v1")

NOT_FOUND = "no such record"


def init_app(app: Flask, csrf: CSRFProtect) -> None:
    csrf.exempt(api_bp)  # bearer tokens, never cookies
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)


# --- pages -----------------------------------------------------------------------------


@bp.route("/contacts/<contact_id>/requests/new", methods=["GET", "POST"])
@requires(Permission.REQUESTS_SEND)
def send(contact_id: str) -> str | BaseResponse:
    form = SendRequestForm()
    if form.validate_on_submit():
        try:
            sent = services.send_request(
                db.session(),
                acting_principal(),
                contact_id,
                form.agency.data or "",
                form.question.data or "",
            )
        except services.RequestConflict as refused:
            form.agency.errors = [str(refused)[:1].upper() + str(refused)[1:]]
        else:
            confirm(
                f"Request sent to {agency_name(sent.agency)} about {sent.contact_reference}",
                "Their answer will appear on the contact under Requests to agencies.",
            )
            return redirect(url_for("casefile.show", contact_id=contact_id) + "#requests")
    reference = services.contact_to_ask_about(db.session(), acting_principal(), contact_id)
    return render_template(
        "sharing/send.html",
        form=form,
        contact_id=contact_id,
        reference=reference,
        title=f"Ask an agency about {reference}",
    )


@bp.route("/requests")
@requires(Permission.REQUESTS_ANSWER)
def inbox() -> str:
    rows = services.inbox(db.session(), acting_principal())
    return render_template("sharing/inbox.html", rows=rows, title="Requests to your agency")


@bp.route("/requests/<request_id>", methods=["GET", "POST"])
@requires(Permission.REQUESTS_ANSWER)
def show(request_id: str) -> str | BaseResponse | tuple[str, int]:
    principal = acting_principal()
    form = AnswerForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            outcome, items = _answer_of(form)
            services.answer_request(db.session(), principal, request_id, outcome, items)
        except services.RequestConflict as refused:
            return render_template(
                "sharing/closed.html", message=str(refused), title="This request is closed"
            ), 409
        except _AskToChoose:
            pass
        except ValueError as bad:
            form.item1_text.errors = [str(bad)[:1].upper() + str(bad)[1:]]
        else:
            confirm(
                "Your answer has been sent to the MASH",
                "The MASH screening team can see it now. The request is closed.",
            )
            return redirect(url_for("sharing.show", request_id=request_id))
    view = services.get_request_for(db.session(), principal, request_id)
    return render_template(
        "sharing/show.html",
        view=view,
        form=form,
        value_hint=VALUE_HINT,
        left=view.due_at - runtime.now(),
        title="Information request",
    )


@bp.route("/requests/<request_id>/correct", methods=["GET", "POST"])
@requires(Permission.REQUESTS_ANSWER)
def correct(request_id: str) -> str | BaseResponse | tuple[str, int]:
    """Correct the agency's answer before the due time; the earlier one is kept."""
    principal = acting_principal()
    form = CorrectionForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            outcome, items = _answer_of(form)
            services.correct_answer(
                db.session(), principal, request_id, outcome, items, form.reason.data or ""
            )
        except services.RequestConflict as refused:
            return render_template(
                "sharing/closed.html",
                message=str(refused),
                title="This answer cannot be corrected",
                not_recorded="Your correction was not recorded.",
            ), 409
        except _AskToChoose:
            pass
        except ValueError as bad:
            form.item1_text.errors = [str(bad)[:1].upper() + str(bad)[1:]]
        else:
            confirm(
                "Your corrected answer has been sent to the MASH",
                "The MASH sees the correction, your reason and the earlier answer. You can "
                "correct it again until the due time.",
            )
            return redirect(url_for("sharing.show", request_id=request_id))
    view = services.get_request_for(db.session(), principal, request_id)
    if view.answer is None or view.status != "answered":
        return render_template(
            "sharing/closed.html",
            message="only an answered request, before its due time, can have its answer corrected",
            title="This answer cannot be corrected",
            not_recorded="Nothing was changed.",
        ), 409
    if len(view.answer.items) > ITEM_SLOTS:
        return render_template(
            "sharing/closed.html",
            message=f"this answer has more than {ITEM_SLOTS} items, more than this page holds: "
            "ask the MASH to note the correction",
            title="This answer cannot be corrected here",
            not_recorded="Nothing was changed.",
        ), 409
    if request.method == "GET":
        form.fill_from(
            view.answer.outcome,
            [
                (item.kind, item.text or "", item.restricted, item.measure)
                for item in view.answer.items
            ],
        )
    return render_template(
        "sharing/correct.html",
        view=view,
        form=form,
        value_hint=VALUE_HINT,
        left=view.due_at - runtime.now(),
        title="Correct your agency's answer",
    )


class _AskToChoose(Exception):
    """The answer says nothing is held while items are typed: the form asks which is meant."""


def _answer_of(form: AnswerForm) -> tuple[str, tuple[services.ItemInput, ...]]:
    """The outcome and items as the researcher gave them; ValueError for a bad item or
    none where information is held, _AskToChoose (the form marked) for items typed with
    nothing held: typed information is never dropped, the researcher chooses (#13 D5)."""
    outcome = form.outcome.data or ""
    items = services.check_items(form.items())
    if outcome == "information_held" and not items:
        raise ValueError("Give at least one item of the information held")
    if outcome != "information_held" and items:
        form.outcome.errors = [_items_typed_message(outcome)]
        raise _AskToChoose
    return outcome, items


def _items_typed_message(outcome: str) -> str:
    said = "not known to us" if outcome == "not_known" else "unable to respond"
    return (
        f'You have typed information but chose "{said.capitalize()}". Choose '
        f'"Information held" to send the items, or clear the items to say {said}'
    )


# --- JSON API --------------------------------------------------------------------------


@api_bp.route("/contacts/<contact_id>/requests", methods=["POST"])
@requires(Permission.API_REQUESTS_CREATE)
def api_send(contact_id: str) -> tuple[Response, int]:
    try:
        agency, question = read_request(json_body())
    except ValidationFailed as failed:
        raise ApiError(422, "the request has problems", fields=failed.fields) from failed
    sent = services.send_request(db.session(), acting_principal(), contact_id, agency, question)
    return jsonify(
        {
            "id": str(sent.id),
            "agency": sent.agency,
            "status": sent.status,
            "due_at": api_time(sent.due_at),
        }
    ), 201


@api_bp.route("/contacts/<contact_id>/contributions")
@requires(Permission.API_CONTRIBUTIONS_READ)
def api_contributions(contact_id: str) -> Response:
    limit, offset = _page_limit()  # api.md: every list pages with cursor and limit
    summaries = services.requests_on_contact(db.session(), acting_principal(), contact_id)
    answered = [
        {**answer_json(s.answer), "request_id": s.id} for s in summaries if s.answer is not None
    ]
    more = offset + limit < len(answered)
    return jsonify(
        {
            "contributions": answered[offset : offset + limit],
            "next_cursor": str(offset + limit) if more else None,
        }
    )


def _page_limit() -> tuple[int, int]:
    api = runtime.settings().api
    return page_limit(request.args, api.page_limit_default, api.page_limit_max)


@api_bp.route("/requests")
@requires(Permission.API_REQUESTS_READ)
def api_inbox() -> Response:
    limit, offset = _page_limit()
    rows = services.inbox(db.session(), acting_principal())
    page = rows[offset : offset + limit]
    more = offset + limit < len(rows)
    return jsonify(
        {
            "requests": [
                {
                    "id": row.id,
                    "contact_reference": row.contact_reference,
                    "status": "open",
                    "contact_rag": row.contact_rag,
                    "requested_at": api_time(row.requested_at),
                    "due_at": api_time(row.due_at),
                }
                for row in page
            ],
            "next_cursor": str(offset + limit) if more else None,
        }
    )


@api_bp.route("/requests/<request_id>")
@requires(Permission.API_REQUESTS_READ)
def api_show(request_id: str) -> Response:
    view = services.get_request_for(db.session(), acting_principal(), request_id)
    return jsonify(
        {
            "id": view.id,
            "contact_reference": view.contact_reference,
            "agency": view.agency,
            "status": view.status,
            "question": view.question,
            "requested_at": api_time(view.requested_at),
            "due_at": api_time(view.due_at),
            "subjects": [subject_json(s) for s in view.subjects],
            "answer": answer_json(view.answer) if view.answer else None,
        }
    )


@api_bp.route("/requests/<request_id>/response", methods=["POST"])
@requires(Permission.API_RESPONSES_WRITE)
def api_answer(request_id: str) -> tuple[Response, int]:
    try:
        outcome, items = read_response(json_body())
    except ValidationFailed as failed:
        raise ApiError(422, "the response has problems", fields=failed.fields) from failed
    answer = services.answer_request(db.session(), acting_principal(), request_id, outcome, items)
    return jsonify(
        {
            "id": str(answer.id),
            "request_id": request_id,
            "agency": answer.agency,
            "outcome": answer.outcome,
            "answered_at": api_time(answer.answered_at),
            "items": len(answer.items),
        }
    ), 201
