"""The outbox fast path, shared by every blueprint that queues background work."""

from __future__ import annotations

from typing import Any

from flask import current_app

from fieldapp.db import db
from fieldapp.services import outbox


def dispatch_committed(outbox_ids: list[int]) -> None:
    """Hand the just-committed outbox rows to the broker now; when it is down, the relay sends
    them later, so a failure here must not fail the request."""
    if not outbox_ids:
        return
    celery_app = current_app.extensions["celery"]

    def send(task: str, kwargs: dict[str, Any]) -> None:
        celery_app.send_task(task, kwargs=kwargs, retry=False)

    try:
        outbox.dispatch(db.session, outbox_ids, send)
    except Exception:  # the relay will pick them up
        current_app.logger.warning("outbox fast path failed; relay will retry", exc_info=True)
        db.session.rollback()
