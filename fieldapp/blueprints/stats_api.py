"""Statistics in the JSON API: live roll-ups (/rollups), the KPI assessment table (/kpis),
key backlog cases (/cases/{id}/key) and their campaign view (/campaign). Thin: parse, call
`fieldapp.services.stats`, commit, answer.

Reads accept the bearer token *or* the signed session cookie (the dashboards fetch them from
the browser); they change nothing, so the cookie needs no CSRF token. Writes take the bearer
token only: a cross-site page can make a browser send its cookie, never a token."""

from __future__ import annotations

import uuid
from datetime import date

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fieldapp.auth import api_user, csrf, now, remote_addr
from fieldapp.blueprints import params
from fieldapp.blueprints.layers import request_user
from fieldapp.db import db
from fieldapp.errors import ApiError
from fieldapp.services import stats
from fieldapp.services.rollups import RollupFilters
from fieldapp.stats import (
    BREAKDOWNS,
    BUCKETS,
    KPI_LEVELS,
    LEVELS,
    parse_period,
    range_period,
    split_list,
)

bp = Blueprint("stats_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def _invalid(field: str, message: str) -> ApiError:
    return params.invalid(_("Check the parameters."), field, message)


def _choice(name: str, allowed: tuple[str, ...], default: str | None) -> str | None:
    if default is None and not request.args.get(name):
        return None
    return params.choice(request.args, name, allowed, default or "", _("Check the parameters."))


def _window() -> tuple[date | None, date | None]:
    return params.date_window(request.args, _("Check the parameters."))


def _within() -> str | None:
    value = (request.args.get("within") or "").strip()
    if len(value) > 32:
        raise _invalid("within", _("No area or cell has this code."))
    return value or None


@bp.get("/rollups")
def rollups() -> ResponseReturnValue:
    user = request_user()
    level = _choice("level", LEVELS, "township")
    by = _choice("by", BREAKDOWNS, None)
    bucket = _choice("bucket", BUCKETS, "day")
    assert level is not None and bucket is not None
    first, last = _window()
    if by == "period" and (first is None or last is None):
        raise _invalid(
            "from" if first is None else "to", _("Required when breaking down by period.")
        )
    filters = RollupFilters(
        date_from=first,
        date_to=last,
        categories=split_list(request.args.get("category")),
        severities=split_list(request.args.get("severity")),
        statuses=split_list(request.args.get("status")),
    )
    stats.check_reader(user)
    stats.validate_filters(db.read_session, filters)
    return jsonify(
        stats.rollup(
            db.read_session,
            user,
            level=level,
            within_code=_within(),
            filters=filters,
            by=by,
            bucket=bucket,
        )
    )


@bp.get("/kpis")
def kpis() -> ResponseReturnValue:
    user = request_user()
    level = _choice("level", KPI_LEVELS, "township")
    assert level is not None
    raw = request.args.get("period")
    first, last = _window()
    if raw:
        try:
            period = parse_period(raw)
        except ValueError:
            raise _invalid(
                "period", _("A month, quarter or year: 2026-10, 2026-Q3 or 2026.")
            ) from None
    elif first is not None and last is not None:
        period = range_period(first, last)
    else:
        raise _invalid(
            "period",
            _("Required: a month, quarter or year (2026-10, 2026-Q3, 2026), or from and to."),
        )
    return jsonify(
        stats.kpi_table(
            db.read_session,
            user,
            level=level,
            within_code=_within(),
            period=period,
            now=now(),
            cache_seconds=current_app.config["KPI_CACHE_SECONDS"],
        )
    )


@bp.get("/campaign")
def campaign() -> ResponseReturnValue:
    user = request_user()
    return jsonify(stats.campaign(db.read_session, user, within_code=_within(), now=now()))


def _case_id(report_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(report_id)
    except ValueError:
        raise ApiError(404, "not_found", _("No such report.")) from None


@bp.put("/cases/<report_id>/key")
def set_key_case(report_id: str) -> ResponseReturnValue:
    user = api_user()
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(
            400, "invalid_json", _("The body must be JSON (Content-Type: application/json).")
        )
    result = stats.set_key_case(
        db.session, user, _case_id(report_id), body, now=now(), remote_addr=remote_addr()
    )
    db.session.commit()
    return jsonify(result)


@bp.delete("/cases/<report_id>/key")
def clear_key_case(report_id: str) -> ResponseReturnValue:
    user = api_user()
    result = stats.clear_key_case(
        db.session, user, _case_id(report_id), now=now(), remote_addr=remote_addr()
    )
    db.session.commit()
    return jsonify(result)
