"""Administration of people, /admin/roster… and /admin/people…: the roster import and the
people pages. Thin: the rules are in fieldapp.services.roster and fieldapp.services.people.

The roster import is for admins only: a roster file deactivates everyone it managed before
who is missing from it, so it must be the whole city's roster; county staff keep their people
current on the people pages (scoped to their county). The import runs in the request: 5,000
officers take a few seconds (benchmarks/bench_roster.py), and the page shows a spinner."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fieldapp.auth import login_required, now, remote_addr, web_user
from fieldapp.db import db
from fieldapp.labels import ROLE_LABELS
from fieldapp.models import User
from fieldapp.roster_file import RosterFileError, passwords_xlsx, template_xlsx
from fieldapp.services import people, roster
from fieldapp.services.errors import DomainError
from fieldapp.services.hotspots import china_today

bp = Blueprint("people", __name__, url_prefix="/admin")

TEMPLATE_NAME = "花名册模板.xlsx"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _admin() -> User:
    user = web_user()
    if user is None or user.role != "admin":
        abort(403)
    return user


def _manager() -> User:
    user = web_user()
    if user is None or not people.may_manage_people(user):
        abort(403)
    return user


@bp.get("/roster")
@login_required
def roster_page() -> ResponseReturnValue:
    _admin()
    return render_template("admin/roster.html", result=None, error=None)


@bp.get("/roster/template.xlsx")
@login_required
def roster_template() -> ResponseReturnValue:
    _admin()
    return Response(
        template_xlsx(),
        mimetype=XLSX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(TEMPLATE_NAME)}"},
    )


@bp.post("/roster")
@login_required
def roster_import() -> ResponseReturnValue:
    admin = _admin()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        error = _("Choose the roster file (xlsx or CSV) first.")
        return render_template("admin/roster.html", result=None, error=error), 400
    dry_run = request.form.get("dry_run") == "1"
    try:
        result = roster.import_roster(
            db.session,
            upload.read(),
            upload.filename,
            actor_id=admin.id,
            today=china_today(),
            dry_run=dry_run,
            remote_addr=remote_addr(),
        )
    except RosterFileError as err:
        db.session.rollback()
        error = _("The file cannot be read: %(why)s", why=str(err))
        return render_template("admin/roster.html", result=None, error=error), 400
    if result.problems or dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    fresh = result.new_passwords if result.applied else []
    sheet = (
        base64.b64encode(
            passwords_xlsx((a.username, a.name, a.role, a.place, a.password or "") for a in fresh)
        ).decode()
        if fresh
        else None
    )
    return render_template(
        "admin/roster.html",
        result=result,
        error=None,
        problems=[(p, roster.describe(p)) for p in result.problems],
        fresh=fresh,
        sheet=sheet,
        role_labels=ROLE_LABELS,
        dry_run=dry_run,
    ), (400 if result.problems else 200)


@bp.get("/people")
@login_required
def people_list() -> ResponseReturnValue:
    actor = _manager()
    query = request.args.get("q", "")[:100]
    role = request.args.get("role") or None
    if role not in (None, *ROLE_LABELS):
        role = None
    found = people.find(db.session, actor, query, role)
    return render_template(
        "admin/people.html",
        found=found,
        q=query,
        role=role,
        role_labels=ROLE_LABELS,
        me_is_admin=actor.role == "admin",
    )


@bp.get("/people/<int:user_id>")
@login_required
def person(user_id: int) -> ResponseReturnValue:
    actor = _manager()
    user = _person_or_404(actor, user_id)
    return _person_page(actor, user)


def _person_or_404(actor: User, user_id: int) -> User:
    try:
        return people.get_person(db.session, actor, user_id)
    except DomainError:
        abort(404)


def _person_page(actor: User, user: User, *, password: str | None = None, status: int = 200) -> Any:
    view = people.person_view(db.session, user, now())
    return render_template(
        "admin/person.html",
        view=view,
        me=actor,
        password=password,
        role_labels=ROLE_LABELS,
    ), status


@bp.post("/people/<int:user_id>/password")
@login_required
def reset_password(user_id: int) -> ResponseReturnValue:
    actor = _manager()
    user = _person_or_404(actor, user_id)
    password = people.reset_password(db.session, actor, user, remote_addr())
    db.session.commit()
    return _person_page(actor, user, password=password)


@bp.post("/people/<int:user_id>/active")
@login_required
def set_active(user_id: int) -> ResponseReturnValue:
    actor = _manager()
    user = _person_or_404(actor, user_id)
    active = request.form.get("active") == "1"
    try:
        people.set_active(db.session, actor, user, active, remote_addr())
    except DomainError as err:
        db.session.rollback()
        flash(err.message, "error")
        return _person_page(actor, user, status=400)
    db.session.commit()
    flash(_("Reactivated.") if active else _("Deactivated; signed out everywhere."), "ok")
    return redirect(url_for("people.person", user_id=user_id))


@bp.post("/people/<int:user_id>/revoke")
@login_required
def revoke(user_id: int) -> ResponseReturnValue:
    actor = _manager()
    user = _person_or_404(actor, user_id)
    count = people.revoke_devices(db.session, actor, user, remote_addr())
    db.session.commit()
    flash(_("Signed out of every device (%(n)d).", n=count), "ok")
    return redirect(url_for("people.person", user_id=user_id))


@bp.post("/people/<int:user_id>/cells")
@login_required
def move_cells(user_id: int) -> ResponseReturnValue:
    actor = _manager()
    user = _person_or_404(actor, user_id)
    from fieldapp.roster_file import split_cells

    codes = split_cells(request.form.get("cells", "")[:2000])
    try:
        people.move_cells(db.session, actor, user, codes, remote_addr())
    except DomainError as err:
        db.session.rollback()
        details = "; ".join(err.fields.values()) if err.fields else ""
        flash(f"{err.message} {details}".strip(), "error")
        return _person_page(actor, user, status=400)
    db.session.commit()
    flash(_("Cells changed. Their reports stay theirs."), "ok")
    return redirect(url_for("people.person", user_id=user_id))
