"""City, county and township dashboards (/dashboard) and the cases behind every figure
(/cases). Thin: parse, call `fieldapp.services.dashboard` / `case_list`, render.

The dashboard page carries its area, period and labels as JSON; its script
(static/dashboard/dashboard.js) fetches the figures from /api/v1/rollups, /kpis and /campaign
with the session cookie and draws them with the vendored ECharts. Every figure links to
/cases with the same filters, and the case list counts with the roll-ups' own clauses, so the
total there equals the figure. Drill-down is a plain link: /dashboard?area=<code>&period=…"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Final
from urllib.parse import urlencode

from flask import Blueprint, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date
from flask_babel import gettext as _

from fieldapp.auth import login_required, now, web_user
from fieldapp.db import db
from fieldapp.domain import SEVERITY_COLOURS
from fieldapp.i18n import language, language_tag
from fieldapp.labels import (
    AREA_LEVEL_LABELS,
    OUTCOME_LABELS,
    SATISFACTION_LABELS,
    SEVERITY_LABELS,
    STATE_LABELS,
)
from fieldapp.models import Area, User
from fieldapp.services import case_list, dashboard, export_sources, silent
from fieldapp.services.errors import DomainError
from fieldapp.services.reports import list_categories
from fieldapp.stats import china_day

bp = Blueprint("dashboard", __name__)

ECHARTS: Final = "vendor/echarts/6.1.0/echarts.min.js"


def _user() -> User:
    user = web_user()
    assert user is not None  # login_required
    return user


def _error(err: DomainError) -> ResponseReturnValue:
    db.session.rollback()
    return render_template("dashboard/error.html", error=err), err.status


def _day_text(day: date) -> str:
    """2026年11月26日 in Chinese, 26 Nov 2026 in English."""
    return str(format_date(day, "yyyy年M月d日" if language() == "zh" else "d MMM yyyy"))


def period_text(value: str, first: date | None = None, last: date | None = None) -> str:
    """A period as people write it: 2026年11月, 2026年第4季度, 2026年; English otherwise."""
    zh = language() == "zh"
    if value == "range" and first and last:
        return f"{_day_text(first)} – {_day_text(last)}"
    if "-Q" in value:
        year, quarter = value.split("-Q")
        return f"{year}年第{quarter}季度" if zh else f"Q{quarter} {year}"
    if "-" in value:
        year, month = value.split("-")
        day = date(int(year), int(month), 1)
        return str(format_date(day, "yyyy年M月" if zh else "MMM yyyy"))
    return f"{value}年" if zh else value


def _labels() -> dict[str, Any]:
    """Every string the page script shows, in the request's language."""
    return {
        "reports": _("Reports"),
        "open": _("Open"),
        "overdue_period": _("Overdue among this period's reports"),
        "overdue_period_help": _(
            "Reports filed in this period that are still open and past their deadline now."
        ),
        "overdue_now": _("Open and overdue now (any period)"),
        "overdue_now_help": _(
            "Every open case in this area past its deadline now, whenever it was filed: "
            "the same cases as the overdue list."
        ),
        "closed": _("Closed"),
        "resolution": _("Resolution rate"),
        "acceptance_on_time": _("Accepted on time"),
        "closed_on_time": _("Closed on time"),
        "satisfaction": _("Satisfaction"),
        "checkin_compliance": _("Zero-report compliance"),
        "score": _("Score"),
        "no_data": _("No data"),
        "no_data_help": _("No report filed in this period: not scored and not ranked."),
        "rank": _("Rank"),
        "rank_change": _("Change"),
        "area": _("Area"),
        "code": _("Code"),
        "no_kpis": _(
            "KPIs are assessed for townships and counties; "
            "below a township only the counts are shown."
        ),
        "trend": _("Reports over time"),
        "categories": _("Reports by category"),
        "severity": _("By severity"),
        "status": _("By status"),
        "campaign": _("Key backlog cases"),
        "campaign_text": _("%(n)s assigned, %(pct)s resolved"),
        "campaign_none": _("No key backlog cases"),
        "fraction": _("%(num)s of %(den)s"),
        "load_failed": _("The figures could not be loaded. Check the connection and try again."),
        "previous": _("Previous period"),
        "severities": {k: str(v) for k, v in SEVERITY_LABELS.items()},
        "statuses": {k: str(v) for k, v in STATE_LABELS.items()},
        "levels": {k: str(v) for k, v in AREA_LEVEL_LABELS.items()},
    }


@bp.get("/dashboard")
@login_required
def page() -> ResponseReturnValue:
    """The dashboard of one area for one period (default: the reader's area, this month)."""
    user = _user()
    session = db.read_session  # figures: the replica when configured
    current = now()
    try:
        dashboard.check_reader(user)
        period = dashboard.parse_period_args(request.args, china_day(current))
        area = dashboard.resolve_area(session, user, request.args.get("area") or None)
        overdue = dashboard.overdue_count(session, user, area.code, period, now=current)
        overdue_now = dashboard.overdue_now_count(session, user, area.code, now=current)
        silent_count = _silent_count(user, area.level)
    except DomainError as err:
        return _error(err)
    period_data = dashboard.period_json(period)
    period_args = (
        {"period": period.label}
        if period.kind != "range"
        else {"from": period_data["from"], "to": period_data["to"]}
    )
    categories = list_categories(session, language())
    config: dict[str, Any] = {
        "language": language(),
        "locale": language_tag(),
        "area": {"code": area.code, "name": area.name, "level": area.level},
        "child_level": area.child_level,
        "headline_kpi_level": area.headline_kpi_level,
        "table_kpi_level": area.table_kpi_level,
        "campaign": area.campaign,
        "period": period_data,
        "period_args": period_args,
        "today": china_day(current).isoformat(),
        "overdue": overdue,
        "overdue_now": overdue_now,
        "open_states": list(case_list.OPEN_STATUS_VALUES),
        "severity_colours": SEVERITY_COLOURS,
        "urls": {
            "rollups": url_for("stats_api.rollups"),
            "kpis": url_for("stats_api.kpis"),
            "campaign": url_for("stats_api.campaign"),
            "cases": url_for("dashboard.cases"),
            "dashboard": url_for("dashboard.page"),
        },
        "labels": _labels(),
        "categories": {c["code"]: c["name"] for c in categories},
    }
    return render_template(
        "dashboard/page.html",
        area=area,
        period=period_data,
        period_args=period_args,
        options=[
            {**o, "text": period_text(o["value"])}
            for o in dashboard.period_options(china_day(current))
        ],
        period_title=period_text(
            period_data["value"], period.start, period.end - timedelta(days=1)
        ),
        config=config,
        level_labels=AREA_LEVEL_LABELS,
        echarts=ECHARTS,
        silent_count=silent_count,
        silent_days=current_app.config["SILENT_DAYS"],
    )


def _silent_count(user: User, level: str) -> int | None:
    """How many officers are silent in the reader's own area (None below it: the silent
    page lists the reader's area, so a drilled-down dashboard does not repeat the figure)."""
    if user.role not in silent.SILENT_ROLES:
        return None
    if user.area_id is not None:
        own = db.session.get(Area, user.area_id)
        if own is None or own.level != level:
            return None
    elif level != "city":
        return None
    days = current_app.config["SILENT_DAYS"]
    return len(silent.silent_officers(db.session, user, now=now(), days=days).officers)


@bp.get("/triage/silent")
@login_required
def silent_cells() -> ResponseReturnValue:
    """Silent officers and cells: no check-in and no report for SILENT_DAYS whole days, in the
    reader's township (coordinators), county or city."""
    user = _user()
    try:
        summary = silent.silent_officers(
            db.session, user, now=now(), days=current_app.config["SILENT_DAYS"]
        )
    except DomainError as err:
        return _error(err)
    return render_template(
        "dashboard/silent.html",
        summary=summary,
        day_text=_day_text,
    )


@bp.get("/cases")
@login_required
def cases() -> ResponseReturnValue:
    """The cases behind a figure: scoped to the reader, filtered like the roll-ups, paged."""
    user = _user()
    session = db.session
    try:
        dashboard.check_reader(user)
        filters = case_list.parse_case_filters(request.args)
        result = case_list.list_cases(session, user, filters, now=now())
        area = dashboard.resolve_area(session, user, filters.within)
    except DomainError as err:
        return _error(err)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    category_names = {c["code"]: c["name"] for c in list_categories(session, language())}

    def page_url(number: int) -> str:
        return f"{request.path}?{urlencode({**args, 'page': number})}"

    back: dict[str, str] = {"area": area.code}
    if filters.date_from and filters.date_to:
        back.update({"from": filters.date_from.isoformat(), "to": filters.date_to.isoformat()})
    when = ""
    if filters.date_from or filters.date_to:
        when = " – ".join(_day_text(d) if d else "…" for d in (filters.date_from, filters.date_to))
    chips = _chips(filters, category_names)
    return render_template(
        "dashboard/cases.html",
        export_url=_export_url(filters, area.code),
        result=result,
        area=area,
        filters=filters,
        chips=chips,
        when=when,
        page_url=page_url,
        dashboard_url=f"{url_for('dashboard.page')}?{urlencode(back)}",
        status_labels=STATE_LABELS,
        severity_labels=SEVERITY_LABELS,
    )


def _export_url(filters: case_list.CaseFilters, area_code: str) -> str | None:
    """The exports page filled with this list's filters, when an export can hold exactly
    these cases: one category and severity at most, one status or all the open ones
    (办理中), overdue (已超期) and key cases (重点积案) included; no outcome or rating filter.
    None otherwise, so no link promises a different list."""
    statuses = set(filters.statuses)
    if statuses == set(case_list.OPEN_STATUS_VALUES):
        status = export_sources.OPEN_STATUS
    elif len(statuses) <= 1:
        status = filters.statuses[0] if filters.statuses else ""
    else:
        return None
    if (
        len(filters.categories) > 1
        or len(filters.severities) > 1
        or filters.outcomes
        or filters.satisfactions
        or filters.cells
    ):
        return None
    args = {
        "kind": "cases",
        "area": area_code,
        "from": filters.date_from.isoformat() if filters.date_from else "",
        "to": filters.date_to.isoformat() if filters.date_to else "",
        "category": filters.categories[0] if filters.categories else "",
        "severity": filters.severities[0] if filters.severities else "",
        "status": status,
        "overdue": "1" if filters.overdue else "",
        "key": "1" if filters.key else "",
    }
    return f"{url_for('exports.page')}?{urlencode({k: v for k, v in args.items() if v})}"


def _chips(filters: case_list.CaseFilters, category_names: dict[str, str]) -> list[str]:
    """The filters in words, for the heading of the list."""
    chips: list[str] = []
    if filters.cells:
        chips.append(_("%(n)d grid cells", n=len(filters.cells)))
    if filters.categories:
        chips.append(", ".join(category_names.get(c, c) for c in filters.categories))
    if filters.severities:
        chips.append(", ".join(str(SEVERITY_LABELS.get(s, s)) for s in filters.severities))
    if filters.statuses:
        if set(filters.statuses) == set(case_list.OPEN_STATUS_VALUES):
            chips.append(_("Open"))
        else:
            chips.append(", ".join(str(STATE_LABELS.get(s, s)) for s in filters.statuses))
    if filters.outcomes:
        chips.append(", ".join(str(OUTCOME_LABELS.get(s, s)) for s in filters.outcomes))
    if filters.satisfactions:
        chips.append(", ".join(str(SATISFACTION_LABELS.get(s, s)) for s in filters.satisfactions))
    if filters.overdue:
        chips.append(_("Overdue"))
    if filters.key:
        chips.append(_("Key backlog cases"))
    return chips
