"""Export files kept in PostgreSQL (table export_file_chunks), so that a download served by any
web node finds the file a worker on another machine wrote, backups hold them with everything
else, and no node keeps state of its own.

A file is stored as numbered chunks of CHUNK_BYTES in the transaction that marks its job
done (it appears complete or not at all), read back one chunk at a time (a download never
holds the whole file in memory, nor a pooled connection while a slow client reads), and
deleted with its job or when it expires (fieldapp.services.exports.sweep)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from fieldapp.ops_models import ExportFileChunk

# 1 MiB: large enough that a 100 MB workbook is a hundred rows, small enough that a chunk in
# flight costs the web process little memory.
CHUNK_BYTES = 1024 * 1024


def save(session: Session, job_id: uuid.UUID, path: Path) -> int:
    """Store the file at `path` as the job's file, replacing any earlier one; returns its
    size. The caller commits (with the job marked done)."""
    session.execute(delete(ExportFileChunk).where(ExportFileChunk.job_id == job_id))
    size = 0
    with path.open("rb") as handle:
        seq = 0
        while chunk := handle.read(CHUNK_BYTES):
            session.execute(insert(ExportFileChunk).values(job_id=job_id, seq=seq, data=chunk))
            size += len(chunk)
            seq += 1
    return size


def stored_size(session: Session, job_id: uuid.UUID) -> int | None:
    """The stored file's size in bytes, or None when the job has no stored file."""
    row = session.execute(
        select(func.count(), func.sum(func.length(ExportFileChunk.data))).where(
            ExportFileChunk.job_id == job_id
        )
    ).one()
    return int(row[1]) if row[0] else None


def remove(session: Session, job_ids: list[uuid.UUID]) -> None:
    """Delete the stored files of these jobs. The caller commits."""
    if job_ids:
        session.execute(delete(ExportFileChunk).where(ExportFileChunk.job_id.in_(job_ids)))


def read_all(session: Session, job_id: uuid.UUID) -> bytes:
    """The whole stored file (for tests and small files)."""
    return b"".join(
        session.execute(
            select(ExportFileChunk.data)
            .where(ExportFileChunk.job_id == job_id)
            .order_by(ExportFileChunk.seq)
        ).scalars()
    )


def session_opener(app: Flask) -> Callable[[], Session]:
    """Short sessions of the app's own kind, usable after the request has ended (a download
    streams on): each checks a pooled connection out and back in."""
    factory = app.extensions["fieldapp.sessionmaker"]
    engine = app.extensions["fieldapp.engine"]
    if factory is app.extensions["fieldapp.default_sessionmaker"]:
        return lambda: factory(bind=engine)
    return factory  # tests: bound to their transaction


class ChunkReader(io.RawIOBase):
    """A read-only file over a stored export: each chunk is fetched when reached, in a
    session of its own (so a slow download holds no connection between chunks)."""

    def __init__(self, open_session: Callable[[], Session], job_id: uuid.UUID) -> None:
        super().__init__()
        self._open_session = open_session
        self._job_id = job_id
        self._seq = 0
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._buffer:
            with self._open_session() as session:
                data = session.execute(
                    select(ExportFileChunk.data).where(
                        ExportFileChunk.job_id == self._job_id, ExportFileChunk.seq == self._seq
                    )
                ).scalar()
            if data is None:
                return 0  # past the last chunk
            self._seq += 1
            self._buffer = memoryview(bytes(data))
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n
