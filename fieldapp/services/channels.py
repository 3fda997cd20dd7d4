"""Outbound notification channels: every in-app notification is also delivered through the
configured channels by a Celery task, once (the notification's `delivered_at` is the mark).

- `log` (default): writes the message to the application log — a safe default for a demo or
  a closed network with no mail server;
- `smtp`: email through the configured SMTP server (SMTP_HOST, SMTP_PORT, SMTP_USER,
  SMTP_PASSWORD, SMTP_FROM, SMTP_STARTTLS) to users that have an email address;
- `sms`: a text message through an `SmsProvider` to users that have a phone number; the
  bundled provider logs. A real one (a government SMS gateway) implements `send_sms`.

Delivery is at least once: a worker killed after `send` but before its transaction commits
leaves the notification undelivered, and the relay sends it again. Every send therefore
carries the delivery's idempotency key (`notifications.delivery_key`, the same on every
attempt), so the receiving system can drop the repeat: the email's Message-ID (mail clients
and archives collapse equal Message-IDs), the `delivery_id` handed to the SMS provider (send
it as the gateway's client message id or `Idempotency-Key` header), the log line's
`[delivery …]`."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any, Protocol

log = logging.getLogger("fieldapp.notifications")


class Recipient(Protocol):
    username: str
    display_name: str
    phone: str | None
    email: str | None


class Channel(Protocol):
    name: str

    def send(self, recipient: Recipient, subject: str, text: str, *, delivery_id: str) -> bool:
        """Deliver; False when this channel cannot reach the recipient (no address).
        `delivery_id` is the same on every attempt of one delivery: pass it on so the
        receiver can drop a repeat."""
        ...


class LogChannel:
    name = "log"

    def send(self, recipient: Recipient, subject: str, text: str, *, delivery_id: str) -> bool:
        log.info("notify %s: %s — %s [delivery %s]", recipient.username, subject, text, delivery_id)
        return True


class SmtpChannel:
    name = "smtp"

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.host = str(config["SMTP_HOST"])
        self.port = int(config.get("SMTP_PORT") or 25)
        self.user = config.get("SMTP_USER")
        self.password = config.get("SMTP_PASSWORD")
        self.sender = str(config.get("SMTP_FROM") or "noreply@localhost")
        self.starttls = bool(config.get("SMTP_STARTTLS"))

    def message_id(self, delivery_id: str) -> str:
        """The Message-ID of a delivery: the same on every attempt, in the sender's domain."""
        domain = self.sender.rpartition("@")[2].strip("<> ") or "localhost"
        return f"<{delivery_id}@{domain}>"

    def send(self, recipient: Recipient, subject: str, text: str, *, delivery_id: str) -> bool:
        if not recipient.email:
            return False
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, recipient.email, subject
        message["Message-ID"] = self.message_id(delivery_id)
        message["X-Fieldapp-Delivery-Id"] = delivery_id
        message.set_content(text)
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(str(self.user), str(self.password or ""))
            smtp.send_message(message)
        return True


class SmsProvider(Protocol):
    def send_sms(self, phone: str, text: str, *, delivery_id: str) -> None:
        """Send; pass `delivery_id` to the gateway as its idempotency key (client message
        id or `Idempotency-Key` header), so a repeated attempt is not a second text."""
        ...


class LoggingSmsProvider:
    def send_sms(self, phone: str, text: str, *, delivery_id: str) -> None:
        log.info("sms to %s: %s [delivery %s]", phone, text, delivery_id)


class SmsChannel:
    name = "sms"
    # A text message is short; the inbox has the rest.
    MAX_LENGTH = 70

    def __init__(self, provider: SmsProvider) -> None:
        self.provider = provider

    def send(self, recipient: Recipient, subject: str, text: str, *, delivery_id: str) -> bool:
        if not recipient.phone:
            return False
        # Stored encrypted (fieldapp.services.party_data); decrypted only to send.
        from fieldapp.crypto import keyring_outside_app
        from fieldapp.services.party_data import user_phone

        phone = user_phone(keyring_outside_app(), recipient.phone)
        assert phone is not None
        self.provider.send_sms(
            phone, f"【{subject}】{text}"[: self.MAX_LENGTH], delivery_id=delivery_id
        )
        return True


def configured_channels(config: Mapping[str, Any]) -> list[Channel]:
    """Channels named in NOTIFY_CHANNELS (comma-separated; default `log`)."""
    names = [n.strip() for n in str(config.get("NOTIFY_CHANNELS") or "log").split(",")]
    channels: list[Channel] = []
    for name in names:
        if name == "log":
            channels.append(LogChannel())
        elif name == "smtp":
            channels.append(SmtpChannel(config))
        elif name == "sms":
            channels.append(SmsChannel(config.get("SMS_PROVIDER") or LoggingSmsProvider()))
        elif name:
            raise ValueError(f"unknown notification channel {name!r}; use log, smtp or sms")
    return channels
