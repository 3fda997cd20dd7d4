"""The beat schedule. Later work adds the deadline sweep and the hotspot recomputation."""

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Picks up outbox rows the requests could not send (e.g. while the broker was down).
    "relay-outbox": {"task": "workers.tasks.relay_outbox", "schedule": 5.0},
    # Warning lights: notify owners once per change, escalate overdue red cases.
    "deadline-sweep": {"task": "workers.tasks.deadline_sweep", "schedule": 180.0},
    # Hotspot alerts on the complete days up to yesterday (Celery's timezone is Asia/Shanghai).
    "recompute-hotspots": {
        "task": "workers.tasks.recompute_hotspots",
        "schedule": crontab(hour=6, minute=0),
    },
    # Keeps the worker's cached STRtree and layers warm after an import elsewhere.
    "warm-geography-caches": {"task": "workers.tasks.warm_geography_caches", "schedule": 300.0},
    # Export files past their expiry (EXPORT_TTL_HOURS) are deleted and their jobs expired.
    "expire-exports": {"task": "workers.tasks.expire_exports", "schedule": 600.0},
    # Silent officers (no check-in, no report for SILENT_DAYS days): one note a day to each
    # coordinator, in the morning before the day's calls (Celery's timezone is Asia/Shanghai).
    "notify-silent-officers": {
        "task": "workers.tasks.notify_silent_officers",
        "schedule": crontab(hour=8, minute=30),
    },
}
