"""Administration pages, /admin/…: the landing page, settings without a deploy (categories,
the deadline policy, the group-incident threshold, the business-day calendar) and the audit
log viewer (issue #17 items 4 and 5).

Settings pages are for the admin role only; the audit log is for admins and city staff
(read-only: the page has no forms that write). Thin: parse, call
`fieldapp.services.settings` / `fieldapp.services.audit`, commit, answer. Bad input answers
400 with the page again and a message at each bad field; nothing is written."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fieldapp.auth import login_required, remote_addr, web_user
from fieldapp.db import db
from fieldapp.deadlines import STEPS, DeadlinePolicy
from fieldapp.domain import CHINA_TZ, SEVERITIES
from fieldapp.export_writers import Column, SheetTitle, write_csv, write_xlsx
from fieldapp.models import User
from fieldapp.services import audit, settings
from fieldapp.services.errors import DomainError, InvalidInput

bp = Blueprint("admin", __name__, url_prefix="/admin")

ADMIN_ROLES = frozenset({"admin"})

F = TypeVar("F", bound=Callable[..., Any])


def roles_required(roles: frozenset[str]) -> Callable[[F], F]:
    """Signed in (else the sign-in page) and one of `roles` (else 403 with a page that says
    who may)."""

    def decorate(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = web_user()
            assert user is not None
            if user.role not in roles:
                return render_template("admin/forbidden.html"), 403
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def _me() -> User:
    user = web_user()
    assert user is not None  # roles_required ran first
    return user


def _saved(message: str, endpoint: str, **values: Any) -> ResponseReturnValue:
    """Commit, tell this process its settings cache is stale, and go back to the page."""
    db.session.commit()
    settings.changed()
    flash(message, "ok")
    return redirect(url_for(endpoint, **values))


def _policy() -> DeadlinePolicy:
    policy: DeadlinePolicy = current_app.config["DEADLINE_POLICY"]
    return policy


def _threshold() -> int:
    return int(current_app.config["GROUP_INCIDENT_THRESHOLD"])


# --- landing ---------------------------------------------------------------------------------


@bp.get("/")
@roles_required(ADMIN_ROLES)
def index() -> ResponseReturnValue:
    return render_template("admin/index.html", me=_me())


# --- settings: overview and the group-incident threshold ------------------------------------


def _settings_page(
    errors: Mapping[str, str] | None = None, form: Mapping[str, Any] | None = None
) -> str:
    session = db.session
    current = settings.current(session, policy=_policy(), threshold=_threshold())
    return render_template(
        "admin/settings.html",
        me=_me(),
        current=current,
        configured_threshold=_threshold(),
        errors=errors or {},
        form=form or {},
    )


@bp.get("/settings")
@roles_required(ADMIN_ROLES)
def settings_page() -> ResponseReturnValue:
    return _settings_page()


@bp.post("/settings/threshold")
@roles_required(ADMIN_ROLES)
def save_threshold() -> ResponseReturnValue:
    try:
        value = settings.set_group_threshold(
            db.session, _me(), request.form, remote_addr=remote_addr()
        )
    except InvalidInput as err:
        db.session.rollback()
        return _settings_page(err.fields, request.form), 400
    return _saved(
        _("Saved: reports with %(n)d or more people are potential group incidents.", n=value),
        "admin.settings_page",
    )


# --- categories ------------------------------------------------------------------------------


def _categories_page(
    errors: Mapping[str, str] | None = None,
    form: Mapping[str, Any] | None = None,
    message: str = "",
    editing: str = "",
) -> str:
    return render_template(
        "admin/categories.html",
        me=_me(),
        categories=settings.all_categories(db.session),
        errors=errors or {},
        form=form or {},
        message=message,
        editing=editing,
    )


@bp.get("/settings/categories")
@roles_required(ADMIN_ROLES)
def categories() -> ResponseReturnValue:
    return _categories_page()


@bp.post("/settings/categories")
@roles_required(ADMIN_ROLES)
def add_category() -> ResponseReturnValue:
    try:
        category = settings.add_category(db.session, _me(), request.form, remote_addr=remote_addr())
    except InvalidInput as err:
        db.session.rollback()
        return _categories_page(err.fields, request.form, err.message, editing="new"), 400
    return _saved(_("Category “%(name)s” added.", name=category.name_zh), "admin.categories")


@bp.post("/settings/categories/<code>")
@roles_required(ADMIN_ROLES)
def change_category(code: str) -> ResponseReturnValue:
    action = request.form.get("action", "")
    session, me, addr = db.session, _me(), remote_addr()
    try:
        if action == "rename":
            category = settings.rename_category(session, me, code, request.form, remote_addr=addr)
            message = _("Category “%(name)s” renamed.", name=category.name_zh)
        elif action == "retire":
            category = settings.set_category_active(session, me, code, False, remote_addr=addr)
            message = _(
                "Category “%(name)s” retired: officers no longer see it; old reports keep it.",
                name=category.name_zh,
            )
        elif action == "reinstate":
            category = settings.set_category_active(session, me, code, True, remote_addr=addr)
            message = _("Category “%(name)s” is in use again.", name=category.name_zh)
        else:
            raise InvalidInput(
                _("Check the fields."), {"action": _("One of: rename, retire, reinstate.")}
            )
    except DomainError as err:
        session.rollback()
        return _categories_page(err.fields, request.form, err.message, editing=code), err.status
    return _saved(message, "admin.categories")


# --- the deadline policy ---------------------------------------------------------------------


def _policy_form(policy: DeadlinePolicy) -> dict[str, Any]:
    """The form's values for `policy` (what the page shows before an edit)."""
    data = settings.policy_json(policy)
    form: dict[str, Any] = {
        "max_extension_days": str(data["max_extension_days"]),
        "business_days": "1" if data["business_days"] else "",
    }
    for step in STEPS:
        for severity in SEVERITIES:
            value, unit = settings.describe_limit(data[step][severity])
            form[f"{step}_{severity}_value"] = str(value)
            form[f"{step}_{severity}_unit"] = unit
    return form


def _deadlines_page(
    errors: Mapping[str, str] | None = None,
    form: Mapping[str, Any] | None = None,
    message: str = "",
) -> str:
    session = db.session
    current = settings.current(session, policy=_policy(), threshold=_threshold())
    history = settings.policy_history(session)
    used = settings.cases_per_version(session)
    for entry in history:
        entry["cases"] = used.get(entry["version"], 0)
        entry["created_at"] = entry["created_at"].astimezone(CHINA_TZ)
    return render_template(
        "admin/deadlines.html",
        me=_me(),
        current=current,
        steps=STEPS,
        severities=SEVERITIES,
        form=form if form is not None else _policy_form(current.policy),
        errors=errors or {},
        message=message,
        history=history,
        configured_cases=used.get(None, 0),
        describe=settings.describe_limit,
    )


@bp.get("/settings/deadlines")
@roles_required(ADMIN_ROLES)
def deadlines() -> ResponseReturnValue:
    return _deadlines_page()


@bp.post("/settings/deadlines")
@roles_required(ADMIN_ROLES)
def save_deadlines() -> ResponseReturnValue:
    try:
        version = settings.save_policy(db.session, _me(), request.form, remote_addr=remote_addr())
    except InvalidInput as err:
        db.session.rollback()
        return _deadlines_page(err.fields, request.form, err.message), 400
    return _saved(
        _(
            "Saved as version %(version)d: new reports get it; cases already filed keep "
            "the rules they were given.",
            version=version,
        ),
        "admin.deadlines",
    )


# --- the business-day calendar ---------------------------------------------------------------


def _year(raw: str | None) -> int | None:
    if not raw:
        return datetime.now(CHINA_TZ).year
    if raw.isdigit() and 2000 <= int(raw) <= 2100:
        return int(raw)
    return None


def _calendar_page(
    year: int,
    errors: Mapping[str, str] | None = None,
    form: Mapping[str, Any] | None = None,
    message: str = "",
) -> str:
    session = db.session
    current = settings.current(session, policy=_policy(), threshold=_threshold())
    return render_template(
        "admin/calendar.html",
        me=_me(),
        year=year,
        days=settings.calendar_days(session, year),
        business_days=current.policy.business_days,
        errors=errors or {},
        form=form or {},
        message=message,
    )


@bp.get("/settings/calendar")
@roles_required(ADMIN_ROLES)
def calendar() -> ResponseReturnValue:
    year = _year(request.args.get("year"))
    if year is None:
        return _calendar_page(
            datetime.now(CHINA_TZ).year,
            {"year": _("A year from 2000 to 2100.")},
            message=_("Check the fields."),
        ), 400
    return _calendar_page(year)


@bp.post("/settings/calendar")
@roles_required(ADMIN_ROLES)
def add_calendar_day() -> ResponseReturnValue:
    try:
        row = settings.add_calendar_day(db.session, _me(), request.form, remote_addr=remote_addr())
    except InvalidInput as err:
        db.session.rollback()
        year = _year(request.form.get("year")) or datetime.now(CHINA_TZ).year
        return _calendar_page(year, err.fields, request.form, err.message), 400
    return _saved(
        _("Saved: %(day)s.", day=row.day.isoformat()), "admin.calendar", year=row.day.year
    )


@bp.post("/settings/calendar/<day>/delete")
@roles_required(ADMIN_ROLES)
def remove_calendar_day(day: str) -> ResponseReturnValue:
    try:
        settings.remove_calendar_day(db.session, _me(), day, remote_addr=remote_addr())
    except DomainError as err:
        db.session.rollback()
        return _calendar_page(datetime.now(CHINA_TZ).year, message=err.message), err.status
    return _saved(_("Removed: %(day)s.", day=day), "admin.calendar", year=day[:4])


# --- the audit log ---------------------------------------------------------------------------


def _export_columns() -> list[Column]:
    headers = {
        "at": (_("Time (China)"), "datetime"),
        "username": (_("Account"), "text"),
        "display_name": (_("Name"), "text"),
        "action": (_("Action"), "text"),
        "object_type": (_("Object type"), "text"),
        "object_id": (_("Object id"), "text"),
        "remote_addr": (_("From (IP address)"), "text"),
        "details": (_("Change details"), "text"),
    }
    return [Column(key, headers[key][0], headers[key][1]) for key in audit.EXPORT_KEYS]  # type: ignore[arg-type]


@bp.get("/audit")
@roles_required(audit.READER_ROLES)
def audit_log() -> ResponseReturnValue:
    try:
        filters = audit.parse_filters(request.args)
    except InvalidInput as err:
        return render_template(
            "admin/audit.html",
            me=_me(),
            page=None,
            filters=audit.AuditFilters(),
            form=request.args,
            errors=err.fields,
            message=err.message,
        ), 400
    return render_template(
        "admin/audit.html",
        me=_me(),
        page=audit.search(db.session, filters),
        filters=filters,
        form=request.args,
        errors={},
        message="",
    )


@bp.get("/audit/export.<fmt>")
@roles_required(audit.READER_ROLES)
def audit_export(fmt: str) -> ResponseReturnValue:
    """The filtered log as a direct download (CSV with a BOM for Excel, or xlsx), through the
    export writers. Exporting the log is itself recorded."""
    if fmt not in ("csv", "xlsx"):
        return render_template("admin/forbidden.html"), 404
    session = db.session
    try:
        filters = audit.parse_filters(request.args)
    except InvalidInput as err:
        return _audit_error(err.message, err.fields), 400
    total = audit.count(session, filters)
    if total > audit.MAX_EXPORT_ROWS:
        return _audit_error(
            _(
                "%(n)d records match; an export holds at most %(max)d. Narrow the filters.",
                n=total,
                max=audit.MAX_EXPORT_ROWS,
            ),
            {},
        ), 400
    me = _me()
    audit.record(
        session,
        actor_id=me.id,
        action="audit.export",
        object_type="audit_log",
        object_id=fmt,
        remote_addr=remote_addr(),
        details={"filters": filters.query_args(), "rows": total},
    )
    session.commit()
    stamp = datetime.now(CHINA_TZ).strftime("%Y%m%d_%H%M")
    name = f"{_('Audit log')}_{stamp}.{fmt}"
    columns = _export_columns()
    rows = audit.export_rows(session, filters)
    if fmt == "csv":
        buffer = io.StringIO()
        buffer.write("\ufeff")  # Excel on Chinese Windows reads UTF-8 only with the BOM
        write_csv(buffer, columns, rows)
        response = Response(buffer.getvalue(), mimetype="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = _attachment(name)
        return response
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.xlsx"
        write_xlsx(
            path,
            columns,
            rows,
            title=SheetTitle(title=_("Audit log"), period=_period_line(filters)),
            totals=False,
            tmpdir=Path(tmp),
        )
        data = path.read_bytes()
    return send_file(
        io.BytesIO(data),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=name,
    )


def _attachment(name: str) -> str:
    from urllib.parse import quote

    return f"attachment; filename=\"audit.csv\"; filename*=UTF-8''{quote(name)}"


def _period_line(filters: audit.AuditFilters) -> str:
    if not filters.date_from and not filters.date_to:
        return ""
    start = filters.date_from.isoformat() if filters.date_from else "…"
    end = filters.date_to.isoformat() if filters.date_to else "…"
    return f"{start} — {end}"


def _audit_error(message: str, fields: Mapping[str, str]) -> str:
    return render_template(
        "admin/audit.html",
        me=_me(),
        page=None,
        filters=audit.AuditFilters(),
        form=request.args,
        errors=fields,
        message=message,
    )
