"""Triage and the case workflow as server-rendered pages (DESIGN §1, the closed loop).

The coordinator's queue, the case page with one form per allowed step, a department's
assigned cases, the overdue list with supervision orders, and the in-app inbox. Every state
change goes through `fieldapp.services.cases.act` — the same single service the API uses — so
the pages can never take a step the API would refuse. Domain errors are shown on the page
(never a 500); a stale version re-renders the case as it is now, with a message saying so."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from fieldapp.auth import login_required, now, remote_addr, web_user
from fieldapp.db import db
from fieldapp.deadlines import DeadlinePolicy
from fieldapp.http_images import image_response
from fieldapp.i18n import language
from fieldapp.labels import OUTCOME_LABELS, SATISFACTION_LABELS, action_label, label, state_label
from fieldapp.models import User
from fieldapp.services import cases, duplicates, geography, notifications, photos, reports
from fieldapp.services.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from fieldapp.services.queue import QueueFilters, parse_filters, queue
from fieldapp.workflow import OPEN_STATES, Action, State, action_kind

bp = Blueprint("triage", __name__, url_prefix="/triage")

LEAFLET = "vendor/leaflet/1.9.3"
# Roles with a triage queue of their own cases (the department's queue is its own page).
QUEUE_ROLES = frozenset({"coordinator", "county", "city"})
OVERDUE_ROLES = frozenset({"county", "city"})
BULK_ACTIONS = (Action.ACCEPT, Action.ASSIGN)
# At most this many per-case failures are spelled out after a bulk action: flash messages
# travel in the session cookie, which browsers cap at about 4 KB.
MAX_BULK_FAILURES_SHOWN = 8
# At most this many cases per bulk request (four queue pages of 50): each is its own
# transition and transaction, and a request that names thousands is not a person's.
MAX_BULK_CASES = 200
# The queue's filters a bulk action returns to (anything else in the query is dropped).
QUEUE_ARGS = ("status", "severity", "category", "q", "sort", "page", "per_page")

FIELD_LABELS = {
    "reason": _l("Reason"),
    "department": _l("Department"),
    "into": _l("Merge into"),
    "outcome": _l("Outcome"),
    "days": _l("Days"),
    "due_at": _l("Due by"),
    "satisfaction": _l("Satisfaction"),
    "version": _l("Version"),
}

# What each action's form asks for. "reason" is a textarea; required ones are marked so the
# browser asks before the round trip (the service checks again either way).
ACTION_FIELDS: dict[str, tuple[tuple[str, bool], ...]] = {
    Action.ACCEPT.value: (),
    Action.REJECT.value: (("reason", True),),
    Action.MERGE.value: (("into", True),),
    Action.RESOLVE_ON_SITE.value: (("outcome", True), ("reason", False)),
    Action.ASSIGN.value: (("department", True), ("due_at", False)),
    Action.SIGN_FOR.value: (),
    Action.RETURN.value: (("reason", True),),
    Action.PROGRESS.value: (("reason", True),),
    Action.REQUEST_EXTENSION.value: (("days", True), ("reason", True)),
    Action.APPROVE_EXTENSION.value: (("reason", False),),
    Action.DENY_EXTENSION.value: (("reason", True),),
    Action.REQUEST_CLOSING.value: (("reason", True),),
    Action.APPROVE_CLOSING.value: (("outcome", True), ("reason", False)),
    Action.SEND_BACK.value: (("reason", True),),
    Action.ESCALATE.value: (("reason", True),),
    Action.SUPERVISE.value: (("due_at", True), ("reason", True)),
    Action.FOLLOW_UP.value: (("satisfaction", True), ("reason", False)),
    Action.UNMERGE.value: (("reason", False),),
    Action.REASSIGN.value: (("department", True), ("reason", True)),
}
FORM_TEXT_FIELDS = ("reason", "department", "into", "outcome", "satisfaction", "due_at")


def _policy() -> DeadlinePolicy:
    policy: DeadlinePolicy = current_app.config["DEADLINE_POLICY"]
    return policy


def _user() -> User:
    """The signed-in user (the views are all behind `login_required`)."""
    user = web_user()
    if user is None:  # pragma: no cover - login_required redirects first
        abort(401)
    return user


# --- formatting helpers (also Jinja filters) -------------------------------------------------


def _as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


@bp.app_template_filter("triage_dt")
def format_when(value: Any) -> str:
    """2026年11月25日 14:05 in Chinese (China time); an English date otherwise."""
    when = _as_datetime(value)
    if when is None:
        return ""
    pattern = "yyyy年M月d日 HH:mm" if language() == "zh" else "d MMM yyyy HH:mm"
    return str(format_datetime(when, pattern))


def time_left_text(seconds: int | None) -> str:
    """“剩余3小时” / “已超期2天”: the largest whole unit, so a glance is enough."""
    if seconds is None:
        return ""
    overdue = seconds < 0
    span = abs(seconds)
    if span >= 86400:
        text = (
            _("Overdue by %(n)d days", n=span // 86400)
            if overdue
            else _("%(n)d days left", n=span // 86400)
        )
    elif span >= 3600:
        text = (
            _("Overdue by %(n)d hours", n=span // 3600)
            if overdue
            else _("%(n)d hours left", n=span // 3600)
        )
    else:
        minutes = max(span // 60, 1)
        text = (
            _("Overdue by %(n)d minutes", n=minutes)
            if overdue
            else _("%(n)d minutes left", n=minutes)
        )
    return text


@bp.app_context_processor
def triage_globals() -> dict[str, Any]:
    """The unread count for the inbox badge, and the label tables for the templates. App-wide
    so any page's header can show the badge; one cheap count query per signed-in page."""
    unread = 0
    if has_request_context():
        try:
            user = web_user()
            if user is not None:
                unread = notifications.unread_count(db.session, user)
        except SQLAlchemyError:
            # An error page rendered after a failed transaction must still render.
            unread = 0
    return {"inbox_unread": unread}


@bp.context_processor
def triage_labels() -> dict[str, Any]:
    """The triage pages' own label tables and helpers, for this blueprint's templates only."""
    user = web_user()
    return {
        # (state, action, severity, light, level, outcome, satisfaction: app-wide, fieldapp.labels)
        "field_label": lambda key: label(FIELD_LABELS, key),
        "time_left": time_left_text,
        "action_kind": lambda state, action: action_kind(State(state), Action(action)),
        "me": user,
        "nav_queue": user is not None and user.role in QUEUE_ROLES,
        "nav_department": user is not None and user.role == "department",
        "nav_overdue": user is not None and user.role in OVERDUE_ROLES,
        "leaflet": LEAFLET,
    }


# --- lookups ---------------------------------------------------------------------------------


def _categories(session: Session) -> list[dict[str, str]]:
    return reports.list_categories(session, language())


def _parse_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(_("No such report.")) from None


def _error_page(err: DomainError) -> ResponseReturnValue:
    db.session.rollback()
    return render_template("triage/error.html", error=err), err.status


# --- the queues ------------------------------------------------------------------------------


def _queue_page(view: str, template: str, allowed_roles: frozenset[str]) -> ResponseReturnValue:
    user = _user()
    session = db.session
    if user.role not in allowed_roles:
        return _error_page(Forbidden(_("This page is not for your role.")))
    args = {k: v for k, v in request.args.to_dict().items() if k != "view"}
    filter_error: InvalidInput | None = None
    try:
        filters = parse_filters({**args, "view": view})
    except InvalidInput as err:
        filter_error = err
        filters = QueueFilters(view=view)
    try:
        result = queue(session, user, filters, now=now(), policy=_policy())
    except DomainError as err:
        return _error_page(err)
    pages = max(1, -(-result["total"] // filters.per_page))

    def page_url(page: int) -> str:
        kept = {k: v for k, v in args.items() if k != "page" and v}
        return f"{request.path}?{urlencode({**kept, 'page': page})}"

    context: dict[str, Any] = {
        "result": result,
        "filters": filters,
        "filter_error": filter_error,
        "pages": pages,
        "page_url": page_url,
        "open_states": [s.value for s in State if s in OPEN_STATES],
        "categories": _categories(session),
    }
    if view == "overdue":
        context["orders"] = cases.supervision_orders(session, user, now=now())
    else:
        context["departments"] = (
            cases.departments_for_user(session, user) if user.role in QUEUE_ROLES else []
        )
    context["queue_query"] = urlencode(_queue_args(request.args))
    return render_template(template, **context)


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    """The coordinator's (or county's / city's) own open cases, by priority."""
    user = _user()
    if user.role == "department":
        return redirect(url_for("triage.department"))
    return _queue_page("mine", "triage/queue.html", QUEUE_ROLES)


@bp.get("/department")
@login_required
def department() -> ResponseReturnValue:
    """A department handler's assigned cases."""
    return _queue_page("mine", "triage/department.html", frozenset({"department"}))


@bp.get("/overdue")
@login_required
def overdue() -> ResponseReturnValue:
    """County and city staff: overdue cases across their area, and supervision orders."""
    return _queue_page("overdue", "triage/overdue.html", OVERDUE_ROLES)


def _queue_args(args: Any) -> dict[str, str]:
    """The queue's own filters from a query string or form (nothing else is passed on)."""
    return {k: str(args.get(k)) for k in QUEUE_ARGS if args.get(k)}


def _queue_url(query: str) -> str:
    """The queue with the filters a bulk form came from (parsed, not trusted as a URL)."""
    kept = _queue_args(dict(parse_qsl(query[:2000])))
    base = url_for("triage.index")
    return f"{base}?{urlencode(kept)}" if kept else base


@bp.post("/bulk")
@login_required
def bulk() -> ResponseReturnValue:
    """Accept or assign several cases at once: each one separately through `cases.act`, with
    the version its row showed, so one stale or refused case does not stop the others."""
    user = _user()
    session = db.session
    action = request.form.get("action", "")
    # Back to the same filtered, paged queue the cases were chosen in.
    back = _queue_url(request.form.get("back", ""))
    if action not in {a.value for a in BULK_ACTIONS}:
        flash(_("Choose what to do with the selected cases."), "error")
        return redirect(back)
    ids = request.form.getlist("case")
    if not ids:
        flash(_("Select at least one case."), "error")
        return redirect(back)
    if len(ids) > MAX_BULK_CASES:
        flash(
            _(
                "%(n)d cases selected; at most %(max)d can be handled at once. Nothing was "
                "done: filter the queue or select fewer.",
                n=len(ids),
                max=MAX_BULK_CASES,
            ),
            "error",
        )
        return redirect(back)
    department_code = request.form.get("department", "").strip()
    if action == Action.ASSIGN.value and not department_code:
        flash(_("Choose a department to assign the selected cases to."), "error")
        return redirect(back)
    done = 0
    failures: list[str] = []
    for raw in ids:
        body: dict[str, Any] = {"version": _int_or_raw(request.form.get(f"version-{raw}"))}
        try:
            report_id = _parse_uuid(raw)
            if action == Action.ASSIGN.value:
                body["department"] = department_code
            cases.act(
                session,
                user,
                report_id,
                action,
                body,
                now=now(),
                policy=_policy(),
                remote_addr=remote_addr(),
            )
            session.commit()
            done += 1
        except DomainError as err:
            session.rollback()
            stale = _is_stale(session, user, raw, body.get("version"))
            failures.append(f"{_name_of(session, user, raw)}：{_error_text(err, stale=stale)}")
    if done:
        flash(
            _("%(action)s: %(n)d cases done.", action=action_label(action), n=done),
            "success",
        )
    for text in failures[:MAX_BULK_FAILURES_SHOWN]:
        flash(text[:300], "error")
    if len(failures) > MAX_BULK_FAILURES_SHOWN:
        flash(
            _("… and %(n)d more cases failed.", n=len(failures) - MAX_BULK_FAILURES_SHOWN),
            "error",
        )
    return redirect(back)


def _name_of(session: Session, user: User, raw_id: str) -> str:
    """A case as people name it in a message: its number and title."""
    try:
        report = reports.get_report(session, user, uuid.UUID(raw_id))
    except (ValueError, DomainError):
        return raw_id[:8]
    return f"{report.case_number} {report.title}"


def _int_or_raw(value: str | None) -> Any:
    """Form values are text; the service wants whole numbers and explains anything else."""
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return value


def _is_stale(session: Session, user: User, raw_id: str, version: Any) -> bool:
    """Whether the version a form showed is no longer the case's: then a conflict means
    someone else acted first (rather than a step the case's state does not allow)."""
    if isinstance(version, bool) or not isinstance(version, int):
        return False
    try:
        current = reports.get_report(session, user, uuid.UUID(raw_id)).version
    except (ValueError, DomainError):
        return False
    return current != version


def _error_text(err: DomainError, *, stale: bool = False) -> str:
    """The message, plus each field's complaint with the field's name. A stale version's
    message already says who changed the case, how, and what it is now
    (cases.stale_message)."""
    if isinstance(err, Conflict) and stale:
        return err.message
    parts = [err.message]
    for field, message in err.fields.items():
        parts.append(f"{label(FIELD_LABELS, field)}：{message}")
    return " ".join(parts)


# --- the case page ---------------------------------------------------------------------------


@bp.get("/cases/<report_id>")
@login_required
def case(report_id: str) -> ResponseReturnValue:
    try:
        return _render_case(_parse_uuid(report_id))
    except DomainError as err:
        return _error_page(err)


def _render_case(
    report_id: uuid.UUID,
    *,
    status: int = 200,
    error: DomainError | None = None,
    stale: bool = False,
    failed_action: str | None = None,
    form: dict[str, str] | None = None,
) -> ResponseReturnValue:
    user = _user()
    session = db.session
    report = reports.get_report(session, user, report_id)
    current = now()
    data = cases.case_json(session, report, user, now=current, policy=_policy())
    allowed = list(data["allowed_actions"])
    is_open = State(report.status) in OPEN_STATES
    candidates = duplicates.candidates(session, report.id, user) if is_open else []
    merged_into = cases.merged_into(session, user, report)
    department = cases.assigned_department(session, report)
    state = report.status
    # Primary step first, destructive ones last (the button hierarchy, workflow.action_kind).
    rank = {"primary": 0, "secondary": 1, "destructive": 2}
    forms = sorted(
        (a for a in allowed if a != Action.MERGE.value),
        key=lambda a: rank[action_kind(State(state), Action(a))],
    )
    return (
        render_template(
            "triage/case.html",
            case=data,
            events=cases.events(session, user, report.id),
            candidates=[c.as_dict() for c in candidates],
            merged_into=merged_into,
            department=department,
            departments=(
                cases.departments_for_case(session, report)
                if {Action.ASSIGN.value, Action.REASSIGN.value} & set(allowed)
                else []
            ),
            action_forms=[(a, ACTION_FIELDS.get(a, ())) for a in forms],
            can_merge=Action.MERGE.value in allowed,
            map_data=_map_data(session, data),
            error=error,
            error_text=_error_text(error, stale=stale) if error else None,
            failed_action=failed_action,
            form=form or {},
            outcomes=list(OUTCOME_LABELS),
            satisfactions=list(SATISFACTION_LABELS),
            max_extension_days=_policy().max_extension_days,
        ),
        status,
    )


def _map_data(session: Session, data: dict[str, Any]) -> dict[str, Any]:
    """The point and the cells around it, inline: no tiles and no extra request needed."""
    lon, lat = float(data["lon"]), float(data["lat"])
    margin = 0.01
    layer = geography.area_layer(
        session, "cell", (lon - margin, lat - margin, lon + margin, lat + margin)
    )
    cell = data.get("cell") or {}
    return {"lon": lon, "lat": lat, "cell_code": cell.get("code"), "cells": layer}


@bp.post("/cases/<report_id>/actions/<action>")
@login_required
def case_action(report_id: str, action: str) -> ResponseReturnValue:
    """One workflow step from a form: through `cases.act`, committed, then back to the case
    with a message. Refusals re-render the case as it is now, with the message and the
    reader's input kept."""
    user = _user()
    session = db.session
    form = {k: request.form.get(k, "") for k in (*FORM_TEXT_FIELDS, "days")}
    try:
        target = _parse_uuid(report_id)
    except DomainError as err:
        return _error_page(err)
    body: dict[str, Any] = {"version": _int_or_raw(request.form.get("version"))}
    for key in FORM_TEXT_FIELDS:
        value = form[key].strip()
        if value:
            body[key] = value
    if form["days"].strip():
        body["days"] = _int_or_raw(form["days"])
    try:
        result = cases.act(
            session,
            user,
            target,
            action,
            body,
            now=now(),
            policy=_policy(),
            remote_addr=remote_addr(),
        )
        session.commit()
    except DomainError as err:
        session.rollback()
        if isinstance(err, NotFound) and action not in ACTION_FIELDS:
            # An unknown action name is the form's fault, not a missing case: show the case.
            err = InvalidInput(err.message, {})
        stale = isinstance(err, Conflict) and _is_stale(
            session, user, str(target), body.get("version")
        )
        try:
            return _render_case(
                target,
                status=err.status,
                error=err,
                stale=stale,
                failed_action=action,
                form=form,
            )
        except DomainError as missing:  # the case itself is gone or out of scope
            return _error_page(missing)
    flash(_done_text(session, user, action, result), "success")
    return redirect(url_for("triage.case", report_id=str(target)))


def _done_text(session: Session, user: User, action: str, result: dict[str, Any]) -> str:
    """What a step did, in words: a merge names both cases and which one was kept."""
    if action == Action.MERGE.value and result.get("merged_into"):
        kept = cases.find_case_id(session, result["merged_into"])
        kept_number = reports.get_report(session, user, kept).case_number if kept else ""
        return _(
            "%(dup)s was merged into %(kept)s; %(kept)s is kept. You can undo the merge here.",
            dup=result["case_number"],
            kept=kept_number,
        )
    if action == Action.UNMERGE.value:
        return _(
            "Merge undone: %(number)s is “%(state)s” again.",
            number=result["case_number"],
            state=state_label(result["status"]),
        )
    return _("Done: %(action)s.", action=action_label(action))


@bp.get("/cases/<report_id>/merge")
@login_required
def merge_confirm(report_id: str) -> ResponseReturnValue:
    """The confirmation before a merge: which case is the duplicate and which one is kept,
    side by side, and one button that merges in exactly that direction. `into` may be the
    kept case's id or its case number. Reading only: nothing changes until the POST."""
    user = _user()
    session = db.session
    into = request.args.get("into", "")
    try:
        target = _parse_uuid(report_id)
        report = reports.get_report(session, user, target)
    except DomainError as err:
        return _error_page(err)
    try:
        if State(report.status) not in OPEN_STATES:
            raise Conflict(
                _(
                    "This case is “%(state)s”: it cannot be merged.",
                    state=state_label(report.status),
                )
            )
        kept = cases.merge_preview(session, user, report, into)
    except DomainError as err:
        return _render_case(
            target, status=err.status, error=err, failed_action="merge", form={"into": into}
        )
    return render_template(
        "triage/merge_confirm.html",
        duplicate=report,
        kept=kept,
        version=report.version,
    )


@bp.get("/cases/<report_id>/photos/<photo_id>")
@login_required
def photo(report_id: str, photo_id: str) -> ResponseReturnValue:
    """A report's photo for the signed-in page (the API's photo route wants a bearer token)."""
    try:
        found = photos.get_photo(db.session, _user(), _parse_uuid(report_id), _parse_uuid(photo_id))
    except DomainError:
        abort(404)
    return image_response(found.data, found.content_type)


@bp.get("/cases/<report_id>/photos/<photo_id>/thumbnail")
@login_required
def photo_thumbnail(report_id: str, photo_id: str) -> ResponseReturnValue:
    try:
        found = photos.get_photo(db.session, _user(), _parse_uuid(report_id), _parse_uuid(photo_id))
    except DomainError:
        abort(404)
    if found.thumbnail is None:
        # Not made yet (the worker is behind): the full photo scaled by the browser will do.
        return image_response(found.data, found.content_type)
    return image_response(found.thumbnail, "image/jpeg")


# --- the inbox -------------------------------------------------------------------------------


@bp.get("/inbox")
@login_required
def inbox() -> ResponseReturnValue:
    user = _user()
    items = []
    for n in notifications.inbox(db.session, user, limit=100):
        # Opening one goes through /inbox/<id>, which marks it read.
        subject = n.subject_id.split(":", 1)[0]
        try:
            case_id: str | None = str(uuid.UUID(subject))
        except ValueError:
            case_id = None
        items.append(
            {
                "id": n.id,
                "text": n.text,
                "kind": n.kind,
                "created_at": n.created_at,
                "read": n.read_at is not None,
                "case_id": case_id,
            }
        )
    return render_template("triage/inbox.html", items=items)


@bp.post("/inbox/read")
@login_required
def inbox_read() -> ResponseReturnValue:
    """Mark every notification read (only the reader's own)."""
    user = _user()
    notifications.mark_all_read(db.session, user, now=now())
    db.session.commit()
    flash(_("All notifications marked as read."), "success")
    return redirect(url_for("triage.inbox"))


@bp.get("/inbox/<int:notification_id>")
@login_required
def inbox_open(notification_id: int) -> ResponseReturnValue:
    """Open a notification: mark it read and go to its case (or back to the inbox)."""
    user = _user()
    subject = notifications.mark_read(db.session, user, notification_id, now=now())
    db.session.commit()
    if subject is None:
        return redirect(url_for("triage.inbox"))
    try:
        case_id = str(uuid.UUID(subject.split(":", 1)[0]))
    except ValueError:
        return redirect(url_for("triage.inbox"))
    return redirect(url_for("triage.case", report_id=case_id))
