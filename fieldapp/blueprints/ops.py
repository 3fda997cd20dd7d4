"""Endpoints for operators and load balancers: readiness beside pages.healthz (liveness)."""

from __future__ import annotations

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue

from fieldapp import health
from fieldapp.db import db

bp = Blueprint("ops", __name__)


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Readiness: 200 when the database answers, its migrations are current and the broker
    accepts connections; 503 with one line per problem otherwise, so a load balancer takes
    this node out of rotation (and /healthz keeps it from being restarted for it)."""
    result = health.readiness(db.engine, current_app.config["CELERY_BROKER_URL"])
    if result.ready:
        return {"status": "ready"}
    body = {"status": "not ready", "problems": result.problems}
    return body, 503, {"Retry-After": str(health.RETRY_AFTER_SECONDS)}
