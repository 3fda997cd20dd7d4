"""The least a report intake served by gunicorn could do, for benchmarks/bench_intake.py: the
ceiling of any Python intake on this machine, whatever the application does.

Each request: read the JSON body, INSERT the report and its party with psycopg (one
connection per server thread, prepared statements), commit durably, answer 201 with the id.
No authentication, validation, location, outbox, audit or answer beyond the id. Two forms:
`flask_app` (a Flask view, as the real API) and `wsgi_app` (a bare WSGI callable, no
framework at all). Configured by environment: FLOOR_DSN (libpq) and FLOOR_CHAINS (JSON: each
client's bearer token → [officer, cell, village, township, county] ids, so that each client
files at its own place, as in the real run). GET answers 200 (readiness)."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from flask import Flask, jsonify, request

_INSERT_REPORT = (
    "INSERT INTO reports (id, officer_id, cell_id, village_id, township_id, county_id, geom, "
    "input_lon, input_lat, input_crs, outside_own_cells, occurred_at, reported_at, category, "
    "severity, people_involved, potential_group_incident, title, description, status, "
    "version, body_hash) VALUES (%s, %s, %s, %s, %s, %s, "
    "ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s, 'wgs84', false, now(), now(), %s, %s, "
    "%s, false, %s, %s, 'reported', 1, 'x')"
)
_INSERT_PARTY = (
    "INSERT INTO report_parties (report_id, position, name, phone) VALUES (%s, 0, %s, %s)"
)
_local = threading.local()
_CHAINS: dict[str, list[int]] = json.loads(os.environ.get("FLOOR_CHAINS", "{}"))


def _store(authorization: str, body: dict[str, Any]) -> str:
    connection: psycopg.Connection[Any] | None = getattr(_local, "connection", None)
    if connection is None:
        connection = _local.connection = psycopg.connect(os.environ["FLOOR_DSN"])
    officer, cell, village, township, county = _CHAINS[authorization.removeprefix("Bearer ")]
    report_id = uuid.UUID(body["id"])
    lon, lat = float(body["lon"]), float(body["lat"])
    party = body["parties"][0]
    connection.execute(
        _INSERT_REPORT,
        (
            report_id,
            officer,
            cell,
            village,
            township,
            county,
            lon,
            lat,
            lon,
            lat,
            body["category"],
            body["severity"],
            body["people_involved"],
            body["title"],
            body["description"],
        ),
        prepare=True,
    )
    connection.execute(_INSERT_PARTY, (report_id, party["name"], party["phone"]), prepare=True)
    connection.commit()
    return str(report_id)


flask_app = Flask(__name__)


@flask_app.post("/api/v1/reports")
def create_report() -> Any:
    return jsonify({"id": _store(request.headers["Authorization"], request.get_json())}), 201


@flask_app.get("/<path:_any>")
def ready(_any: str) -> Any:
    return "ok"


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["REQUEST_METHOD"] == "GET":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(length))
    answer = json.dumps({"id": _store(environ["HTTP_AUTHORIZATION"], body)}).encode()
    start_response(
        "201 Created",
        [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))],
    )
    return [answer]
