"""Importing the roster spreadsheet (花名册) and looking after people (fieldapp.roster_file reads
and checks the file; this module compares it with the database and applies the differences).

- All or nothing: the whole file is checked first; with any problem nothing is written, and
  the caller's single transaction holds every write of an import.
- Idempotent: people are matched by username (the phone unless the file names one); a
  re-import of the same file finds nothing to change and writes nothing but its audit line.
- Differences: new people are created with a one-time password (must be changed at first
  sign-in), changed names/phones/roles/areas/cells are updated (an officer's reports stay
  theirs), and people the roster managed before who are missing from the file, or whose
  离岗日期 has passed, are deactivated: signed out everywhere, their open cases listed for
  reassignment.
- Audited: one audit event per person changed, and one for the import."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from argon2 import PasswordHasher
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from fieldapp.crypto import keyring_outside_app
from fieldapp.models import (
    ApiToken,
    Area,
    AuditEvent,
    Cell,
    Department,
    OfficerCell,
    Report,
    RosterPerson,
    User,
)
from fieldapp.roster_file import (
    CellInfo,
    Parsed,
    Problem,
    RosterRow,
    check_codes,
    parse,
    read_table,
)
from fieldapp.services import websessions
from fieldapp.services.party_data import stored_user_phone, user_phone
from fieldapp.workflow import OPEN_STATES

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total): stages "read", "check", "write"."""

# One-time passwords are random (ONE_TIME_ALPHABET ** ONE_TIME_LENGTH ≈ 2**69), not chosen
# by a person, so a light Argon2 is enough to make a stolen hash useless, and 5,000 of them
# hash in about 2 s instead of about an hour at the cost tuned for human passwords
# (measured 0.4 ms vs 685 ms per hash on the 2-core test machine).
ONE_TIME_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
ONE_TIME_LENGTH = 12
_one_time_hasher = PasswordHasher(time_cost=1, memory_cost=256, parallelism=1)


def one_time_password() -> str:
    """A random password to print, grouped in fours for reading aloud (abcd-efgh-jkmn)."""
    raw = "".join(secrets.choice(ONE_TIME_ALPHABET) for _ in range(ONE_TIME_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, ONE_TIME_LENGTH, 4))


def hash_one_time(password: str) -> str:
    return _one_time_hasher.hash(password)


ROSTER_ID_NUMBER_COLUMN = "roster_people.id_number"


def store_id_number(value: str | None) -> str | None:
    """The one place an ID number is turned into what the column holds: encrypted at the
    field level (fieldapp.crypto, key outside the database), as parties' are."""
    return keyring_outside_app().encrypt(value or None, ROSTER_ID_NUMBER_COLUMN)


def read_id_number(stored: str | None) -> str | None:
    return keyring_outside_app().decrypt(stored, ROSTER_ID_NUMBER_COLUMN)


@dataclass
class Change:
    username: str
    name: str
    role: str
    fields: list[str] = field(default_factory=list)
    open_cases: list[tuple[str, str]] = field(default_factory=list)
    """(report id, title) of the open cases a deactivated officer filed."""


@dataclass
class NewAccount:
    username: str
    name: str
    role: str
    place: str
    """Cells or area code, for the printed sheet."""
    password: str | None
    """None for a person created already gone (离岗日期 passed): no sign-in."""


@dataclass
class ImportResult:
    filename: str
    rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    created: list[NewAccount] = field(default_factory=list)
    updated: list[Change] = field(default_factory=list)
    deactivated: list[Change] = field(default_factory=list)
    reactivated: list[Change] = field(default_factory=list)
    reissued: list[NewAccount] = field(default_factory=list)
    """People reactivated who had no password (created already gone): a one-time password."""
    unchanged: int = 0
    applied: bool = False
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def new_passwords(self) -> list[NewAccount]:
        """Every one-time password of this import, for the printed sheet."""
        return [a for a in self.created + self.reissued if a.password]

    @property
    def changes(self) -> int:
        return len(self.created) + len(self.updated) + len(self.deactivated) + len(self.reactivated)


@dataclass
class _Target:
    row: RosterRow
    area_id: int | None
    department_id: int | None
    cell_ids: frozenset[int]
    active: bool


def import_roster(
    session: Session,
    data: bytes,
    filename: str,
    *,
    actor_id: int | None,
    today: date,
    dry_run: bool = False,
    remote_addr: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Check `data` (xlsx or CSV) and, when it has no problem and `dry_run` is false, apply it.
    Raises roster_file.RosterFileError for a file that cannot be read at all. The caller
    commits (one transaction: nothing is written when it rolls back)."""
    report = progress or (lambda _stage, _done, _total: None)
    result = ImportResult(filename)
    clock = time.perf_counter()
    parsed = parse(read_table(data, filename), lambda done: report("read", done, 0))
    result.rows = len(parsed.rows)
    report("read", result.rows, result.rows)
    result.seconds["read"] = time.perf_counter() - clock

    clock = time.perf_counter()
    cells, areas, departments = _lookups(session)
    result.problems = parsed.problems + check_codes(parsed, cells, areas, departments)
    result.problems.sort(key=lambda p: (p.row, p.column))
    report("check", result.rows, result.rows)
    result.seconds["check"] = time.perf_counter() - clock
    if result.problems:
        return result

    clock = time.perf_counter()
    targets = [_target(r, cells, areas, departments, today) for r in parsed.rows]
    _plan_and_apply(session, result, parsed, targets, actor_id, dry_run, remote_addr, report)
    result.seconds["write"] = time.perf_counter() - clock
    result.applied = not dry_run
    return result


def _lookups(
    session: Session,
) -> tuple[dict[str, CellInfo], dict[str, tuple[int, str]], dict[str, int]]:
    cells = {
        code: CellInfo(cid, township, county)
        for code, cid, township, county in session.execute(
            select(Cell.code, Cell.id, Cell.township_id, Cell.county_id)
        )
    }
    areas = {
        code: (aid, level)
        for code, aid, level in session.execute(select(Area.code, Area.id, Area.level))
    }
    departments = {
        code: did for code, did in session.execute(select(Department.code, Department.id))
    }
    return cells, areas, departments


def _target(
    row: RosterRow,
    cells: dict[str, CellInfo],
    areas: dict[str, tuple[int, str]],
    departments: dict[str, int],
    today: date,
) -> _Target:
    area_id = areas[row.area][0] if row.role in ("coordinator", "county", "city") else None
    department_id = departments[row.area] if row.role == "department" else None
    return _Target(
        row,
        area_id,
        department_id,
        frozenset(cells[c].id for c in row.cells),
        active=row.end is None or row.end > today,
    )


def _plan_and_apply(
    session: Session,
    result: ImportResult,
    parsed: Parsed,
    targets: list[_Target],
    actor_id: int | None,
    dry_run: bool,
    remote_addr: str | None,
    report: Progress,
) -> None:
    usernames = [t.row.username for t in targets]
    # Two plain lookups: the people named in the file, and everyone the roster managed
    # before (candidates for deactivation). One query with OR would scan every user.
    existing = {
        u.username: u
        for u in session.execute(select(User).where(User.username.in_(usernames))).scalars()
    }
    for u in session.execute(
        select(User).join(RosterPerson, RosterPerson.user_id == User.id)
    ).scalars():
        existing.setdefault(u.username, u)
    ids = [u.id for u in existing.values()]
    cells_of: dict[int, set[int]] = {}
    for user_id, cell_id in session.execute(
        select(OfficerCell.user_id, OfficerCell.cell_id).where(OfficerCell.user_id.in_(ids))
    ):
        cells_of.setdefault(user_id, set()).add(cell_id)
    roster_of = {
        p.user_id: p
        for p in session.execute(
            select(RosterPerson).where(RosterPerson.user_id.in_(ids))
        ).scalars()
    }
    audits: list[dict[str, Any]] = []

    def audit(action: str, user_id: int, details: dict[str, Any]) -> None:
        audits.append(
            {
                "actor_id": actor_id,
                "action": action,
                "object_type": "user",
                "object_id": str(user_id),
                "remote_addr": remote_addr,
                "details": {"via": "roster", **details},
            }
        )

    new_targets = [t for t in targets if t.row.username not in existing]
    for t in targets:
        user = existing.get(t.row.username)
        if user is None:
            continue
        changed = _changed_fields(user, t, cells_of.get(user.id, set()), roster_of.get(user.id))
        if not changed and user.active == t.active:
            result.unchanged += 1
            continue
        change = Change(user.username, t.row.name, t.row.role, changed)
        if user.active and not t.active:
            result.deactivated.append(change)
            action = "user.deactivate"
        elif not user.active and t.active:
            result.reactivated.append(change)
            action = "user.reactivate"
        else:
            result.updated.append(change)
            action = "user.update"
        if dry_run:
            continue
        _apply_update(session, user, t, cells_of.get(user.id, set()), roster_of.get(user.id))
        if user.active and not t.active:
            _deactivate(session, user, "roster")
        if t.active and user.password_hash is None:
            password = one_time_password()
            user.password_hash = hash_one_time(password)
            user.must_change_password = True
            place = "；".join(t.row.cells) or t.row.area
            result.reissued.append(
                NewAccount(user.username, t.row.name, t.row.role, place, password)
            )
        user.active = t.active
        audit(action, user.id, {"fields": changed})

    in_file = set(usernames)
    for user in existing.values():
        if user.username in in_file or not user.active or user.id == actor_id:
            continue
        if user.id not in roster_of:
            continue
        change = Change(user.username, user.display_name, user.role, ["missing"])
        result.deactivated.append(change)
        if not dry_run:
            user.active = False
            _deactivate(session, user, "roster")
            audit("user.deactivate", user.id, {"reason": "not in roster"})

    left = {c.username for c in result.deactivated}
    left_ids = [u.id for u in existing.values() if u.username in left]
    if left_ids:
        by_officer: dict[int, list[tuple[str, str]]] = {}
        for officer_id, report_id, title in session.execute(
            select(Report.officer_id, Report.id, Report.title)
            .where(Report.officer_id.in_(left_ids), Report.status.in_(list(OPEN_STATES)))
            .order_by(Report.reported_at)
        ):
            by_officer.setdefault(officer_id, []).append((str(report_id), title))
        ids_by_name = {u.username: u.id for u in existing.values()}
        for change in result.deactivated:
            change.open_cases = by_officer.get(ids_by_name[change.username], [])

    _create(session, result, new_targets, dry_run, audit, report)
    if not dry_run:
        if audits:
            _copy_audits(session, audits)
        session.add(
            AuditEvent(
                actor_id=actor_id,
                action="roster.import",
                object_type="roster",
                object_id=result.filename[:64],
                remote_addr=remote_addr,
                details={
                    "rows": result.rows,
                    "created": len(result.created),
                    "updated": len(result.updated),
                    "deactivated": len(result.deactivated),
                    "reactivated": len(result.reactivated),
                    "unchanged": result.unchanged,
                },
            )
        )
        session.flush()
    del parsed


def _changed_fields(
    user: User, t: _Target, cell_ids: set[int], person: RosterPerson | None
) -> list[str]:
    row = t.row
    changed = []
    if user.display_name != row.name:
        changed.append("name")
    if user_phone(keyring_outside_app(), user.phone) != (row.phone or None):
        changed.append("phone")
    if user.role != row.role:
        changed.append("role")
    if user.area_id != t.area_id:
        changed.append("area")
    if user.department_id != t.department_id:
        changed.append("department")
    if cell_ids != set(t.cell_ids):
        changed.append("cells")
    stored_id = (read_id_number(person.id_number) if person else None) or ""
    if stored_id != row.id_number:
        changed.append("id_number")
    dates = (person.start_date, person.end_date) if person else (None, None)
    if dates != (row.start, row.end):
        changed.append("dates")
    if person is None:
        changed.append("roster")
    return changed


def _apply_update(
    session: Session, user: User, t: _Target, cell_ids: set[int], person: RosterPerson | None
) -> None:
    row = t.row
    user.display_name = row.name
    user.phone = stored_user_phone(keyring_outside_app(), row.phone)
    user.role = row.role
    user.area_id = t.area_id
    user.department_id = t.department_id
    gone = cell_ids - t.cell_ids
    if gone:
        session.execute(
            delete(OfficerCell).where(OfficerCell.user_id == user.id, OfficerCell.cell_id.in_(gone))
        )
    for cell_id in sorted(t.cell_ids - cell_ids):
        session.add(OfficerCell(user_id=user.id, cell_id=cell_id))
    if person is None:
        person = RosterPerson(user_id=user.id)
        session.add(person)
    person.id_number = store_id_number(row.id_number)
    person.start_date, person.end_date = row.start, row.end
    person.updated_at = func.now()


def _deactivate(session: Session, user: User, reason: str) -> None:
    """Sign someone who left out everywhere: web sessions and device tokens."""
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    websessions.end_all(session, user.id, reason)


def _create(
    session: Session,
    result: ImportResult,
    targets: list[_Target],
    dry_run: bool,
    audit: Callable[[str, int, dict[str, Any]], None],
    report: Progress,
) -> None:
    """New accounts in bulk (one multi-row INSERT per table, not one per person)."""
    if not targets:
        return
    user_rows: list[dict[str, Any]] = []
    ring = keyring_outside_app()
    total = len(targets)
    for done, t in enumerate(targets, start=1):
        row = t.row
        password = one_time_password() if t.active else None
        result.created.append(
            NewAccount(
                row.username,
                row.name,
                row.role,
                "；".join(row.cells) or row.area,
                password,
            )
        )
        if dry_run:
            continue
        user_rows.append(
            {
                "username": row.username,
                "display_name": row.name,
                "role": row.role,
                "area_id": t.area_id,
                "department_id": t.department_id,
                "phone": stored_user_phone(ring, row.phone),
                "password_hash": hash_one_time(password) if password else None,
                "active": t.active,
                "must_change_password": True,
            }
        )
        if done % 500 == 0:
            report("write", done, total)
    if dry_run:
        return
    ids = _copy_people(session, user_rows, targets)
    for uid, t in zip(ids, targets, strict=True):
        audit("user.create", uid, {"username": t.row.username, "role": t.row.role})
    report("write", total, total)


_LEVEL_NAMES = {
    "township": _l("township (乡镇/街道)"),
    "county": _l("county-level unit (区县)"),
    "city": _l("city (市)"),
}


def describe(problem: Problem) -> str:
    """What a problem code means, in the reader's language."""
    code, _sep, arg = problem.message.partition(":")
    messages = {
        "unknown_column": _("Unknown column: rename it as in the template or remove it."),
        "duplicate_column": _("This column appears twice."),
        "missing_column": _("A required column is missing."),
        "required": _("Required."),
        "too_long": _("Too long (at most 100 characters)."),
        "phone_format": _("Not a mobile number (11 digits starting with 1)."),
        "unknown_role": _(
            "Unknown role: use 网格员, 信访专干, 区县工作人员, 市级工作人员, "
            "部门工作人员 or 管理员."
        ),
        "username_format": _("A username is 3–64 letters, digits, dots, dashes or underscores."),
        "cell_twice_in_row": _("This cell code is given twice."),
        "cells_required": _("An officer needs at least one cell code."),
        "cells_only_for_officers": _("Only officers have cell codes; give an area code instead."),
        "area_required": _("This role needs an area code (a department code for departments)."),
        "id_number_format": _("Not a valid resident ID number (18 characters, check digit)."),
        "date_format": _("Not a date between 2000 and 2100 (e.g. 2024-03-01)."),
        "end_before_start": _("The end date is before the start date."),
        "unknown_cell": _("No such cell code."),
        "two_townships": _("These cells are in different townships; an officer works in one."),
        "unknown_area": _("No such area code."),
        "unknown_department": _("No such department code."),
    }
    if code == "duplicate_person":
        return _("The same person as in row %(row)s.", row=arg)
    if code == "cell_taken":
        return _("This cell is already given to the person in row %(row)s.", row=arg)
    if code == "area_level":
        return _("This role needs the code of a %(level)s.", level=_LEVEL_NAMES.get(arg, arg))
    return messages.get(code, code)


_USER_COLUMNS = (
    "id",
    "username",
    "display_name",
    "role",
    "area_id",
    "department_id",
    "phone",
    "password_hash",
    "active",
    "must_change_password",
)


def _copy_people(
    session: Session, user_rows: list[dict[str, Any]], targets: list[_Target]
) -> list[int]:
    """Write new people with PostgreSQL COPY (psycopg 3's cursor.copy, in the session's own
    transaction): ids drawn from the users sequence first, then users, their cells and
    roster facts. A multi-row INSERT of 5,000 users spent more CPU composing its statement
    than the database spent storing the rows."""
    ids: list[int] = list(
        session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('users', 'id')) FROM generate_series(1, :n)"
            ),
            {"n": len(user_rows)},
        ).scalars()
    )
    driver: Any = session.connection().connection.driver_connection
    with driver.cursor() as cursor:
        with cursor.copy(f"COPY users ({', '.join(_USER_COLUMNS)}) FROM STDIN") as copy:
            for uid, row in zip(ids, user_rows, strict=True):
                copy.write_row([uid, *(row[c] for c in _USER_COLUMNS[1:])])
        with cursor.copy("COPY officer_cells (user_id, cell_id) FROM STDIN") as copy:
            for uid, t in zip(ids, targets, strict=True):
                for cell_id in sorted(t.cell_ids):
                    copy.write_row((uid, cell_id))
        with cursor.copy(
            "COPY roster_people (user_id, id_number, start_date, end_date) FROM STDIN"
        ) as copy:
            for uid, t in zip(ids, targets, strict=True):
                copy.write_row((uid, store_id_number(t.row.id_number), t.row.start, t.row.end))
    return [int(i) for i in ids]


def _copy_audits(session: Session, audits: list[dict[str, Any]]) -> None:
    """The import's per-person audit events, by COPY (as _copy_people)."""
    session.flush()
    driver: Any = session.connection().connection.driver_connection
    columns = ("actor_id", "action", "object_type", "object_id", "remote_addr", "details")
    copy_sql = f"COPY audit_log ({', '.join(columns)}) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for event in audits:
            details = json.dumps(event["details"], ensure_ascii=False)
            copy.write_row([*(event[c] for c in columns[:-1]), details])
