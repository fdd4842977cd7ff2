"""A person's own messages: what the hub told their agency and roles, with how the email
to them stands, and their choice of which kinds also come by email."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers.response import Response as BaseResponse

from mash_hub import db
from mash_hub.authz import Permission, acting_principal, requires
from mash_hub.http.confirm import confirm
from mash_hub.notifications import services
from mash_hub.notifications.forms import EmailChoicesForm

bp = Blueprint("notifications", __name__)

UNKNOWN_KIND = "Choose only from the messages listed"
MAILBOX_TOO = (
    "The shared MASH mailbox of the agency asked still receives these, whatever you choose."
)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _page_number() -> int:
    typed = request.args.get("page", "1")
    return int(typed) if typed.isdigit() and len(typed) <= 6 else 1


def _pagination(page: int, pages: int) -> dict[str, Any] | None:
    """GOV.UK pagination: the first and last pages, this one and its neighbours."""
    if pages <= 1:
        return None

    def href(number: int) -> str:
        return url_for("notifications.messages", page=number)

    items: list[dict[str, Any]] = []
    for number in range(1, pages + 1):
        if number in (1, pages) or abs(number - page) <= 1:
            items.append({"number": number, "href": href(number), "current": number == page})
        elif items and not items[-1].get("ellipsis"):
            items.append({"ellipsis": True})
    return {
        "items": items,
        "previous": {"href": href(page - 1)} if page > 1 else None,
        "next": {"href": href(page + 1)} if page < pages else None,
        "landmarkLabel": "Pages of your messages",
    }


@bp.route("/account/messages")
@requires(Permission.HOME_VIEW)
def messages() -> str:
    found = services.messages_for(
        db.session(), acting_principal(), current_user.email, _page_number()
    )
    return render_template(
        "notifications/messages.html",
        title="Your messages",
        found=found,
        pagination=_pagination(found.page, found.pages),
    )


@bp.route("/account/messages/email", methods=["GET", "POST"])
@requires(Permission.HOME_VIEW)
def email_choices() -> BaseResponse | str:
    principal = acting_principal()
    choices = services.email_choices(db.session(), principal)
    form = EmailChoicesForm()
    form.kinds.choices = [(choice.kind, choice.subject) for choice in choices]
    if form.validate_on_submit():
        try:
            services.save_email_choices(db.session(), principal, form.kinds.data or [])
        except services.UnknownKind:
            form.kinds.errors = [UNKNOWN_KIND]
        else:
            confirm(
                "Your email choices are saved",
                "You still see every message in the hub, under Your messages.",
            )
            return redirect(url_for("notifications.email_choices"))
    elif request.method == "GET":
        form.kinds.data = [choice.kind for choice in choices if choice.email]
    hints = [
        {
            "hint": {
                "text": f"{choice.summary}. {MAILBOX_TOO}"
                if choice.also_to_mailbox
                else f"{choice.summary}."
            }
        }
        for choice in choices
    ]
    return render_template(
        "notifications/email_choices.html",
        title="Choose your emails",
        form=form,
        choices=choices,
        hints=hints,
    )
