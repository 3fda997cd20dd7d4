"""Entry point for `celery -A workers.app worker` / `beat`."""

from fieldapp import beat_guard, create_app
from workers.schedule import BEAT_SCHEDULE

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
celery_app.conf.beat_schedule = BEAT_SCHEDULE

# Exactly one beat across machines: a beat waits for a PostgreSQL advisory lock before its
# first tick (fieldapp.beat_guard).
beat_guard.install(flask_app.extensions["fieldapp.engine"])
