"""Entry point for `celery -A workers.app worker` / `beat`."""

from fieldapp import create_app
from workers.schedule import BEAT_SCHEDULE

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
celery_app.conf.beat_schedule = BEAT_SCHEDULE
