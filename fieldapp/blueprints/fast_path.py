"""The outbox fast path, shared by every blueprint that queues background work."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import current_app

from fieldapp.db import db
from fieldapp.services import outbox


def _send(task: str, kwargs: dict[str, Any]) -> None:
    current_app.extensions["celery"].send_task(task, kwargs=kwargs, retry=False)


def send_committed(messages: Sequence[outbox.Message]) -> None:
    """Hand just-committed outbox messages to the broker now; when it is down, the relay
    sends them later, so a failure here must not fail the request."""
    if not messages:
        return
    try:
        sent = outbox.send_committed(db.session, messages, _send)
    except Exception:  # recording the failure failed too: the relay will send them
        current_app.logger.warning("outbox fast path failed; relay will retry", exc_info=True)
        db.session.rollback()
        return
    if sent < len(messages):
        current_app.logger.warning("outbox fast path failed; the relay will send the rest")


def dispatch_committed(outbox_ids: list[int]) -> None:
    """send_committed for messages known by id."""
    if not outbox_ids:
        return
    try:
        sent = outbox.dispatch(db.session, outbox_ids, _send)
    except Exception:  # the database, after the commit: the relay will send them
        current_app.logger.warning("outbox fast path failed; relay will retry", exc_info=True)
        db.session.rollback()
        return
    if sent < len(outbox_ids):
        current_app.logger.warning("outbox fast path failed; the relay will send the rest")
