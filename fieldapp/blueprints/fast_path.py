"""The outbox fast path, shared by every blueprint that queues background work."""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app

from fieldapp.outbox_sender import OutboxSender


def dispatch_committed(outbox_ids: Sequence[int]) -> None:
    """Hand just-committed outbox rows to this process's sender (fieldapp.outbox_sender),
    which passes them to the broker in the background; when it cannot, the relay sends them
    later, so nothing here can fail the request."""
    sender: OutboxSender = current_app.extensions["fieldapp.outbox_sender"]
    sender.submit(outbox_ids)
