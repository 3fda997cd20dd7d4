"""Parties' personal data at rest: what is stored for an ID number and a phone (encrypted,
with keyed hashes), reading it back, finding the same person in other cases by keyed hash,
and auditing every display of an unmasked value (fieldapp.crypto has the keys)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, or_, select, text, update
from sqlalchemy.orm import Session

from fieldapp.crypto import Keyring
from fieldapp.models import ReportParty
from fieldapp.services import audit

ID_NUMBER_COLUMN = "report_parties.id_number"
PHONE_COLUMN = "report_parties.phone"
# Staff's own phones (users.phone, for SMS notifications) are encrypted the same way; nothing
# looks them up, so they have no keyed hash.
USER_PHONE_COLUMN = "users.phone"


def stored_party(ring: Keyring, id_number: str | None, phone: str | None) -> dict[str, Any]:
    """The stored columns of one party's ID number and phone (plain values in)."""
    return {
        "id_number": ring.encrypt(id_number, ID_NUMBER_COLUMN),
        "phone": ring.encrypt(phone, PHONE_COLUMN),
        "id_number_hmac": ring.lookup(id_number, "id_number"),
        "phone_hmac": ring.lookup(phone, "phone"),
    }


def stored_user_phone(ring: Keyring, phone: str | None) -> str | None:
    """The stored form of a user's phone."""
    return ring.encrypt(phone or None, USER_PHONE_COLUMN)


def user_phone(ring: Keyring, stored: str | None) -> str | None:
    """A user's phone, decrypted."""
    return ring.decrypt(stored, USER_PHONE_COLUMN)


def plain_values(ring: Keyring, party: ReportParty) -> tuple[str | None, str | None]:
    """A stored party's ID number and phone, decrypted."""
    return ring.decrypt(party.id_number, ID_NUMBER_COLUMN), ring.decrypt(party.phone, PHONE_COLUMN)


def reports_with_person(
    session: Session, ring: Keyring, *, id_number: str | None = None, phone: str | None = None
) -> list[uuid.UUID]:
    """Ids of the reports naming a party with this ID number or phone (by keyed hash: one
    index probe, nothing decrypted). The caller scopes them to what its viewer may see."""
    conditions = []
    if id_number:
        conditions.append(ReportParty.id_number_hmac == ring.lookup(id_number, "id_number"))
    if phone:
        conditions.append(ReportParty.phone_hmac == ring.lookup(phone, "phone"))
    if not conditions:
        return []
    rows = session.execute(
        select(ReportParty.report_id).where(or_(*conditions)).distinct()
    ).scalars()
    return sorted(rows, key=str)


def audit_unmasked_display(
    session: Session, viewer_id: int, report_id: uuid.UUID, fields: Iterable[str]
) -> None:
    """Record that `viewer_id` was shown unmasked personal data of a report's parties. The
    row is committed by the request (fieldapp.privacy.init_app), GET included."""
    from flask import g, has_request_context

    audit.record(
        session,
        actor_id=viewer_id,
        action="parties.view_unmasked",
        object_type="report",
        object_id=report_id,
        details={"fields": sorted(set(fields))},
    )
    if has_request_context():
        g.fieldapp_reveal_audited = True


def rotate(session: Session, ring: Keyring, batch: int = 2000) -> int:
    """Re-encrypt every stored value not under the current key. Returns the rows changed.
    Batches by id, so a big table never holds one huge transaction's worth of locks; the
    batch is committed as it is done."""
    changed = 0
    last_id = 0
    prefix = f"enc1:{ring.current}:"
    while True:
        rows = (
            session.execute(
                select(ReportParty)
                .where(
                    ReportParty.id > last_id,
                    or_(
                        ReportParty.id_number.not_like(prefix + "%"),
                        ReportParty.phone.not_like(prefix + "%"),
                    ),
                )
                .order_by(ReportParty.id)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            return changed
        for party in rows:
            id_number, phone = plain_values(ring, party)
            for column, value in stored_party(ring, id_number, phone).items():
                setattr(party, column, value)
            changed += 1
        last_id = rows[-1].id
        session.flush()
        session.commit()


_PLAIN_ROWS = text(
    """
    SELECT id, id_number, phone FROM report_parties
    WHERE id > :after
      AND ((id_number IS NOT NULL AND id_number NOT LIKE 'enc1:%')
        OR (phone IS NOT NULL AND phone NOT LIKE 'enc1:%'))
    ORDER BY id LIMIT :n
    """
)
# One statement per batch (arrays unnested), not one per row.
_STORE = text(
    """
    UPDATE report_parties AS p SET id_number = v.id_number, phone = v.phone,
        id_number_hmac = v.id_number_hmac, phone_hmac = v.phone_hmac
    FROM unnest(CAST(:row_ids AS bigint[]), CAST(:id_numbers AS text[]),
                CAST(:phones AS text[]), CAST(:id_number_hmacs AS text[]),
                CAST(:phone_hmacs AS text[]))
        AS v(row_id, id_number, phone, id_number_hmac, phone_hmac)
    WHERE p.id = v.row_id
    """
)


def has_plain_rows(connection: Connection) -> bool:
    return connection.execute(_PLAIN_ROWS, {"after": 0, "n": 1}).first() is not None


def encrypt_plain_rows(connection: Connection, ring: Keyring, batch: int = 5000) -> int:
    """Encrypt every party whose ID number or phone is still plain text (stored before
    issue #15: migration 0011), with their keyed hashes. Returns the rows converted."""
    converted = 0
    after = 0
    while True:
        rows = connection.execute(_PLAIN_ROWS, {"after": after, "n": batch}).all()
        if not rows:
            return converted
        stored = [stored_party(ring, row[1], row[2]) for row in rows]
        connection.execute(
            _STORE,
            {
                "row_ids": [row[0] for row in rows],
                "id_numbers": [v["id_number"] for v in stored],
                "phones": [v["phone"] for v in stored],
                "id_number_hmacs": [v["id_number_hmac"] for v in stored],
                "phone_hmacs": [v["phone_hmac"] for v in stored],
            },
        )
        converted += len(rows)
        after = rows[-1][0]


_PLAIN_USER_PHONES = text(
    """
    SELECT id, phone FROM users
    WHERE id > :after AND phone IS NOT NULL AND phone NOT LIKE 'enc1:%'
    ORDER BY id LIMIT :n
    """
)


def has_plain_user_phones(connection: Connection) -> bool:
    return connection.execute(_PLAIN_USER_PHONES, {"after": 0, "n": 1}).first() is not None


def encrypt_plain_user_phones(connection: Connection, ring: Keyring, batch: int = 5000) -> int:
    """Encrypt users' phones still stored as plain text (migration 0011)."""
    converted = 0
    after = 0
    while True:
        rows = connection.execute(_PLAIN_USER_PHONES, {"after": after, "n": batch}).all()
        if not rows:
            return converted
        connection.execute(
            text("UPDATE users SET phone = :phone WHERE id = :row_id"),
            [{"row_id": row[0], "phone": stored_user_phone(ring, row[1])} for row in rows],
        )
        converted += len(rows)
        after = rows[-1][0]


def _rotate_column(
    session: Session, ring: Keyring, key: Any, value: Any, column: str, batch: int
) -> int:
    """Re-encrypt one encrypted column (`value`, stored for `column`) not under the current
    key, in batches by `key` (a primary-key column), each committed as it is done."""
    changed = 0
    last = 0
    prefix = f"enc1:{ring.current}:"
    while True:
        rows = session.execute(
            select(key, value)
            .where(key > last, value.is_not(None), value.not_like(prefix + "%"))
            .order_by(key)
            .limit(batch)
        ).all()
        if not rows:
            return changed
        for row_key, stored in rows:
            plain = ring.decrypt(str(stored), column)
            session.execute(
                update(key.class_)
                .where(key == row_key)
                .values({value.key: ring.encrypt(plain, column)})
            )
        changed += len(rows)
        last = rows[-1][0]
        session.commit()


def rotate_user_phones(session: Session, ring: Keyring, batch: int = 2000) -> int:
    """Re-encrypt users' phones not under the current key (as `rotate` does for parties)."""
    from fieldapp.models import User

    return _rotate_column(session, ring, User.id, User.phone, USER_PHONE_COLUMN, batch)


def rotate_roster_id_numbers(session: Session, ring: Keyring, batch: int = 2000) -> int:
    """Re-encrypt the roster's ID numbers (fieldapp.services.roster) not under the current
    key, as `rotate` does for parties."""
    from fieldapp.models import RosterPerson
    from fieldapp.services.roster import ROSTER_ID_NUMBER_COLUMN

    return _rotate_column(
        session,
        ring,
        RosterPerson.user_id,
        RosterPerson.id_number,
        ROSTER_ID_NUMBER_COLUMN,
        batch,
    )
