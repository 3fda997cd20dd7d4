"""Web sign-in with a CSRF-protected form, and the `fieldapp users` commands."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldapp.cli import users_cli
from fieldapp.models import ApiToken, AuditEvent, User
from tests.support import PASSWORD

pytestmark = pytest.mark.usefixtures("people")


@pytest.fixture
def csrf_app(app: Flask) -> Flask:
    # The session-wide app is built with TESTING; CSRF stays on (Flask-WTF checks it unless
    # WTF_CSRF_ENABLED is False), which is what these tests rely on.
    assert app.config.get("WTF_CSRF_ENABLED", True)
    return app


def _csrf_token(client: FlaskClient) -> str:
    page = client.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def test_login_form_needs_the_csrf_token(csrf_app: Flask, client: FlaskClient) -> None:
    r = client.post("/login", data={"username": "t_coord_1", "password": PASSWORD})
    assert r.status_code == 400  # no token: refused before any password check


def test_login_with_token_signs_in_and_is_audited(client: FlaskClient, db_session: Session) -> None:
    token = _csrf_token(client)
    r = client.post(
        "/login", data={"username": "t_coord_1", "password": PASSWORD, "csrf_token": token}
    )
    assert r.status_code == 302
    user_id = db_session.execute(select(User.id).where(User.username == "t_coord_1")).scalar()
    assert db_session.execute(
        select(AuditEvent).where(AuditEvent.action == "login", AuditEvent.actor_id == user_id)
    ).first()


def test_wrong_password_page_says_so_in_chinese(client: FlaskClient) -> None:
    token = _csrf_token(client)
    r = client.post(
        "/login", data={"username": "t_coord_1", "password": "wrong", "csrf_token": token}
    )
    assert r.status_code == 401
    assert "用户名或密码错误" in r.get_data(as_text=True)


def test_open_redirects_are_refused(client: FlaskClient) -> None:
    token = _csrf_token(client)
    r = client.post(
        "/login?next=//evil.example/",
        data={"username": "t_coord_2", "password": PASSWORD, "csrf_token": token},
    )
    assert r.status_code == 302 and r.headers["Location"] == "/triage/"  # the role's home


def test_users_cli_create_passwd_revoke(app: Flask, db_session: Session) -> None:
    runner = app.test_cli_runner()
    created = runner.invoke(
        users_cli,
        [
            "create",
            "t_new_officer",
            "--role",
            "officer",
            "--name",
            "新网格员",
            "--cell",
            "991101001002001",
            "--password",
            "a-good-password",
        ],
    )
    assert created.exit_code == 0, created.output
    unknown = runner.invoke(
        users_cli,
        [
            "create",
            "t_bad",
            "--role",
            "officer",
            "--name",
            "x",
            "--cell",
            "000",
            "--password",
            "a-good-password",
        ],
    )
    assert unknown.exit_code != 0 and "000" in unknown.output
    short = runner.invoke(users_cli, ["passwd", "t_new_officer", "--password", "short"])
    assert short.exit_code != 0 and "密码太短" in short.output
    listed = runner.invoke(users_cli, ["list", "--role", "officer"])
    assert "t_new_officer" in listed.output
    revoked = runner.invoke(users_cli, ["revoke-tokens", "t_officer_a"])
    assert revoked.exit_code == 0
    user_id = db_session.execute(select(User.id).where(User.username == "t_officer_a")).scalar()
    live = db_session.execute(
        select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    ).all()
    assert live == []
