"""The reports page and its CSV: parse the range, ask the service, render."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, render_template, request

from mash_hub import db, runtime, uktime
from mash_hub.authz import Permission, acting_principal, requires
from mash_hub.reports import charts, services
from mash_hub.reports.forms import ReportForm

bp = Blueprint("reports", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _chosen() -> tuple[ReportForm, services.Window | None]:
    """The form, and the window it names; the default window when nothing is chosen, and
    None when what was typed is wrong."""
    if not request.args:
        form = ReportForm(formdata=None)
        window = services.default_window(uktime.uk(runtime.now()).date())
        form.fill(window)
        return form, window
    form = ReportForm(formdata=request.args)
    return form, (form.window if form.validate() else None)


@bp.route("/reports")
@requires(Permission.REPORTS_VIEW)
def index() -> tuple[str, int]:
    form, window = _chosen()
    principal = acting_principal()
    if window is None:
        # Refused or not, a look at the page is decided and audited.
        services.open_reports(principal)
        return render_template("reports/index.html", title=TITLE, form=form, reports=None), 400
    reports = services.run(db.session(), principal, window)
    return render_template(
        "reports/index.html",
        title=TITLE,
        form=form,
        window=window,
        reports=[(report, charts.bars(report.chart, report.key)) for report in reports],
        csv_args=request.args.to_dict() if request.args else _window_args(window),
    ), 200


@bp.route("/reports.csv")
@requires(Permission.REPORTS_VIEW)
def export() -> Response | tuple[str, int]:
    form, window = _chosen()
    if window is None:
        services.open_reports(acting_principal())
        return render_template("reports/index.html", title=TITLE, form=form, reports=None), 400
    name, text = services.export(db.session(), acting_principal(), window)
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _window_args(window: services.Window) -> dict[str, str]:
    return {
        "period": window.period,
        "from_day": str(window.first.day),
        "from_month": str(window.first.month),
        "from_year": str(window.first.year),
        "to_day": str(window.last.day),
        "to_month": str(window.last.month),
        "to_year": str(window.last.year),
    }


TITLE = "The MASH's performance"
