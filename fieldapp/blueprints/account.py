"""Everyone's own account, /account: change the password (old and new; every other browser
and every device is signed out), see the signed-in devices and browsers and sign them out.

A one-time password (roster import, reset by an administrator) must be changed first: until
then every other page sends the browser here, and API calls made with the cookie answer 403
``password_change_required`` (bearer-token calls answer the same from fieldapp.auth)."""

from __future__ import annotations

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fieldapp.auth import (
    login_required,
    now,
    remote_addr,
    session_lifetimes,
    start_web_session,
    web_user,
)
from fieldapp.crypto import keyring
from fieldapp.db import db
from fieldapp.errors import error_body
from fieldapp.models import ApiToken, WebSession
from fieldapp.services import accounts, audit, passwords, people, websessions
from fieldapp.services.errors import InvalidInput
from fieldapp.services.party_data import user_phone

bp = Blueprint("account", __name__, url_prefix="/account")

#: What a user with a one-time password may still open.
_OPEN_WITH_ONE_TIME_PASSWORD = frozenset({"static", "auth.login", "auth.logout"})


@bp.before_app_request
def require_password_change() -> ResponseReturnValue | None:
    """Send a user who must change their password to this page first."""
    endpoint = request.endpoint or ""
    if endpoint.startswith("account.") or endpoint in _OPEN_WITH_ONE_TIME_PASSWORD:
        return None
    if not request.cookies:
        return None  # bearer-token API calls: fieldapp.auth.api_user decides
    user = web_user()
    if user is None or not user.must_change_password:
        return None
    if request.path.startswith("/api/"):
        body = error_body(
            "password_change_required",
            _("Change your one-time password first, at /account."),
        )
        return jsonify(body), 403
    return redirect(url_for("account.page"))


def _render(status: int = 200, error: str | None = None) -> ResponseReturnValue:
    user = web_user()
    assert user is not None
    moment = now()
    return render_template(
        "account/account.html",
        me=user,
        rules=passwords.RULES,
        error=error,
        devices=people.live_devices(db.session, user.id, moment),
        browsers=websessions.open_sessions(db.session, user.id, moment, session_lifetimes()),
        current_session=g.get("web_session_id"),
    ), status


@bp.get("")
@login_required
def page() -> ResponseReturnValue:
    return _render()


@bp.post("/password")
@login_required
def change_password() -> ResponseReturnValue:
    user = web_user()
    assert user is not None
    old = request.form.get("old_password", "")
    new = request.form.get("new_password", "")
    if new != request.form.get("confirm_password", ""):
        return _render(400, _("The two new passwords differ."))
    if not accounts.verify_password(user.password_hash, old):
        return _render(400, _("The current password is wrong."))
    try:
        # Ends every browser session and device token of the user; this browser signs in
        # afresh.
        accounts.replace_own_password(
            db.session, user, old, new, phone=user_phone(keyring(), user.phone)
        )
    except InvalidInput as err:
        return _render(400, " ".join([err.message, *err.fields.values()]))
    db.session.commit()
    start_web_session(user)
    flash(_("Password changed. Every other browser and device has been signed out."), "ok")
    return redirect(url_for("account.page"))


@bp.post("/devices/<int:token_id>/revoke")
@login_required
def revoke_device(token_id: int) -> ResponseReturnValue:
    user = web_user()
    assert user is not None
    token = db.session.get(ApiToken, token_id) if 0 < token_id <= people.MAX_ID else None
    if token is None or token.user_id != user.id:
        return _render(404, _("No such device."))
    if token.revoked_at is None:
        accounts.revoke_token(db.session, token, user.id)
        db.session.commit()
    flash(_("Device signed out."), "ok")
    return redirect(url_for("account.page"))


@bp.post("/sessions/<int:session_id>/end")
@login_required
def end_browser(session_id: int) -> ResponseReturnValue:
    user = web_user()
    assert user is not None
    row = db.session.get(WebSession, session_id) if 0 < session_id <= people.MAX_ID else None
    if row is None or row.user_id != user.id:
        return _render(404, _("No such browser."))
    if row.ended_at is None:
        row.ended_at = now()
        row.end_reason = "signed_out"
        audit.record(
            db.session,
            actor_id=user.id,
            action="session.end",
            object_type="user",
            object_id=user.id,
            remote_addr=remote_addr(),
            details={"session": session_id},
        )
        db.session.commit()
    flash(_("Browser signed out."), "ok")
    return redirect(url_for("account.page"))
