"""Statistics in the JSON API: live roll-ups (/rollups), the KPI assessment table (/kpis),
key backlog cases (/cases/{id}/key) and their campaign view (/campaign). Thin: the contract
(`fieldapp.contract.stats`) parses, `fieldapp.services.stats` decides, the view answers.

Reads accept the bearer token *or* the signed session cookie (the dashboards fetch them from
the browser; `fieldapp.auth.reader`); they change nothing, so the cookie needs no CSRF token.
Writes take the bearer token only: a cross-site page can make a browser send its cookie,
never a token."""

from __future__ import annotations

import uuid
from typing import Any, Final

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fieldapp.auth import api_user, csrf, now, reader, reader_first, remote_addr
from fieldapp.contract import Contract
from fieldapp.contract.stats import (
    Campaign,
    CampaignQuery,
    KeyCase,
    KeyCaseInput,
    KpiQuery,
    KpiTable,
    Rollup,
    RollupQuery,
)
from fieldapp.db import db
from fieldapp.errors import ApiError
from fieldapp.services import stats
from fieldapp.services.rollups import RollupFilters

bp = Blueprint("stats_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)
contract = Contract(bp)

TAGS: Final = ("statistics",)
_READ_ERRORS: Final = {
    403: "Statistics are for coordinators, county and city staff; or `within` is outside "
    "your area.",
}
_CASE_ID: Final[dict[str, Any]] = {
    "report_id": ("The case (report) id.", {"type": "string", "format": "uuid"})
}
_KEY_ERRORS: Final = {
    403: "Not the case's coordinator, county staff or city staff.",
    404: "No such report (or not yours to see).",
    409: "A merged or rejected report cannot be a key case.",
}


@contract.get(
    "/rollups",
    query=RollupQuery,
    context=reader_first,
    answers={200: ("The counts.", Rollup)},
    errors=_READ_ERRORS,
    tags=TAGS,
    operation_id="rollups",
    summary="Live report counts per area (分级统计), by category, severity, status or period",
)
def rollups(query: RollupQuery) -> ResponseReturnValue:
    """Counts straight from the reports table (fresh after every write). Dates are China-time
    days, both ends included. Accepts the bearer token or the web session cookie (dashboards
    in the browser). Coordinators see their township, county staff their county, city staff
    everything; officers and department handlers get 403."""
    user = reader()
    filters = RollupFilters(
        date_from=query.date_from,
        date_to=query.date_to,
        categories=query.categories,
        severities=query.severities,
        statuses=query.statuses,
    )
    stats.check_reader(user)
    stats.validate_filters(db.read_session, filters)
    return jsonify(
        stats.rollup(
            db.read_session,
            user,
            level=query.level,
            within_code=query.within,
            filters=filters,
            by=query.by,
            bucket=query.bucket,
        )
    )


@contract.get(
    "/kpis",
    query=KpiQuery,
    context=reader_first,
    answers={200: ("The table.", KpiTable)},
    errors=_READ_ERRORS,
    tags=TAGS,
    operation_id="kpis",
    summary="KPI assessment table (考评排名) of townships or counties for a period, with the "
    "previous period and the changes",
)
def kpis(query: KpiQuery) -> ResponseReturnValue:
    """Definitions: docs/kpis.md and the `kpis` list in the answer. Give `period` (month
    2026-10, quarter 2026-Q3, year 2026) or `from` and `to` (a custom range; the previous
    period is the same number of days before). Same readers as /rollups."""
    user = reader()
    return jsonify(
        stats.kpi_table(
            db.read_session,
            user,
            level=query.level,
            within_code=query.within,
            period=query.as_period(),
            now=now(),
            cache_seconds=current_app.config["KPI_CACHE_SECONDS"],
        )
    )


@contract.get(
    "/campaign",
    query=CampaignQuery,
    context=reader_first,
    answers={200: ("The campaign.", Campaign)},
    errors=_READ_ERRORS,
    tags=TAGS,
    operation_id="keyCaseCampaign",
    summary="Key backlog case campaign (重点积案): N assigned, M% resolved, overdue, the cases",
)
def campaign(query: CampaignQuery) -> ResponseReturnValue:
    """Resolved = closed with outcome resolved (化解); overdue = still open after its target
    date. Same readers as /rollups."""
    user = reader()
    return jsonify(stats.campaign(db.read_session, user, within_code=query.within, now=now()))


def _case_id(report_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(report_id)
    except ValueError:
        raise ApiError(404, "not_found", _("No such report.")) from None


@contract.route(
    "PUT",
    "/cases/<report_id>/key",
    body=KeyCaseInput,
    answers={200: ("The key case.", KeyCase)},
    errors=_KEY_ERRORS,
    path_params=_CASE_ID,
    tags=TAGS,
    operation_id="setKeyCase",
    summary="Make a case a key backlog case (重点积案), or change its leader (包案领导) and "
    "target date",
)
def set_key_case(report_id: str, body: KeyCaseInput) -> ResponseReturnValue:
    """For the coordinators of its township, the staff of its county and city staff. Recorded
    as a case event (`key_case`) and in the audit log; the case's status and version do not
    change. Bearer token only."""
    user = api_user()
    result = stats.set_key_case(
        db.session, user, _case_id(report_id), body, now=now(), remote_addr=remote_addr()
    )
    db.session.commit()
    return jsonify(result)


@contract.delete(
    "/cases/<report_id>/key",
    answers={200: ("The case, no longer key.", KeyCase)},
    errors={**_KEY_ERRORS, 409: "This case is not a key case."},
    path_params=_CASE_ID,
    tags=TAGS,
    operation_id="clearKeyCase",
    summary="Take a case off the key backlog list",
)
def clear_key_case(report_id: str) -> ResponseReturnValue:
    """Same people as setting it; recorded as `key_case_cleared`. Bearer token only."""
    user = api_user()
    result = stats.clear_key_case(
        db.session, user, _case_id(report_id), now=now(), remote_addr=remote_addr()
    )
    db.session.commit()
    return jsonify(result)
