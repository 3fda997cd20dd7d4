"""Logs as one JSON object per line when FIELDAPP_LOG_FORMAT=json (for journald, Loki, ELK…):
time (UTC, ISO 8601), level, logger, message, process id, and the exception when there is
one. Otherwise logging stays as Python, Flask and gunicorn set it up."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

LOG_FORMAT_ENV = "FIELDAPP_LOG_FORMAT"


def json_wanted() -> bool:
    return os.environ.get(LOG_FORMAT_ENV, "").strip().lower() == "json"


class JsonFormatter(logging.Formatter):
    """One line of JSON per record; what a record carries in `extra` is kept."""

    _STANDARD = frozenset([*vars(logging.makeLogRecord({})), "message", "asctime"])

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else repr(value)
        return json.dumps(entry, ensure_ascii=False)


def configure() -> None:
    """Send the root logger's records to stderr as JSON lines (once per process)."""
    if not json_wanted():
        return
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root.handlers = [handler]
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)


def gunicorn_logconfig() -> dict[str, Any] | None:
    """gunicorn's own logs (errors, access lines) in the same JSON shape, or None."""
    if not json_wanted():
        return None
    handler = {"class": "logging.StreamHandler", "formatter": "json"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "fieldapp.logging_setup.JsonFormatter"}},
        "handlers": {"stderr": handler},
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        },
    }
