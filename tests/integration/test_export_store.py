"""Export files in PostgreSQL: stored in chunks, read back chunk by chunk, removed."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

from flask import Flask
from sqlalchemy.orm import Session

from fieldapp import export_store
from fieldapp.models import ExportJob


def test_a_file_of_several_chunks_round_trips_and_is_removed(
    app: Flask, db_session: Session, people: dict, tmp_path: Path
) -> None:
    job = ExportJob(
        requested_by=people["coord_1"]["id"], kind="cases", format="csv", status="running"
    )
    db_session.add(job)
    db_session.flush()
    content = os.urandom(export_store.CHUNK_BYTES * 2 + 12345)
    path = tmp_path / "file.csv"
    path.write_bytes(content)

    assert export_store.save(db_session, job.id, path) == len(content)
    db_session.flush()
    assert export_store.stored_size(db_session, job.id) == len(content)
    reader = io.BufferedReader(
        export_store.ChunkReader(export_store.session_opener(app), job.id), 8192
    )
    assert reader.read() == content  # in werkzeug's 8 KiB pieces as a download does
    # Saving again replaces, never appends.
    path.write_bytes(b"small")
    assert export_store.save(db_session, job.id, path) == 5
    assert export_store.read_all(db_session, job.id) == b"small"

    export_store.remove(db_session, [job.id])
    assert export_store.stored_size(db_session, job.id) is None
    assert export_store.stored_size(db_session, uuid.uuid4()) is None
