"""Choosing one's own password through the API (`POST /api/v1/auth/password`), how an officer
enrolled from the roster replaces the one-time password on the phone: `POST /auth/token` gives
a one-time password no token, the new password is checked by the same rules as on /account,
and every refusal leaves the account as it was. Also the devices' last-used time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from fieldapp.models import ApiToken, AuditEvent, User
from fieldapp.services import accounts
from tests import support

pytestmark = pytest.mark.usefixtures("people")
NEW = "my-own-secret-7"


@pytest.fixture
def enrolled(db_session: Session) -> tuple[User, str]:
    """An officer as the roster import leaves them: a one-time password to change."""
    return support.enrol_officer(db_session, "t_enrolled", "991101001003002", "新网格员")


def _tokens(db_session: Session, user: User) -> int:
    return db_session.execute(
        select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user.id)
    ).scalar_one()


def _change(app: Flask, lang: str = "en", **body: Any) -> Any:
    return app.test_client().post(f"/api/v1/auth/password?lang={lang}", json=body)


def test_a_one_time_password_gets_no_token_but_says_what_to_do(
    app: Flask, db_session: Session, enrolled: tuple[User, str]
) -> None:
    user, one_time = enrolled
    for lang, words in (("en", "one-time password"), ("zh", "一次性密码")):
        r = app.test_client().post(
            f"/api/v1/auth/token?lang={lang}",
            json={"username": "t_enrolled", "password": one_time, "device": "phone"},
        )
        assert r.status_code == 403, r.get_data(as_text=True)
        assert r.get_json()["error"]["code"] == "password_change_required"
        assert words in r.get_json()["error"]["message"]
    assert _tokens(db_session, user) == 0
    # The wrong password is still just wrong: the 403 tells nothing to a guesser.
    wrong = app.test_client().post(
        "/api/v1/auth/token", json={"username": "t_enrolled", "password": "not-it-at-all"}
    )
    assert wrong.status_code == 401


def test_choosing_a_password_signs_in_and_ends_the_one_time_password(
    app: Flask, db_session: Session, enrolled: tuple[User, str]
) -> None:
    user, one_time = enrolled
    r = _change(app, username="t_enrolled", password=one_time, new_password=NEW, device="phone")
    assert r.status_code == 201, r.get_data(as_text=True)
    token = r.get_json()["token"]
    assert r.get_json()["user"]["username"] == "t_enrolled"
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.get_json()["username"] == "t_enrolled"
    db_session.refresh(user)
    assert not user.must_change_password
    assert accounts.verify_password(user.password_hash, NEW)
    assert not accounts.verify_password(user.password_hash, one_time)
    actions = db_session.execute(
        select(AuditEvent.action).where(
            AuditEvent.object_type == "user", AuditEvent.object_id == str(user.id)
        )
    ).scalars()
    assert {"user.password", "token.issue"} <= set(actions)
    again = app.test_client().post(
        "/api/v1/auth/token", json={"username": "t_enrolled", "password": one_time}
    )
    assert again.status_code == 401
    signed_in = app.test_client().post(
        "/api/v1/auth/token", json={"username": "t_enrolled", "password": NEW}
    )
    assert signed_in.status_code == 201


@pytest.mark.parametrize(
    ("new_password", "words"),
    [
        ("short", "too short"),
        ("password123", "too common"),
        ("t_enrolled-2026", "username"),
    ],
)
def test_a_weak_new_password_is_refused_and_nothing_changes(
    app: Flask, db_session: Session, enrolled: tuple[User, str], new_password: str, words: str
) -> None:
    user, one_time = enrolled
    r = _change(app, username="t_enrolled", password=one_time, new_password=new_password)
    assert r.status_code == 400, r.get_data(as_text=True)
    error = r.get_json()["error"]
    assert error["code"] == "invalid_input" and words in error["message"]
    assert set(error["fields"]) == {"new_password"}
    db_session.refresh(user)
    assert user.must_change_password and accounts.verify_password(user.password_hash, one_time)
    assert _tokens(db_session, user) == 0


def test_the_same_password_again_is_refused_in_the_request_language(
    app: Flask, db_session: Session, enrolled: tuple[User, str]
) -> None:
    user, one_time = enrolled
    r = _change(app, "zh", username="t_enrolled", password=one_time, new_password=one_time)
    assert r.status_code == 400
    assert "相同" in r.get_json()["error"]["message"]
    assert r.get_json()["error"]["fields"]["new_password"]
    db_session.refresh(user)
    assert user.must_change_password


def test_a_wrong_current_password_is_a_counted_failed_sign_in(
    app: Flask, db_session: Session, enrolled: tuple[User, str]
) -> None:
    user, _one_time = enrolled
    r = _change(app, username="t_enrolled", password="guess-guess-1", new_password=NEW)
    assert r.status_code == 401
    failed = db_session.execute(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "login.failed", AuditEvent.object_id == "t_enrolled")
    ).scalar_one()
    assert failed == 1
    db_session.refresh(user)
    assert user.must_change_password


def test_changing_the_password_signs_out_the_other_devices(
    app: Flask, db_session: Session, people: dict[str, Any]
) -> None:
    user = db_session.execute(select(User).where(User.username == "t_officer_b")).scalar_one()
    old_token = accounts.issue_token(db_session, user, "old phone", datetime.now(UTC))
    db_session.flush()
    from tests.support import PASSWORD

    r = _change(app, username="t_officer_b", password=PASSWORD, new_password=NEW)
    assert r.status_code == 201
    old = app.test_client().get(
        "/api/v1/me", headers={"Authorization": f"Bearer {old_token.token}"}
    )
    assert old.status_code == 401


def test_a_device_shows_when_it_was_last_used(
    app: Flask, engine: Engine, people: dict[str, Any]
) -> None:
    """The clock moves in a transaction of its own (accounts.touch_token), so this test works
    on a committed token and writes through the engine, never through a test transaction
    that would hold the row."""
    token = str(people["officer_b"]["token"])
    with engine.connect() as connection:
        token_id = connection.execute(
            select(ApiToken.id).where(
                ApiToken.user_id == people["officer_b"]["id"], ApiToken.device == "pytest"
            )
        ).scalar_one()
    headers = {"Authorization": f"Bearer {token}"}

    def last_used() -> datetime | None:
        with engine.connect() as connection:
            return connection.execute(
                select(ApiToken.last_used_at).where(ApiToken.id == token_id)
            ).scalar_one()

    def set_last_used(value: datetime | None) -> None:
        with engine.begin() as connection:
            connection.execute(
                update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=value)
            )

    set_last_used(None)
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 200
    first = last_used()
    assert first is not None
    # Within TOUCH_EVERY the clock stays where it is (one write per token per few minutes).
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 200
    assert last_used() == first
    # Once it is older, the next use moves it on.
    long_ago = first - timedelta(hours=1)
    set_last_used(long_ago)
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 200
    moved = last_used()
    assert moved is not None and moved > long_ago
