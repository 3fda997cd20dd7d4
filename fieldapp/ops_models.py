"""Tables for running the platform on more than one machine: the outbox relay's checkpoints
and the export files every web node reads. Imported by fieldapp.models, so Alembic and the
app see them on the shared metadata."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Uuid,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from fieldapp.models import OutboxMessage
from grid.models import Base


class OutboxCheckpoint(Base):
    """A message the relay sends through the broker behind everything queued so far: when a
    worker runs it (consumed_at), every message published before published_at has left the
    queue. An outbox row dispatched before that and still not done a grace later was lost
    (with the broker, or its worker): the relay sends it again. A slow but healthy backlog
    holds its checkpoint back, so nothing of it is sent twice (fieldapp.services.outbox)."""

    __tablename__ = "outbox_checkpoints"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # The database's clock, for every machine alike (dispatched_at is written with it too).
    published_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )
    consumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# The relay looks for rows not done (sent or not); done rows are nearly all of the table.
Index("ix_outbox_undone", OutboxMessage.id, postgresql_where=OutboxMessage.done_at.is_(None))


class ExportFileChunk(Base):
    """An export's file, in the database so a download on any web node finds it: written and
    read in chunks (fieldapp.export_store), deleted with its job or when it expires."""

    __tablename__ = "export_file_chunks"

    job_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("export_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
