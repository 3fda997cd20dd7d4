"""Web sign-in and sign-out (session cookie, CSRF-protected form)."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fieldapp import safe_redirect
from fieldapp.auth import now, remote_addr
from fieldapp.db import db
from fieldapp.services import accounts, audit
from fieldapp.services.errors import RateLimited, Unauthorized

bp = Blueprint("auth", __name__)

# Where each role lands after signing in.
HOME_BY_ROLE = {
    "officer": "/field/",
    "coordinator": "/triage/",
    "county": "/triage/",
    "city": "/triage/",
    "department": "/triage/department",
}


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    error = None
    status = 200
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        try:
            user = accounts.authenticate(db.session, username, password, remote_addr(), now())
        except Unauthorized as exc:
            db.session.commit()  # (authenticate has committed the count and audit row)
            error, status = exc.message, 401
        except RateLimited as exc:
            response = make_response(render_template("login.html", error=exc.message), 429)
            response.headers["Retry-After"] = str(exc.retry_after_s)
            return response
        else:
            audit.record(
                db.session,
                actor_id=user.id,
                action="login",
                object_type="user",
                object_id=user.id,
                remote_addr=remote_addr(),
            )
            db.session.commit()
            session.clear()
            session["user_id"] = user.id
            # Only a page this app serves (fieldapp.safe_redirect), else the role's home.
            target = safe_redirect.local_path(request.args.get("next"), current_app.url_map)
            return redirect(target or HOME_BY_ROLE.get(user.role, "/"))
    return render_template("login.html", error=error), status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    session.clear()
    return redirect(url_for("auth.login", msg=_("Signed out.")))
