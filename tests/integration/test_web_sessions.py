"""Web sessions really end (issue 15.8): logout, password change (CLI and own page), revoking
devices, deactivation, and the idle and absolute lifetimes — each with the real Flask client
and the real database. Also the one-time password flow on web and API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fieldapp.cli import users_cli
from fieldapp.models import User, WebSession
from fieldapp.services import accounts
from fieldapp.services.websessions import Lifetimes, lapsed
from tests import support
from tests.integration.roster_support import csrf, sign_in
from tests.support import PASSWORD

pytestmark = pytest.mark.usefixtures("people")
PAGE = "/account"


def _signed_in(app: Flask, username: str = "t_coord_1") -> FlaskClient:
    client = app.test_client()
    sign_in(client, username, PASSWORD)
    assert client.get(PAGE).status_code == 200
    return client


def _kept_cookie(client: FlaskClient, app: Flask) -> str:
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    assert cookie is not None
    return cookie.value


def _with_cookie(app: Flask, value: str) -> FlaskClient:
    other = app.test_client()
    other.set_cookie(app.config.get("SESSION_COOKIE_NAME", "session"), value)
    return other


def test_a_cookie_kept_from_before_logout_no_longer_works(app: Flask, db_session: Session) -> None:
    client = _signed_in(app)
    kept = _kept_cookie(client, app)
    r = client.post("/logout", data={"csrf_token": csrf(client, "/account")})
    assert r.status_code == 302
    replay = _with_cookie(app, kept)
    assert replay.get(PAGE).status_code == 302  # to the sign-in page


def test_cli_passwd_and_revoke_tokens_end_web_sessions(app: Flask, db_session: Session) -> None:
    runner = app.test_cli_runner()
    client = _signed_in(app, "t_coord_1")
    r = runner.invoke(users_cli, ["passwd", "t_coord_1", "--password", "another-good-pass-1"])
    assert r.exit_code == 0, r.output
    assert client.get(PAGE).status_code == 302
    client2 = _signed_in(app, "t_coord_2")
    r = runner.invoke(users_cli, ["revoke-tokens", "t_coord_2"])
    assert r.exit_code == 0
    assert client2.get(PAGE).status_code == 302


def test_deactivation_ends_the_session(app: Flask, db_session: Session) -> None:
    client = _signed_in(app, "t_county")
    r = app.test_cli_runner().invoke(users_cli, ["deactivate", "t_county"])
    assert r.exit_code == 0
    assert client.get(PAGE).status_code == 302


def test_idle_and_absolute_lifetimes(app: Flask, db_session: Session) -> None:
    client = _signed_in(app, "t_city")
    user_id = db_session.execute(select(User.id).where(User.username == "t_city")).scalar_one()
    idle = timedelta(hours=app.config["WEB_SESSION_IDLE_HOURS"])
    db_session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id)
        .values(last_seen_at=datetime.now(UTC) - idle - timedelta(minutes=1))
    )
    db_session.flush()
    assert client.get(PAGE).status_code == 302
    life = Lifetimes(idle=timedelta(hours=12), absolute=timedelta(days=7))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert (
        lapsed(start, start + timedelta(days=7), start + timedelta(days=7, hours=1), life)
        == "expired"
    )
    assert lapsed(start, start, start + timedelta(hours=11), life) is None


def test_a_legacy_cookie_without_a_session_record_is_refused(
    app: Flask, db_session: Session
) -> None:
    user_id = db_session.execute(select(User.id).where(User.username == "t_coord_1")).scalar_one()
    client = app.test_client()
    with client.session_transaction() as s:
        s["user_id"] = user_id  # what a cookie from before this change holds
    assert client.get(PAGE).status_code == 302


def test_own_password_change_ends_other_sessions_and_tokens_but_keeps_this_one(
    app: Flask, db_session: Session
) -> None:
    other = _signed_in(app, "t_officer_b")
    user = db_session.execute(select(User).where(User.username == "t_officer_b")).scalar_one()
    token = accounts.issue_token(db_session, user, "phone", datetime.now(UTC))
    db_session.flush()
    me = _signed_in(app, "t_officer_b")
    page = me.get("/account").get_data(as_text=True)
    assert "10" in page and "phone" in page  # rules stated; the device listed
    token_field = csrf(me, "/account")
    weak = me.post(
        "/account/password",
        data={
            "old_password": PASSWORD,
            "new_password": "1234567890",
            "confirm_password": "1234567890",
            "csrf_token": token_field,
        },
    )
    assert weak.status_code == 400 and "常见" in weak.get_data(as_text=True)
    wrong = me.post(
        "/account/password",
        data={
            "old_password": "nope-nope-nope",
            "new_password": "Plum-tree-42!",
            "confirm_password": "Plum-tree-42!",
            "csrf_token": token_field,
        },
    )
    assert wrong.status_code == 400
    ok = me.post(
        "/account/password",
        data={
            "old_password": PASSWORD,
            "new_password": "Plum-tree-42!",
            "confirm_password": "Plum-tree-42!",
            "csrf_token": token_field,
        },
    )
    assert ok.status_code == 302
    assert me.get("/account").status_code == 200  # this browser stays signed in
    assert other.get("/account").status_code == 302  # the other one is out
    assert accounts.user_for_token(db_session, token.token, datetime.now(UTC)) is None


def test_one_time_password_must_be_changed_on_web_and_api(app: Flask, db_session: Session) -> None:
    user, password = support.enrol_officer(db_session, "t_fresh", "991101001003002", "新人")
    client = app.test_client()
    sign_in(client, "t_fresh", password)
    r = client.get("/field/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/account")
    token = accounts.issue_token(db_session, user, "phone", datetime.now(UTC))
    db_session.flush()
    api = app.test_client().get(
        "/api/v1/reports", headers={"Authorization": f"Bearer {token.token}"}
    )
    assert api.status_code == 403
    assert api.get_json()["error"]["code"] == "password_change_required"
    changed = client.post(
        "/account/password",
        data={
            "old_password": password,
            "new_password": "my-own-secret-7",
            "confirm_password": "my-own-secret-7",
            "csrf_token": csrf(client, "/account"),
        },
    )
    assert changed.status_code == 302
    assert client.get("/field/").status_code == 200
    fresh = accounts.issue_token(db_session, user, "phone", datetime.now(UTC))
    db_session.flush()
    api = app.test_client().get(
        "/api/v1/reports", headers={"Authorization": f"Bearer {fresh.token}"}
    )
    assert api.status_code == 200


def test_devices_can_be_signed_out_from_the_account_page(app: Flask, db_session: Session) -> None:
    user = db_session.execute(select(User).where(User.username == "t_officer_a")).scalar_one()
    token = accounts.issue_token(db_session, user, "lost-phone", datetime.now(UTC))
    db_session.flush()
    client = _signed_in(app, "t_officer_a")
    from fieldapp.models import ApiToken

    token_id = db_session.execute(
        select(ApiToken.id).where(ApiToken.device == "lost-phone")
    ).scalar_one()
    r = client.post(
        f"/account/devices/{token_id}/revoke", data={"csrf_token": csrf(client, "/account")}
    )
    assert r.status_code == 302
    assert accounts.user_for_token(db_session, token.token, datetime.now(UTC)) is None
    other_id = db_session.execute(
        select(ApiToken.id)
        .join(User, User.id == ApiToken.user_id)
        .where(User.username == "t_coord_1")
    ).scalar()
    refused = client.post(
        f"/account/devices/{other_id}/revoke", data={"csrf_token": csrf(client, "/account")}
    )
    assert refused.status_code == 404
