"""Parties' personal data at rest (issue #15, item 12): encrypted in the database and in a
real dump, found again by keyed hash, readable across a key rotation, masked by default and
every unmasked display audited."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from fieldapp import crypto, localservices
from fieldapp.db import db
from fieldapp.keys_cli import keys_cli
from fieldapp.models import AuditEvent, OutboxMessage, Report, ReportParty, RosterPerson, User
from fieldapp.services import party_data, roster
from tests import support
from tests.integration.test_reports_api import report_body
from tests.support import auth, file_via_api

pytestmark = pytest.mark.usefixtures("people")

ID_NUMBER = "371102199001011234"
PHONE = "13812345678"
STAFF_PHONE = "13955556666"


def _file(client: FlaskClient, people: dict, **overrides: Any) -> str:
    return str(file_via_api(client, people, **report_body(**overrides))["id"])


def test_stored_values_are_encrypted_with_keyed_hashes(
    app: Flask, client: FlaskClient, people: dict, db_session: Session
) -> None:
    report_id = _file(client, people)
    row = db_session.execute(
        text(
            "SELECT id_number, phone, id_number_hmac, phone_hmac FROM report_parties "
            "WHERE report_id = :id ORDER BY position"
        ),
        {"id": report_id},
    ).first()
    assert row is not None
    assert row.id_number.startswith("enc1:") and ID_NUMBER not in row.id_number
    assert row.phone.startswith("enc1:") and PHONE not in row.phone
    with app.app_context():
        ring = crypto.keyring()
    assert row.id_number_hmac == ring.lookup(ID_NUMBER, "id_number")
    assert row.phone_hmac == ring.lookup(PHONE, "phone")


def test_the_same_person_is_found_in_other_cases_by_keyed_hash(
    app: Flask, client: FlaskClient, people: dict, db_session: Session
) -> None:
    first = _file(client, people)
    second = _file(
        client,
        people,
        parties=[{"name": "张三", "id_number": ID_NUMBER.lower(), "phone": "13900000000"}],
    )
    other = _file(client, people, parties=[{"name": "王五", "phone": "138 1234 5678"}])
    with app.app_context():
        ring = crypto.keyring()
        by_id = party_data.reports_with_person(db_session, ring, id_number=ID_NUMBER)
        by_phone = party_data.reports_with_person(db_session, ring, phone=PHONE)
    assert {str(r) for r in by_id} == {first, second}
    assert {str(r) for r in by_phone} == {first, other}


def test_rotation_keeps_old_values_readable_and_rewrites_them(
    app: Flask, client: FlaskClient, people: dict, db_session: Session
) -> None:
    report_id = _file(client, people)
    with app.app_context():
        old = crypto.keyring()
    # A copy of the keyring with one more key, not written to the instance file.
    ring = crypto.Keyring(dict(old.keys), old.current, old.lookup_key)
    grown = crypto.add_key(ring)
    changed = party_data.rotate(db_session, grown)
    assert changed >= 1
    party = db_session.execute(
        select(ReportParty).where(
            ReportParty.report_id == uuid.UUID(report_id), ReportParty.position == 0
        )
    ).scalar_one()
    assert party.id_number is not None and party.id_number.startswith(f"enc1:{grown.current}:")
    assert party_data.plain_values(grown, party) == (ID_NUMBER, PHONE)
    assert party.id_number_hmac == old.lookup(ID_NUMBER, "id_number")
    # Nothing is left under the old key.
    assert party_data.rotate(db_session, grown) == 0


def test_plain_values_from_before_are_converted(
    app: Flask, client: FlaskClient, people: dict, db_session: Session
) -> None:
    report_id = _file(client, people, parties=[{"name": "赵六"}])
    db_session.execute(
        text(
            "INSERT INTO report_parties (report_id, position, name, id_number, phone) "
            "VALUES (:id, 1, '钱七', :idn, :phone)"
        ),
        {"id": report_id, "idn": ID_NUMBER, "phone": PHONE},
    )
    connection = db_session.connection()
    assert party_data.has_plain_rows(connection)
    with app.app_context():
        ring = crypto.keyring()
    assert party_data.encrypt_plain_rows(connection, ring) == 1
    assert not party_data.has_plain_rows(connection)
    assert party_data.reports_with_person(db_session, ring, phone=PHONE) != []


def test_unmasked_display_is_audited_and_lists_are_masked(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    report_id = _file(client, people)

    def reveals() -> int:
        return len(
            db_session.execute(
                select(AuditEvent).where(
                    AuditEvent.action == "parties.view_unmasked",
                    AuditEvent.object_id == report_id,
                )
            ).all()
        )

    before = reveals()
    one = client.get(f"/api/v1/reports/{report_id}", headers=auth(people, "coord_1"))
    assert one.get_json()["parties"][0]["id_number"] == ID_NUMBER
    assert reveals() == before + 1
    row = (
        db_session.execute(
            select(AuditEvent).where(
                AuditEvent.action == "parties.view_unmasked", AuditEvent.object_id == report_id
            )
        )
        .scalars()
        .all()[-1]
    )
    assert row.actor_id == people["coord_1"]["id"]
    assert row.details == {"fields": ["id_number", "phone"]}
    # City staff see it masked: nothing to audit.
    masked = client.get(f"/api/v1/reports/{report_id}", headers=auth(people, "city"))
    assert masked.get_json()["parties"][0]["phone"] == "138****5678"
    assert reveals() == before + 1
    # A list shows parties masked, even to the coordinator.
    listed = client.get("/api/v1/reports", headers=auth(people, "coord_1")).get_json()
    mine = next(item for item in listed["items"] if item["id"] == report_id)
    assert mine["parties"][0]["id_number"] == "371102********1234"
    assert reveals() == before + 1
    # The triage case page shows it unmasked, and that is audited too.
    support.sign_in_cookie(client, people["coord_1"]["id"])
    page = client.get(f"/triage/cases/{report_id}")
    assert page.status_code == 200 and ID_NUMBER in page.get_data(as_text=True)
    assert reveals() == before + 2


@pytest.fixture
def committed_report(app: Flask, people: dict) -> Iterator[str]:
    """A report with parties committed for real (pg_dump sees only committed rows)."""
    client = app.test_client()
    report_id = _file(client, people)
    with app.app_context():  # and an officer's own phone, as the demo city stores them
        stored = party_data.stored_user_phone(crypto.keyring(), STAFF_PHONE)
        db.session.execute(update(User).where(User.username == "t_officer_b").values(phone=stored))
        db.session.commit()
    yield report_id
    with app.app_context():
        db.session.execute(update(User).where(User.username == "t_officer_b").values(phone=None))
        db.session.execute(delete(Report).where(Report.id == uuid.UUID(report_id)))
        db.session.execute(delete(AuditEvent).where(AuditEvent.object_id == report_id))
        db.session.execute(
            delete(OutboxMessage).where(OutboxMessage.payload["report_id"].astext == report_id)
        )
        db.session.commit()


def test_a_database_dump_holds_no_readable_id_number_or_phone(
    committed_report: str, database_url: str
) -> None:
    pg_dump = shutil.which("pg_dump") or str(localservices.find_pg_bindir() / "pg_dump")
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    dump = subprocess.run(
        [pg_dump, "--data-only", "--dbname", dsn], capture_output=True, check=True, timeout=300
    ).stdout.decode()
    assert committed_report in dump  # the report is there
    assert "张三" in dump  # names are not part of this change
    for secret in (ID_NUMBER, PHONE, "1990010112", "12345678", STAFF_PHONE):
        assert secret not in dump, secret


def test_keys_rotate_command_adds_a_key_and_rewrites_every_value(
    app: Flask, client: FlaskClient, people: dict, db_session: Session, tmp_path: Path
) -> None:
    report_id = _file(client, people)
    with app.app_context():
        original = crypto.keyring()
    officer = db_session.execute(select(User).where(User.username == "t_officer_b")).scalar_one()
    officer.phone = party_data.stored_user_phone(original, STAFF_PHONE)
    db_session.add(
        RosterPerson(
            user_id=officer.id,
            id_number=original.encrypt(ID_NUMBER, roster.ROSTER_ID_NUMBER_COLUMN),
        )
    )
    db_session.flush()
    keys_file = tmp_path / "data_keys.json"
    keys_file.write_text(original.to_json())
    previous = app.config["DATA_KEYS_FILE"]
    app.config["DATA_KEYS_FILE"] = str(keys_file)
    app.extensions.pop("fieldapp.keyring", None)
    try:
        runner = app.test_cli_runner()
        before = original.current
        new_id = f"k{int(before[1:]) + 1}"
        shown = runner.invoke(keys_cli, ["show"])
        assert shown.exit_code == 0 and f"current: {before}" in shown.output, shown.output
        rotated = runner.invoke(keys_cli, ["rotate"])
        assert rotated.exit_code == 0, rotated.output
        assert f"new key {new_id}" in rotated.output
        assert json.loads(keys_file.read_text())["current"] == new_id
        assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
        r = client.get(f"/api/v1/reports/{report_id}", headers=auth(people, "coord_1"))
        assert r.get_json()["parties"][0]["id_number"] == ID_NUMBER
        stored = db_session.execute(
            select(ReportParty.id_number).where(ReportParty.report_id == uuid.UUID(report_id))
        ).scalars()
        assert all(v is None or v.startswith(f"enc1:{new_id}:") for v in stored)
        phone = db_session.execute(
            select(User.phone).where(User.username == "t_officer_b")
        ).scalar_one()
        assert phone.startswith(f"enc1:{new_id}:")
        roster_id = db_session.execute(
            select(RosterPerson.id_number).where(RosterPerson.user_id == officer.id)
        ).scalar_one()
        assert roster_id is not None and roster_id.startswith(f"enc1:{new_id}:")
        with app.app_context():
            assert party_data.user_phone(crypto.keyring(), phone) == STAFF_PHONE
    finally:
        app.config["DATA_KEYS_FILE"] = previous
        app.extensions.pop("fieldapp.keyring", None)
