"""The audit log: every write records who did what to which object, in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from fieldapp.models import AuditEvent


def record(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: object,
    remote_addr: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEvent(
            actor_id=actor_id,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            remote_addr=remote_addr,
            details=details or {},
        )
    )
