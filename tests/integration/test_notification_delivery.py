"""Outbound notifications: each is a task, delivered once, through real channels (a real SMTP
server on loopback, aiosmtpd) and an SMS provider interface; a failing channel hands the work
back to the relay instead of losing it."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldapp import crypto
from fieldapp.models import Notification, OutboxMessage, User
from fieldapp.services import notifications
from fieldapp.services.channels import (
    LogChannel,
    SmsChannel,
    SmtpChannel,
    configured_channels,
)
from fieldapp.services.party_data import stored_user_phone

pytestmark = pytest.mark.usefixtures("people")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


class RecordingSmsProvider:
    """Stands in for the government SMS gateway, which cannot be reached from here."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.delivery_ids: list[str] = []

    def send_sms(self, phone: str, text: str, *, delivery_id: str) -> None:
        self.sent.append((phone, text))
        self.delivery_ids.append(delivery_id)


def _coordinator(app: Flask, session: Session) -> User:
    user = session.execute(select(User).where(User.username == "t_coord_1")).scalar_one()
    with app.app_context():  # the app's own keys, as the channel that reads them back
        ring = crypto.keyring()
    user.email, user.phone = "coord1@example.test", stored_user_phone(ring, "13800000001")
    return user


def test_each_notification_is_queued_and_delivered_once_by_email_and_sms(
    app: Flask, db_session: Session, smtp_server: tuple[int, Inbox]
) -> None:
    port, inbox = smtp_server
    user = _coordinator(app, db_session)
    assert notifications.notify(db_session, [user.id], "report.new", "r-1", "新报告：测试") == 1
    assert notifications.notify(db_session, [user.id], "report.new", "r-1", "新报告：测试") == 0
    note = db_session.execute(
        select(Notification).where(Notification.subject_id == "r-1")
    ).scalar_one()
    messages = (
        db_session.execute(
            select(OutboxMessage).where(
                OutboxMessage.payload["notification_id"].as_integer() == note.id
            )
        )
        .scalars()
        .all()
    )
    assert len(messages) == 1 and messages[0].task == "workers.tasks.deliver_notification"

    sms = RecordingSmsProvider()
    channels = [SmtpChannel({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port}), SmsChannel(sms)]
    with app.app_context():
        assert notifications.deliver(db_session, note.id, channels) is True
        assert notifications.deliver(db_session, note.id, channels) is False
    assert len(inbox.messages) == 1
    assert inbox.messages[0].rcpt_tos == ["coord1@example.test"]
    mail = email.message_from_bytes(inbox.messages[0].content, policy=email.policy.default)
    assert mail["Subject"] == "新报告"
    assert mail.get_content().strip() == "新报告：测试"  # type: ignore[attr-defined]
    assert sms.sent == [("13800000001", "【新报告】新报告：测试")]
    key = notifications.delivery_key(note)
    assert mail["Message-ID"] == f"<{key}@localhost>" and mail["X-Fieldapp-Delivery-Id"] == key
    assert sms.delivery_ids == [key]


def test_a_delivery_sent_again_after_a_crash_carries_the_same_key(
    app: Flask, db_session: Session, smtp_server: tuple[int, Inbox], caplog: Any
) -> None:
    """A worker killed between `channel.send` and its commit: the relay sends the delivery
    again. The receiver gets it twice, with the same Message-ID / delivery id, and can drop
    the repeat; another notification's delivery has another key."""
    port, inbox = smtp_server
    user = _coordinator(app, db_session)
    notifications.notify(db_session, [user.id], "report.new", "r-3", "新报告：重发")
    notifications.notify(db_session, [user.id], "report.new", "r-4", "新报告：另一条")
    first, other = (
        db_session.execute(
            select(Notification)
            .where(Notification.subject_id.in_(["r-3", "r-4"]))
            .order_by(Notification.subject_id)
        )
        .scalars()
        .all()
    )
    sms = RecordingSmsProvider()
    channels = [
        SmtpChannel({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_FROM": "jz@rizhao.test"}),
        SmsChannel(sms),
        LogChannel(),
    ]
    caplog.set_level(logging.INFO, logger="fieldapp.notifications")
    with app.app_context():
        crashed = db_session.begin_nested()
        assert notifications.deliver(db_session, first.id, channels) is True
        crashed.rollback()  # killed before commit: delivered_at never stored
        db_session.expire_all()
        assert db_session.get(Notification, first.id).delivered_at is None  # type: ignore[union-attr]
        assert notifications.deliver(db_session, first.id, channels) is True
        assert notifications.deliver(db_session, first.id, channels) is False
        assert notifications.deliver(db_session, other.id, channels) is True
    mails = [
        email.message_from_bytes(m.content, policy=email.policy.default) for m in inbox.messages
    ]
    ids = [m["Message-ID"] for m in mails]
    assert len(ids) == 3 and ids[0] == ids[1] != ids[2], ids
    assert ids[0].endswith("@rizhao.test>")
    assert sms.delivery_ids[0] == sms.delivery_ids[1] != sms.delivery_ids[2]
    assert ids[0] == f"<{sms.delivery_ids[0]}@rizhao.test>"
    logged = re.findall(r"\[delivery (\S+)\]$", caplog.text, flags=re.M)
    assert logged == sms.delivery_ids, caplog.text


def test_a_failing_channel_hands_the_message_back_to_the_relay(
    app: Flask, db_session: Session
) -> None:
    from workers.tasks import deliver_notification

    user = _coordinator(app, db_session)
    notifications.notify(db_session, [user.id], "report.new", "r-2", "新报告：失败重试")
    note = db_session.execute(
        select(Notification).where(Notification.subject_id == "r-2")
    ).scalar_one()
    message = db_session.execute(
        select(OutboxMessage).where(
            OutboxMessage.payload["notification_id"].as_integer() == note.id
        )
    ).scalar_one()
    message.dispatched_at = message.created_at  # as if the relay had sent it
    db_session.flush()
    app.config["NOTIFY_CHANNELS"] = "smtp"
    app.config["SMTP_HOST"], app.config["SMTP_PORT"] = "127.0.0.1", 1  # nothing listens there
    try:
        with app.app_context(), pytest.raises(OSError):
            deliver_notification.run(outbox_id=message.id, notification_id=note.id)
    finally:
        app.config["NOTIFY_CHANNELS"], app.config["SMTP_HOST"] = "log", None
    db_session.expire_all()
    again = db_session.get(OutboxMessage, message.id)
    assert again is not None and again.dispatched_at is None and again.done_at is None
    assert "Error" in (again.last_error or "")
    with app.app_context():
        assert deliver_notification.run(outbox_id=message.id, notification_id=note.id) is True
    db_session.expire_all()
    assert db_session.get(Notification, note.id).delivered_at is not None  # type: ignore[union-attr]


def test_unknown_channel_names_are_refused() -> None:
    with pytest.raises(ValueError, match="log, smtp or sms"):
        configured_channels({"NOTIFY_CHANNELS": "log,pigeon"})
