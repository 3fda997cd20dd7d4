"""Exports: the JSON API (/api/v1/exports…) and the page (/exports). Thin: parse, call
`fieldapp.services.exports`, commit, answer.

Reads (status, list, download) accept the bearer token *or* the web session cookie, because
the page polls the status and downloads with the browser's cookie. Writes over the API take
the bearer token only; the page requests exports through its own CSRF-protected form."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fieldapp import export_store
from fieldapp.auth import (
    api_user,
    csrf,
    login_required,
    now,
    reader,
    reader_first,
    remote_addr,
    web_user,
)
from fieldapp.blueprints.fast_path import dispatch_committed
from fieldapp.contract import Binary, Contract
from fieldapp.contract.exports import FILTER_FIELDS, ExportList, ExportRequest
from fieldapp.contract.exports import ExportJob as ExportJobAnswer
from fieldapp.db import db
from fieldapp.errors import ApiError
from fieldapp.i18n import language
from fieldapp.models import ExportJob, User
from fieldapp.services import export_sources, exports
from fieldapp.services.errors import DomainError
from fieldapp.services.export_sources import LEVELS, viewer_level
from fieldapp.services.reports import list_categories

api_bp = Blueprint("exports_api", __name__, url_prefix="/api/v1")
csrf.exempt(api_bp)
contract = Contract(api_bp)
web_bp = Blueprint("exports", __name__, url_prefix="/exports")


def _job_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(404, "not_found", _("No such export.")) from None


def _job_json(job: ExportJob) -> dict[str, Any]:
    """The job as the API shows it, with what it holds: its `filters` (the request's, as
    validated) and its `title` (the file's title, e.g. 东港区矛盾纠纷案件清单（已办结）)."""
    data = exports.job_json(
        job,
        status_url=url_for("exports_api.get_export", job_id=job.id),
        download_url=url_for("exports_api.download_export", job_id=job.id),
    )
    params = job.params or {}
    data["filters"] = params.get("filters") or {}
    data["title"] = _title(job)
    return data


def _title(job: ExportJob) -> str:
    """The title the file has (or will have), in the reader's language. Memoised per
    request: the list, polled while an export runs, has many jobs with the same filters."""
    key = (job.requested_by, job.kind, json.dumps(job.params or {}, sort_keys=True))
    titles: dict[tuple[int, str, str], str] = g.setdefault("export_titles", {})
    if key not in titles:
        owner = db.session.get(User, job.requested_by)
        source = export_sources.SOURCES.get(job.kind)
        if owner is None or source is None:
            return job.kind
        params = export_sources.ExportParams.from_json(job.kind, job.format, job.params or {})
        params = replace(params, language=language())
        titles[key] = source.title(export_sources.named(db.session, owner, params))
    return titles[key]


def _request(user: User, body: ExportRequest) -> ExportJob:
    requested = exports.request_export(
        db.session,
        user,
        body,
        now=now(),
        max_active=current_app.config["EXPORT_MAX_ACTIVE"],
        remote_addr=remote_addr(),
    )
    db.session.commit()
    dispatch_committed([requested.outbox_id])
    return requested.job


# --- API ------------------------------------------------------------------------------------

TAGS: Final = ("exports",)
_JOB_ID: Final[dict[str, Any]] = {
    "job_id": ("The export's id.", {"type": "string", "format": "uuid"})
}
_NOT_FOUND: Final = (
    "No such export, or not the caller's (an export is only ever shown to its requester)."
)


def _validation_context() -> dict[str, Any]:
    # The caller first: a request without a token is a 401, not a list of field errors.
    return {"export": exports.export_context(db.session, api_user())}


@contract.post(
    "/exports",
    body=ExportRequest,
    context=_validation_context,
    answers={
        202: (
            "Queued. `Location` is the status URL.",
            ExportJobAnswer,
        )
    },
    errors={
        403: "This kind is not for the caller's role (area tables: coordinators, county and "
        "city staff).",
        409: "Too many unfinished exports (FIELDAPP_EXPORT_MAX_ACTIVE).",
    },
    tags=TAGS,
    operation_id="requestExport",
    summary="Request an export (导出): xlsx/CSV of cases or figures by area, or GeoJSON of areas",
)
def create_export(body: ExportRequest) -> ResponseReturnValue:
    """Validated in full first (nothing is written on a 400), then queued for a worker
    through the transactional outbox. Poll `status_url` for progress; download from
    `download_url` once done. Files expire after `FIELDAPP_EXPORT_TTL_HOURS` (default 24 h).
    Scoped like `GET /reports`: a coordinator's export holds their township only."""
    job = _request(api_user(), body)
    response = jsonify(_job_json(job))
    response.headers["Location"] = url_for("exports_api.get_export", job_id=job.id)
    return response, 202


@contract.get(
    "/exports",
    context=reader_first,
    answers={200: ("The exports.", ExportList)},
    tags=TAGS,
    operation_id="listExports",
    summary="The caller's exports, newest first (the last 50)",
)
def list_exports() -> ResponseReturnValue:
    """Also accepts the web session cookie (the exports page polls with it). Only the
    requester sees an export."""
    user = reader()
    return jsonify({"exports": [_job_json(j) for j in exports.list_jobs(db.session, user)]})


@contract.get(
    "/exports/<job_id>",
    context=reader_first,
    answers={200: ("The export.", ExportJobAnswer)},
    errors={404: _NOT_FOUND},
    path_params=_JOB_ID,
    tags=TAGS,
    operation_id="getExport",
    summary="An export's status and progress (rows done of rows total)",
)
def get_export(job_id: str) -> ResponseReturnValue:
    """Also accepts the web session cookie (the exports page polls with it). Only the
    requester sees an export; anyone else gets 404."""
    user = reader()
    return jsonify(_job_json(exports.get_job(db.session, user, _job_id(job_id))))


@contract.get(
    "/exports/<job_id>/download",
    context=reader_first,
    answers={
        200: (
            "The file.",
            Binary(
                (
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "text/csv",
                    "application/geo+json",
                ),
                headers={
                    "Content-Disposition": {
                        "description": "attachment with the file name.",
                        "schema": {"type": "string"},
                    }
                },
            ),
        )
    },
    errors={
        404: _NOT_FOUND,
        409: "Not finished yet, or failed.",
        410: "Expired: the file was deleted. Request the export again.",
    },
    path_params=_JOB_ID,
    tags=TAGS,
    operation_id="downloadExport",
    summary="The finished file, as an attachment with its Chinese name",
)
def download_export(job_id: str) -> ResponseReturnValue:
    """Also accepts the web session cookie. `Content-Disposition` carries the name as
    RFC 5987 `filename*=UTF-8''…` with an ASCII `filename=` fallback. xlsx: title, 填报单位
    and period lines, frozen header row, 序号 and 合计. CSV: UTF-8 with a byte order mark (so
    Excel reads the Chinese). Times in China time, written 2026-11-26 09:30."""
    user = reader()
    found = exports.download(
        db.session,
        user,
        _job_id(job_id),
        Path(current_app.config["EXPORT_DIR"]),
        now=now(),
        remote_addr=remote_addr(),
    )
    db.session.commit()  # the audit record of the download
    # Werkzeug writes the Chinese name as RFC 5987 `filename*=UTF-8''…` beside an ASCII
    # `filename=` fallback for old clients.
    if found.job_id is not None:  # in the database: any web node serves it
        response = send_file(
            io.BufferedReader(
                export_store.ChunkReader(export_store.session_opener(current_app), found.job_id),
                export_store.CHUNK_BYTES,
            ),
            mimetype=found.mimetype,
            as_attachment=True,
            download_name=found.file_name,
            max_age=0,
            etag=False,
        )
        response.content_length = found.size or 0
    else:
        response = send_file(
            found.path,
            mimetype=found.mimetype,
            as_attachment=True,
            download_name=found.file_name,
            max_age=0,
        )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- the page -------------------------------------------------------------------------------


PREFILL_FIELDS = ("kind", "format", "level", *FILTER_FIELDS)


def _kinds(user: User) -> list[tuple[str, str]]:
    kinds = [("cases", _("Case list"))]
    if user.role in ("coordinator", "county", "city", "admin"):
        kinds += [
            ("kpis", _("Figures by area")),
            ("assessment", _("Assessment table (KPIs and ranks)")),
            ("areas_geojson", _("Areas with figures (GeoJSON map data)")),
        ]
    return kinds


@web_bp.get("/")
@login_required
def page() -> ResponseReturnValue:
    """The user's exports with their progress, and a form to request one."""
    user = web_user()
    assert user is not None  # login_required
    jobs = [_job_json(j) for j in exports.list_jobs(db.session, user)]
    # A link from a case list (/cases) fills the form with that list's filters.
    prefill = {name: request.args.get(name, "").strip() for name in PREFILL_FIELDS}
    # The list's yes/no filters and "open" are not on the form: say they will apply.
    prefill_text = export_sources.filter_text(
        db.session,
        export_sources.ExportParams(
            kind="cases",
            format="xlsx",
            language=language(),
            status=prefill["status"] or None,
            overdue=bool(prefill["overdue"]),
            key=bool(prefill["key"]),
        ),
    ).strip(" ()（）")
    return render_template(
        "exports/index.html",
        jobs=jobs,
        prefill=prefill,
        kinds=_kinds(user),
        kind_labels=dict(_kinds(user)),
        prefill_text=prefill_text,
        levels=LEVELS[LEVELS.index(viewer_level(user)) :],
        categories=list_categories(db.session, language()),
        list_url=url_for("exports_api.list_exports"),
        labels={
            "queued": _("Queued"),
            "running": _("Running"),
            "done": _("Done"),
            "failed": _("Failed"),
            "expired": _("Expired"),
            "download": _("Download"),
        },
    )


@web_bp.post("/")
@login_required
def request_from_page() -> ResponseReturnValue:
    user = web_user()
    assert user is not None  # login_required
    form = request.form
    kind = form.get("kind", "")
    fmt = form.get("format", "")
    if kind == "areas_geojson":
        fmt = "geojson"
    body: dict[str, Any] = {"kind": kind, "format": fmt, "language": language()}
    if kind in ("kpis", "assessment", "areas_geojson"):
        body["level"] = form.get("level") or None
    body["filters"] = {
        name: form.get(name, "").strip() for name in FILTER_FIELDS if form.get(name, "").strip()
    }
    # The page's yes/no filters (hidden fields filled from a case list) are JSON booleans.
    for flag in ("overdue", "key"):
        if flag in body["filters"]:
            body["filters"][flag] = body["filters"][flag] in ("1", "true", "on")
    try:
        _request(user, exports.read_request(db.session, user, body))
        flash(_("Export requested. It is listed below; download it when it is done."))
    except DomainError as err:
        db.session.rollback()
        details = "; ".join(f"{k}: {v}" for k, v in err.fields.items())
        flash(f"{err.message} {details}".strip(), "error")
    return redirect(url_for("exports.page"))
