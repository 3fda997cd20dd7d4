"""Looking after people (the /admin/people pages): who may manage whom, finding a person, and
the changes an administrator makes — reset a password, deactivate or reactivate, move an
officer to other cells, sign out a lost phone. Every change is audited.

Scope: admins manage everyone; county staff manage the officers, coordinators and department
staff of their own county (not other county or city staff, nor admins). Other roles manage
nobody."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, delete, exists, false, func, or_, select, true, update
from sqlalchemy.orm import Session

from fieldapp.crypto import keyring_outside_app
from fieldapp.models import (
    ApiToken,
    Area,
    AuditEvent,
    Cell,
    Checkin,
    Department,
    OfficerCell,
    RosterPerson,
    User,
)
from fieldapp.privacy import mask_id_number, mask_phone
from fieldapp.services import audit, roster, websessions
from fieldapp.services.errors import Forbidden, InvalidInput, NotFound
from fieldapp.services.party_data import user_phone

MANAGER_ROLES = frozenset({"admin", "county"})
#: The roles county staff may manage inside their county.
COUNTY_MANAGED_ROLES = ("officer", "coordinator", "department")
SEARCH_LIMIT = 100
#: Ids are PostgreSQL integers: a larger number in a URL is simply not found (not a 500).
MAX_ID = 2**31 - 1


# Who looks after people: admins everywhere, county staff within their county.
PEOPLE_ROLES = frozenset({"admin", "county"})


def may_manage_people(user: User) -> bool:
    return user.role in PEOPLE_ROLES and (user.role == "admin" or user.area_id is not None)


def people_filter(actor: User) -> ColumnElement[bool]:
    """A WHERE clause on users: the people `actor` may see and change."""
    if actor.role == "admin":
        return true()
    if actor.role != "county" or actor.area_id is None:
        return false()
    county = actor.area_id
    officer_in = exists(
        select(OfficerCell.id)
        .join(Cell, Cell.id == OfficerCell.cell_id)
        .where(OfficerCell.user_id == User.id, Cell.county_id == county)
    )
    coordinator_in = User.area_id.in_(
        select(Area.id).where(Area.parent_id == county, Area.level == "township")
    )
    department_in = User.department_id.in_(
        select(Department.id).where(Department.area_id == county)
    )
    return or_(
        and_(User.role == "officer", officer_in),
        and_(User.role == "coordinator", coordinator_in),
        and_(User.role == "department", department_in),
    )


def find(session: Session, actor: User, query: str, role: str | None) -> list[User]:
    """People in scope matching `query` (part of the name or of the username, which is the
    phone unless the roster named another; or a cell code exactly), at most SEARCH_LIMIT."""
    stmt = select(User).where(people_filter(actor))
    q = query.strip()
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        in_cell = exists(
            select(OfficerCell.id)
            .join(Cell, Cell.id == OfficerCell.cell_id)
            .where(OfficerCell.user_id == User.id, Cell.code == q)
        )
        stmt = stmt.where(
            or_(
                User.display_name.ilike(pattern),
                # Phones are encrypted (fieldapp.crypto): found through the username, which is
                # the phone unless the roster names another.
                User.username.ilike(pattern),
                in_cell,
            )
        )
    if role:
        stmt = stmt.where(User.role == role)
    return list(session.execute(stmt.order_by(User.username).limit(SEARCH_LIMIT)).scalars())


def get_person(session: Session, actor: User, user_id: int) -> User:
    """The person, if `actor` may manage them: NotFound otherwise (not Forbidden: whether
    someone outside the scope exists is not the actor's business)."""
    if not may_manage_people(actor):
        raise Forbidden(_("Only administrators and county staff manage people."))
    if not 0 < user_id <= MAX_ID:
        raise NotFound(_("No such person in your area."))
    user = session.execute(
        select(User).where(User.id == user_id, people_filter(actor))
    ).scalar_one_or_none()
    if user is None:
        raise NotFound(_("No such person in your area."))
    return user


@dataclass(frozen=True)
class PersonView:
    user: User
    cells: list[tuple[str, str]]
    """(code, name) of an officer's cells."""
    area: str | None
    department: str | None
    last_checkin: datetime | None
    last_signin: datetime | None
    phone_masked: str | None
    id_number_masked: str | None
    devices: list[ApiToken]


def person_view(session: Session, user: User, now: datetime) -> PersonView:
    cells = [
        (code, name)
        for code, name in session.execute(
            select(Cell.code, Cell.name)
            .join(OfficerCell, OfficerCell.cell_id == Cell.id)
            .where(OfficerCell.user_id == user.id)
            .order_by(Cell.code)
        )
    ]
    area = session.execute(select(Area.name).where(Area.id == user.area_id)).scalar()
    department = session.execute(
        select(Department.name).where(Department.id == user.department_id)
    ).scalar()
    last_checkin = session.execute(
        select(func.max(Checkin.checked_in_at)).where(Checkin.officer_id == user.id)
    ).scalar()
    last_signin = session.execute(
        select(func.max(AuditEvent.at)).where(
            AuditEvent.actor_id == user.id, AuditEvent.action.in_(("login", "token.issue"))
        )
    ).scalar()
    stored = session.execute(
        select(RosterPerson.id_number).where(RosterPerson.user_id == user.id)
    ).scalar()
    return PersonView(
        user,
        cells,
        area,
        department,
        last_checkin,
        last_signin,
        mask_phone(user_phone(keyring_outside_app(), user.phone)),
        mask_id_number(roster.read_id_number(stored)),
        live_devices(session, user.id, now),
    )


def live_devices(session: Session, user_id: int, now: datetime) -> list[ApiToken]:
    """A user's signed-in devices (unrevoked, unexpired API tokens), newest first."""
    return list(
        session.execute(
            select(ApiToken)
            .where(
                ApiToken.user_id == user_id,
                ApiToken.revoked_at.is_(None),
                ApiToken.expires_at > now,
            )
            .order_by(ApiToken.created_at.desc())
        ).scalars()
    )


def reset_password(session: Session, actor: User, user: User, remote_addr: str | None) -> str:
    """A new one-time password (shown once; must be changed at first sign-in). Signs the
    person out of every browser and device."""
    password = roster.one_time_password()
    user.password_hash = roster.hash_one_time(password)
    user.must_change_password = True
    _sign_out_everywhere(session, user, "password")
    audit.record(
        session,
        actor_id=actor.id,
        action="user.password_reset",
        object_type="user",
        object_id=user.id,
        remote_addr=remote_addr,
    )
    return password


def set_active(
    session: Session, actor: User, user: User, active: bool, remote_addr: str | None
) -> None:
    if user.id == actor.id:
        raise InvalidInput(_("You cannot deactivate yourself."), {"user": str(user.id)})
    if user.active == active:
        return
    user.active = active
    if not active:
        _sign_out_everywhere(session, user, "deactivated")
    audit.record(
        session,
        actor_id=actor.id,
        action="user.reactivate" if active else "user.deactivate",
        object_type="user",
        object_id=user.id,
        remote_addr=remote_addr,
    )


def revoke_devices(session: Session, actor: User, user: User, remote_addr: str | None) -> int:
    """A lost phone: every device token and browser session of the person ends."""
    count = _sign_out_everywhere(session, user, "revoked")
    audit.record(
        session,
        actor_id=actor.id,
        action="token.revoke_all",
        object_type="user",
        object_id=user.id,
        remote_addr=remote_addr,
        details={"tokens": count},
    )
    return count


def move_cells(
    session: Session, actor: User, user: User, codes: list[str], remote_addr: str | None
) -> None:
    """Give an officer these cells instead of their current ones. Their reports stay theirs
    (reports keep the officer and the cell they were filed in)."""
    if user.role != "officer":
        raise InvalidInput(_("Only officers have cells."), {"cells": user.role})
    unique = list(dict.fromkeys(c for c in codes if c))
    if not unique:
        raise InvalidInput(_("Give at least one cell code."), {"cells": _("Required.")})
    found = {
        code: (cid, township, county)
        for code, cid, township, county in session.execute(
            select(Cell.code, Cell.id, Cell.township_id, Cell.county_id).where(
                Cell.code.in_(unique)
            )
        )
    }
    unknown = [c for c in unique if c not in found]
    if unknown:
        raise InvalidInput(_("No such cell code."), {"cells": "；".join(unknown)})
    if actor.role != "admin" and any(v[2] != actor.area_id for v in found.values()):
        raise InvalidInput(_("These cells are outside your county."), {"cells": "；".join(unique)})
    if len({v[1] for v in found.values()}) > 1:
        raise InvalidInput(
            _("These cells are in different townships; an officer works in one."),
            {"cells": "；".join(unique)},
        )
    before = [
        code
        for (code,) in session.execute(
            select(Cell.code)
            .join(OfficerCell, OfficerCell.cell_id == Cell.id)
            .where(OfficerCell.user_id == user.id)
            .order_by(Cell.code)
        )
    ]
    if sorted(before) == sorted(unique):
        return
    session.execute(delete(OfficerCell).where(OfficerCell.user_id == user.id))
    session.add_all(OfficerCell(user_id=user.id, cell_id=found[c][0]) for c in unique)
    audit.record(
        session,
        actor_id=actor.id,
        action="user.cells",
        object_type="user",
        object_id=user.id,
        remote_addr=remote_addr,
        details={"from": before, "to": unique},
    )


def _sign_out_everywhere(session: Session, user: User, reason: str) -> int:
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    websessions.end_all(session, user.id, reason)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
