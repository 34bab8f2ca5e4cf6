"""The supervisor's statistics: dashboard with inline SVG charts, CSV exports, refresh."""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Callable
from typing import Any

from flask import Response as FlaskResponse
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ...accounts.permissions import Permission, require
from ...extensions import db
from ...jobs import enqueue
from ...tips.regions import regions
from ..forms import ButtonForm
from ..stats import StatsFilter, dashboard
from ..stats.charts import bar_chart
from . import bp
from .labels import district, label

AXIS_LABEL = {"outcomes": "outcome", "measures": "measure"}


def _labeller(name: str) -> Callable[[Any], str]:
    """How the first column of a table is shown (memoised for one page)."""
    if name.endswith("_by_category"):
        base: Callable[[Any], str] = lambda v: label("category", v)  # noqa: E731
    elif name.endswith("_by_district"):
        base = district
    elif name in AXIS_LABEL:
        kind = AXIS_LABEL[name]
        base = lambda v: label(kind, v)  # noqa: E731
    else:
        return lambda v: "" if v is None else str(v)
    return functools.lru_cache(maxsize=256)(base)


def render_dashboard(filters: StatsFilter) -> str:
    """The statistics page: data, labels resolved once, inline SVG charts, rendered."""
    data = dashboard(filters)
    display: dict[str, list[list[str]]] = {}
    charts = {}
    for name, table in data.tables.items():
        show = _labeller(name)
        display[name] = [[show(row[0]), *("—" if v is None else str(v) for v in row[1:])]
                         for row in table.rows]
        if table.chart:
            charts[name] = bar_chart([(r[0], r[1]) for r in display[name]], str(table.title))
    districts = [(p.code, district(p.code)) for p in regions().districts]
    return render_template("cases/stats.html", d=data, display=display, charts=charts,
                           districts=districts, button=ButtonForm())


@bp.get("/stats")
@require(Permission.STATS_READ)
def stats() -> str:
    """Tips, cases, timeliness, outcomes and rewards from clear metadata only."""
    return render_dashboard(StatsFilter.parse(request.args))


@bp.get("/stats/<string:name>.csv")
@require(Permission.STATS_READ)
def stats_csv(name: str) -> FlaskResponse:
    """One dashboard table as CSV (same filters as the page)."""
    data = dashboard(StatsFilter.parse(request.args))
    table = data.tables.get(name)
    if table is None:
        abort(404)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([str(c) for c in table.columns])
    for row in table.rows:
        writer.writerow(["" if v is None else str(v) for v in row])
    resp = FlaskResponse(out.getvalue(), mimetype="text/csv; charset=utf-8")
    resp.headers["Content-Disposition"] = f"attachment; filename={name}.csv"
    return resp


@bp.post("/stats/refresh")
@require(Permission.STATS_READ)
def stats_refresh() -> Response:
    """Rebuild the roll-up now (a job; inline without Redis)."""
    if ButtonForm().validate_on_submit():
        enqueue("cases.stats_refresh_now")
        db.session.commit()
        flash(_("The statistics are being recalculated."), "success")
    query = request.query_string.decode()
    target = url_for("cases.stats") + (f"?{query}" if query else "")
    return redirect(target, 303)
