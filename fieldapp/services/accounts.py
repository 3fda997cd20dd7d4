"""Accounts, passwords, device tokens and sign-in rate limiting.

Passwords are hashed with Argon2id (argon2-cffi, the reference implementation's binding).
Tokens are random 256-bit strings; only their SHA-256 is stored, so a database leak does not
hand out working tokens."""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import gettext as _
from sqlalchemy import Engine, func, inspect, select, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state

from fieldapp.models import ApiToken, Area, Cell, OfficerCell, User
from fieldapp.services import audit, websessions
from fieldapp.services.errors import InvalidInput, RateLimited, Unauthorized
from grid.direct import DirectStatement, fetch_one

ROLES = ("officer", "coordinator", "county", "city", "department", "admin")
# Which level of area each role is responsible for.
ROLE_AREA_LEVEL = {"coordinator": "township", "county": "county", "city": "city"}

TOKEN_LIFETIME = timedelta(days=30)

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password_strength(password: str) -> None:
    if len(password) < 8:
        raise InvalidInput(
            _("The password is too short."),
            {"password": _("At least 8 characters.")},
        )


def create_user(
    session: Session,
    *,
    username: str,
    password: str | None,
    role: str,
    display_name: str,
    area_code: str | None = None,
    cell_codes: Iterable[str] = (),
    department_id: int | None = None,
    actor_id: int | None = None,
) -> User:
    """Create an account; officers get their cells, area roles their area."""
    if role not in ROLES:
        raise InvalidInput(_("Unknown role."), {"role": ", ".join(ROLES)})
    if session.execute(select(User.id).where(User.username == username)).first():
        raise InvalidInput(_("This username is taken."), {"username": username})
    area_id = None
    if area_code:
        area = session.execute(select(Area).where(Area.code == area_code)).scalar_one_or_none()
        if area is None or area.level != ROLE_AREA_LEVEL.get(role, area.level):
            raise InvalidInput(
                _("No such area for this role."),
                {"area": _("A %(level)s code.", level=ROLE_AREA_LEVEL.get(role, "area"))},
            )
        area_id = area.id
    elif role in ROLE_AREA_LEVEL:
        raise InvalidInput(_("This role needs an area."), {"area": _("Required.")})
    if password is not None:
        check_password_strength(password)
    user = User(
        username=username,
        display_name=display_name,
        role=role,
        area_id=area_id,
        department_id=department_id,
        password_hash=hash_password(password) if password else None,
        active=True,
    )
    session.add(user)
    session.flush()
    codes = list(cell_codes)
    if codes:
        cells = dict(session.execute(select(Cell.code, Cell.id).where(Cell.code.in_(codes))).all())
        unknown = sorted(set(codes) - set(cells))
        if unknown:
            raise InvalidInput(_("Unknown cell codes."), {"cells": ", ".join(unknown)})
        session.add_all(OfficerCell(user_id=user.id, cell_id=cells[c]) for c in codes)
    audit.record(
        session,
        actor_id=actor_id,
        action="user.create",
        object_type="user",
        object_id=user.id,
        details={"username": username, "role": role},
    )
    return user


def set_password(session: Session, user: User, password: str, actor_id: int | None) -> None:
    check_password_strength(password)
    user.password_hash = hash_password(password)
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    # A new password signs the user out of every browser too (the caller signs the current
    # browser in again when the user changed it themselves).
    websessions.end_all(session, user.id, "password")
    audit.record(
        session, actor_id=actor_id, action="user.password", object_type="user", object_id=user.id
    )


def replace_own_password(
    session: Session, user: User, current: str, new: str, *, phone: str | None
) -> None:
    """The user's own `new` password in place of `current` (which the caller has verified):
    refused (InvalidInput on `new_password`) when it is the same or breaks a rule of
    fieldapp.services.passwords. Every device and browser of the user is signed out
    (set_password), and a one-time password no longer has to be changed."""
    from fieldapp.services import passwords

    if new == current:
        raise InvalidInput(
            _("Choose a password different from the current one."),
            {"new_password": _("Choose something else.")},
        )
    passwords.check_strength(new, username=user.username, phone=phone)
    set_password(session, user, new, actor_id=user.id)
    user.must_change_password = False


def authenticate(
    session: Session, username: str, password: str, remote_addr: str | None, now: datetime
) -> User:
    """The user for valid credentials, with sign-in throttling (fieldapp.services.signin_limits).

    The attempt is counted and committed before the password is checked (so parallel guesses
    each see the others); over a limit it raises RateLimited without checking the password.
    An unknown or inactive username costs the same Argon2 verification as a real one, so the
    answer's timing does not tell which usernames exist. Failures and the first refusal of
    a window are audited and committed here, whatever the caller does next."""
    from fieldapp.services import signin_limits

    k = signin_limits.keys(username, remote_addr)
    counts, known = signin_limits.reserve(session, k, now)
    session.commit()  # release the counter rows before the slow part
    refusal = signin_limits.decide(counts, known, now)
    if refusal is not None:
        if refusal.first:
            _audit_signin(session, "login.locked", username, remote_addr, refusal.limit.scope)
            session.commit()
        raise RateLimited(
            _(
                "Too many failed sign-ins. Try again in %(minutes)d minutes.",
                minutes=max(1, -(-refusal.retry_after_s // 60)),
            ),
            retry_after_s=refusal.retry_after_s,
        )
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    usable = user is not None and user.active and bool(user.password_hash)
    # Always one Argon2 verification: a dummy hash stands in for a missing one.
    valid = verify_password(
        user.password_hash if usable and user is not None else _dummy_hash(), password
    )
    if user is None or not usable or not valid:
        reason = "unknown_user" if user is None else "wrong_password" if usable else "inactive"
        _audit_signin(session, "login.failed", username, remote_addr, reason)
        session.commit()
        raise Unauthorized(_("Wrong username or password."))
    signin_limits.succeeded(session, k, now)
    return user


@functools.cache
def _dummy_hash() -> str:
    """An Argon2 hash of a random password, with the same parameters as real ones."""
    return _hasher.hash(secrets.token_hex(16))


def _audit_signin(
    session: Session, action: str, username: str, remote_addr: str | None, reason: str
) -> None:
    audit.record(
        session,
        actor_id=None,
        action=action,
        object_type="signin",
        object_id=username[:64],
        remote_addr=remote_addr,
        details={"reason": reason},
    )


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, device: str, now: datetime) -> IssuedToken:
    token = secrets.token_urlsafe(32)
    expires_at = now + TOKEN_LIFETIME
    session.add(
        ApiToken(
            user_id=user.id,
            device=device[:100] or "unknown",
            token_sha256=_digest(token),
            expires_at=expires_at,
        )
    )
    audit.record(
        session,
        actor_id=user.id,
        action="token.issue",
        object_type="user",
        object_id=user.id,
        details={"device": device[:100]},
    )
    return IssuedToken(token, expires_at)


# Every API call checks its token: the lookup runs on psycopg directly (grid.direct) and the
# user is put into the session as if loaded by a query, without SQLAlchemy's per-statement and
# per-row ORM work, which cost more than the rest of the lookup (cf. benchmarks/bench_intake.py).
_USER_ATTRIBUTES = [(a.key, a.columns[0].name) for a in inspect(User).column_attrs]
# In the statement's text, not a parameter: one value less to send with every API call.
_TOUCH_EVERY_S = int(websessions.TOUCH_EVERY.total_seconds())
_USER_FOR_TOKEN = DirectStatement(
    f"""
    SELECT t.id,
           t.last_used_at IS NULL
               OR t.last_used_at <= :now - interval '{_TOUCH_EVERY_S} s',
           {", ".join("u." + column for _key, column in _USER_ATTRIBUTES)}
    FROM api_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.token_sha256 = :digest AND t.revoked_at IS NULL AND t.expires_at > :now
      AND u.active
    """
)


@dataclass(frozen=True)
class TokenUser:
    user: User
    token_id: int
    touch: bool
    """Whether the token's last_used_at is older than websessions.TOUCH_EVERY (or unset) and
    should be moved on (touch_token)."""


def user_for_token(session: Session, token: str, now: datetime) -> TokenUser | None:
    """The active user of a valid (known, unexpired, unrevoked) token, and the token's id."""
    row = fetch_one(session, _USER_FOR_TOKEN, {"digest": _digest(token), "now": now})
    if row is None:
        return None
    values = {key: value for (key, _column), value in zip(_USER_ATTRIBUTES, row[2:], strict=True)}
    return TokenUser(_persistent_user(session, values), int(row[0]), bool(row[1]))


def touch_token(engine: Engine, token_id: int) -> None:
    """Move the token's last_used_at on (shown in the user's list of devices), in a transaction
    of its own like websessions.touch: a read commits nothing, and a refused write must not
    take the clock back with it. At most once per TOUCH_EVERY per token, so intake pays for
    it once in a while, not per report."""
    with engine.begin() as connection:
        connection.execute(
            update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=func.now())
        )


def _persistent_user(session: Session, values: dict[str, object]) -> User:
    """The User of a whole `users` row read directly, in the session as if a query had loaded
    it (SQLAlchemy's documented way to bring in objects from elsewhere: all attributes set, so
    nothing is expired or lazy-loaded, and it is clean: only later changes are flushed)."""
    key = _USER_MAPPER.identity_key_from_primary_key((values["id"],))
    known = session.identity_map.get(key)
    if known is not None:
        return cast(User, known)
    # The values go straight into the instance's dict, as the ORM's own loading does: the
    # constructor's per-attribute events (history for a flush that has nothing to write)
    # cost more than the rest of this function.
    user = cast(User, _USER_MAPPER.class_manager.new_instance())
    instance_state(user).dict.update(values)
    make_transient_to_detached(user)
    session.add(user)
    return user


_USER_MAPPER = inspect(User)


def token_row(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    assert token is not None  # user_for_token found it in this request
    return token


def revoke_token(session: Session, token_row: ApiToken, actor_id: int) -> None:
    token_row.revoked_at = datetime.now(UTC)
    audit.record(
        session,
        actor_id=actor_id,
        action="token.revoke",
        object_type="user",
        object_id=token_row.user_id,
        details={"device": token_row.device},
    )


def revoke_all_tokens(session: Session, user: User, actor_id: int | None) -> int:
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    # A lost phone may hold a web sign-in as well as the app's token.
    websessions.end_all(session, user.id, "revoked")
    audit.record(
        session, actor_id=actor_id, action="token.revoke_all", object_type="user", object_id=user.id
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def me_json(session: Session, user: User) -> dict[str, Any]:
    """The signed-in user as `GET /api/v1/me` answers: their area (staff) and the grid cells
    they are responsible for (officers), each with its village and township."""
    area = session.get(Area, user.area_id) if user.area_id else None
    township, village = Area.__table__.alias("t"), Area.__table__.alias("v")
    rows = session.execute(
        select(
            Cell.id,
            Cell.code,
            Cell.name,
            village.c.code,
            village.c.name,
            township.c.code,
            township.c.name,
        )
        .join(OfficerCell, OfficerCell.cell_id == Cell.id)
        .join(village, village.c.id == Cell.village_id)
        .join(township, township.c.id == Cell.township_id)
        .where(OfficerCell.user_id == user.id)
        .order_by(Cell.code)
    ).all()
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "area": {"code": area.code, "name": area.name, "level": area.level} if area else None,
        "cells": [
            {
                "id": r[0],
                "code": r[1],
                "name": r[2],
                "village": {"code": r[3], "name": r[4]},
                "township": {"code": r[5], "name": r[6]},
            }
            for r in rows
        ],
    }
