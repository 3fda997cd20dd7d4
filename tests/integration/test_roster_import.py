"""Roster import against the real database: all or nothing, idempotent, differences applied
(moves, deactivations with open cases listed), one-time passwords, audit; the CLI command."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldapp.cli import users_cli
from fieldapp.crypto import keyring_outside_app
from fieldapp.models import AuditEvent, Cell, OfficerCell, RosterPerson, User
from fieldapp.services import accounts, roster
from fieldapp.services.party_data import user_phone
from tests.integration.roster_support import ID_OK, csv_bytes

pytestmark = pytest.mark.usefixtures("people")
TODAY = date(2026, 12, 6)

BASE = (
    f"赵一,13900000001,网格员,991101001002001；991101001002002,,{ID_OK},2024-01-01,",
    "钱二,13900000002,网格员,991101002002001,,,,",
    "孙三,13900000003,信访专干,,991101001,,,",
    "李四,13900000004,区县工作人员,,991101,,,",
    "周五,13900000005,部门工作人员,,991101-D01,,,",
)


def _import(session: Session, data: bytes, **kw: object) -> roster.ImportResult:
    return roster.import_roster(session, data, "roster.csv", actor_id=None, today=TODAY, **kw)  # type: ignore[arg-type]


def _cells(session: Session, username: str) -> set[str]:
    return set(
        session.execute(
            select(Cell.code)
            .join(OfficerCell, OfficerCell.cell_id == Cell.id)
            .join(User, User.id == OfficerCell.user_id)
            .where(User.username == username)
        ).scalars()
    )


def test_import_creates_people_with_one_time_passwords(db_session: Session) -> None:
    result = _import(db_session, csv_bytes(*BASE))
    assert result.problems == [] and result.applied
    assert len(result.created) == 5 and result.changes == 5
    users = {
        u.username: u
        for u in db_session.execute(select(User).where(User.username.like("139000000%"))).scalars()
    }
    assert set(users) == {f"1390000000{i}" for i in range(1, 6)}
    zhao = users["13900000001"]
    assert zhao.role == "officer" and zhao.must_change_password
    # The phone is stored encrypted (fieldapp.crypto) and reads back as given.
    assert zhao.phone != "13900000001"
    assert user_phone(keyring_outside_app(), zhao.phone) == "13900000001"
    assert _cells(db_session, "13900000001") == {"991101001002001", "991101001002002"}
    assert users["13900000005"].department_id is not None
    password = next(a.password for a in result.created if a.username == "13900000001")
    assert password and accounts.verify_password(zhao.password_hash, password)
    person = db_session.get(RosterPerson, zhao.id)
    assert person is not None and person.start_date == date(2024, 1, 1)
    assert roster.read_id_number(person.id_number) == ID_OK
    audits = db_session.execute(
        select(func.count()).where(
            AuditEvent.action == "user.create", AuditEvent.object_id == str(zhao.id)
        )
    ).scalar()
    assert audits == 1


def test_reimporting_the_same_file_changes_nothing(db_session: Session) -> None:
    _import(db_session, csv_bytes(*BASE))
    before = db_session.execute(select(func.count()).select_from(AuditEvent)).scalar()
    again = _import(db_session, csv_bytes(*BASE))
    assert again.changes == 0 and again.unchanged == 5
    after = db_session.execute(select(func.count()).select_from(AuditEvent)).scalar()
    assert after == before + 1  # only the import's own line


def test_a_file_with_problems_writes_nothing(db_session: Session) -> None:
    users_before = db_session.execute(select(func.count()).select_from(User)).scalar()
    bad = csv_bytes(
        *BASE,
        "吴六,1390000,网格员,991101001003001,,,,",  # phone format (row 7)
        "郑七,13900000007,网格员,999999999999999,,,,",  # unknown cell (row 8)
        "王八,13900000008,网格员,991101001002001,,,,",  # cell already given in row 2
        "冯九,13900000009,网格员,991101001003001；991101002003001,,,,",  # two townships
        "陈十,13900000010,巡逻员,,,,,",  # unknown role
        "褚十一,13900000011,信访专干,,,,,",  # missing area
        "卫十二,13900000012,网格员,991101001004001,,,2024-13-01,",  # bad date
        "赵一,13900000001,网格员,991101001004002,,,,",  # duplicate person (row 2)
    )
    result = _import(db_session, bad)
    found = {(p.row, p.message.split(":")[0]) for p in result.problems}
    assert found == {
        (7, "phone_format"),
        (8, "unknown_cell"),
        (9, "cell_taken"),
        (10, "two_townships"),
        (11, "unknown_role"),
        (12, "area_required"),
        (13, "date_format"),
        (14, "duplicate_person"),
    }
    assert not result.applied
    assert db_session.execute(select(func.count()).select_from(User)).scalar() == users_before
    for p in result.problems:
        assert roster.describe(p)  # every problem has words


def test_a_difference_import_moves_deactivates_and_lists_open_cases(
    db_session: Session, client: object
) -> None:
    _import(db_session, csv_bytes(*BASE))
    qian = db_session.execute(select(User).where(User.username == "13900000002")).scalar_one()
    token = accounts.issue_token(db_session, qian, "phone", datetime.now(UTC))
    db_session.flush()
    changed = (
        f"赵一,13900000001,网格员,991101001003001,,{ID_OK},2024-01-01,",  # moved
        "孙三,13900000003,信访专干,,991101002,,,",  # other township
        "李四,13900000004,区县工作人员,,991101,,,2026-12-01",  # left (end date passed)
        "周五,13900000005,部门工作人员,,991101-D01,,,",
        "新人,13900000006,网格员,991101002002001,,,,",  # takes 钱二's cell
    )  # 钱二 missing → deactivated
    result = _import(db_session, csv_bytes(*changed))
    assert result.problems == []
    assert {c.username for c in result.updated} == {"13900000001", "13900000003"}
    assert {c.username for c in result.deactivated} == {"13900000002", "13900000004"}
    assert [a.username for a in result.created] == ["13900000006"]
    assert _cells(db_session, "13900000001") == {"991101001003001"}
    db_session.expire_all()
    assert not db_session.get(User, qian.id).active  # type: ignore[union-attr]
    assert accounts.user_for_token(db_session, token.token, datetime.now(UTC)) is None
    again = _import(db_session, csv_bytes(*changed))
    assert again.changes == 0


def test_dry_run_writes_nothing(db_session: Session) -> None:
    result = _import(db_session, csv_bytes(*BASE), dry_run=True)
    assert len(result.created) == 5 and not result.applied
    assert db_session.execute(select(User).where(User.username == "13900000001")).first() is None


def test_cli_import_dry_run_then_real_then_noop(
    app: Flask, db_session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "花名册.csv"
    path.write_bytes(csv_bytes(*BASE, encoding="gb18030"))
    runner = app.test_cli_runner()
    dry = runner.invoke(users_cli, ["import", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "5 change(s) would be made" in dry.output
    out = tmp_path / "pw.xlsx"
    real = runner.invoke(users_cli, ["import", str(path), "--passwords-out", str(out)])
    assert real.exit_code == 0, real.output
    assert out.exists() and oct(out.stat().st_mode & 0o777) == "0o600"
    noop = runner.invoke(users_cli, ["import", str(path)])
    assert "0 change(s) were made" in noop.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes("吴六,1390000,网格员,991101001003001,,,,"))
    refused = runner.invoke(users_cli, ["import", str(bad)])
    assert (
        refused.exit_code != 0 and "row 2" in refused.output and "Traceback" not in refused.output
    )


def test_someone_created_gone_and_back_later_gets_a_one_time_password(db_session: Session) -> None:
    gone = "吴六,13900000006,网格员,991101001004001,,,2024-01-01,2025-01-01"
    first = _import(db_session, csv_bytes(gone))
    (created,) = first.created
    assert created.password is None  # already left: no sign-in
    user = db_session.execute(select(User).where(User.username == "13900000006")).scalar_one()
    assert not user.active and user.password_hash is None
    back = _import(db_session, csv_bytes("吴六,13900000006,网格员,991101001004001,,,2024-01-01,"))
    assert [c.username for c in back.reactivated] == ["13900000006"]
    (reissued,) = back.new_passwords
    assert reissued.password and accounts.verify_password(user.password_hash, reissued.password)
    assert user.active and user.must_change_password
