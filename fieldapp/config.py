"""Configuration from environment variables, with safe defaults (the README lists them):

- DATABASE_URL: SQLAlchemy URL; default the private PostGIS cluster under instance/.
- CELERY_BROKER_URL: redis://… or amqp://…; default the private redis-server under instance/.
- SECRET_KEY: signs sessions; default a random key generated once into instance/secret_key.
- TILE_URL, TILE_ATTRIBUTION: an XYZ base map; default none, so pages work with no internet.
- FIELDAPP_LANGUAGE: the default UI language, zh (Simplified Chinese) or en.
- FIELDAPP_WEB_SESSION_IDLE_HOURS, FIELDAPP_WEB_SESSION_MAX_DAYS: a web sign-in ends after
  this long without a request (default 12 hours) and this long after signing in (7 days).
- FIELDAPP_SETTINGS_CHECK_SECONDS: how soon every process sees a change made at
  /admin/settings (default 5 s).
- FIELDAPP_PROXY_HOPS: how many reverse proxies (nginx: 1) sit in front of the app; their
  X-Forwarded-For gives the client address the audit log records (default 0: none trusted).
- FIELDAPP_EXPORT_DIR, FIELDAPP_EXPORT_TTL_HOURS: a worker's scratch folder for export files
  being written (default instance/exports; finished files are stored in PostgreSQL, see
  fieldapp.export_store) and how long they stay downloadable (default 24 hours).
- FIELDAPP_REPLICA_DATABASE_URL, FIELDAPP_REPLICA_MAX_LAG_SECONDS,
  FIELDAPP_REPLICA_CHECK_SECONDS: a PostgreSQL streaming replica that dashboards, roll-ups,
  KPIs, map layers and exports read from while it is at most this many seconds behind
  (default 5), measured at most this often per process (default 1 s); default none.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from fieldapp.deadlines import DeadlinePolicy
from fieldapp.domain import CHINA_TZ


def _secret_key(instance_path: Path) -> str:
    """A random key kept in instance/ so sessions survive restarts without anyone having to
    invent one; a deployment sets SECRET_KEY explicitly."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def _tianditu_url(key: str | None) -> str | None:
    """Tianditu (天地图) vector tiles in Web Mercator, which are CGCS2000 = WGS-84 for our
    purposes, so no shift is needed. Needs a key from the Tianditu developer site."""
    if not key:
        return None
    return (
        "https://t0.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
        f"&TILECOL={{x}}&tk={key}"
    )


def from_environment(instance_path: Path) -> dict[str, Any]:
    env = os.environ
    return {
        "SECRET_KEY": env.get("SECRET_KEY") or _secret_key(instance_path),
        "DATABASE_URL": env.get("DATABASE_URL") or None,
        "CELERY_BROKER_URL": env.get("CELERY_BROKER_URL") or None,
        "TILE_URL": env.get("TILE_URL") or _tianditu_url(env.get("TIANDITU_KEY")),
        "TILE_ATTRIBUTION": env.get("TILE_ATTRIBUTION")
        or ("天地图 © 国家地理信息公共服务平台" if env.get("TIANDITU_KEY") else ""),
        # The coordinate system of the base tiles: gcj02 for AMap/Tencent-style tiles, whose
        # offset our WGS-84 layers are shifted onto for display.
        "TILE_CRS": env.get("TILE_CRS", "wgs84"),
        "BABEL_DEFAULT_LOCALE": env.get("FIELDAPP_LANGUAGE", "zh"),
        "BABEL_DEFAULT_TIMEZONE": CHINA_TZ.key,
        "LANGUAGES": ("zh", "en"),
        # Start the private PostgreSQL / redis on demand when no URL is configured.
        "AUTO_START_SERVICES": env.get("FIELDAPP_AUTO_START_SERVICES", "1") != "0",
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        # Outbound notification channels: log (default), smtp, sms — comma-separated.
        "NOTIFY_CHANNELS": env.get("FIELDAPP_NOTIFY_CHANNELS", "log"),
        "SMTP_HOST": env.get("SMTP_HOST"),
        "SMTP_PORT": int(env.get("SMTP_PORT", 25)),
        "SMTP_USER": env.get("SMTP_USER"),
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD"),
        "SMTP_FROM": env.get("SMTP_FROM", "noreply@localhost"),
        "SMTP_STARTTLS": env.get("SMTP_STARTTLS", "0") == "1",
        # Hotspot ALERT methods: the space-time scan and the scan on each cell's own baseline
        # (ebp), together within the budget. Gi* and emerging hot spots flag
        # ~42 and ~56 new alerts a month on outbreak-free data (docs/early-warning.md), far
        # over the budget of one false alert a month: they are map analyses. Listing them
        # here also needs FIELDAPP_HOTSPOT_OVER_BUDGET=1.
        "HOTSPOT_METHODS": tuple(
            m.strip()
            for m in env.get("FIELDAPP_HOTSPOT_METHODS", "scan,ebp").split(",")
            if m.strip()
        ),
        "HOTSPOT_OVER_BUDGET": env.get("FIELDAPP_HOTSPOT_OVER_BUDGET", "0") == "1",
        "MAX_PHOTO_BYTES": int(env.get("FIELDAPP_MAX_PHOTO_BYTES", 10 * 1024 * 1024)),
        "GROUP_INCIDENT_THRESHOLD": int(env.get("FIELDAPP_GROUP_INCIDENT_THRESHOLD", 5)),
        # Deadlines per step and severity (DESIGN §1 defaults); a deployment can replace it
        # with its own DeadlinePolicy(...) through test_config or a wrapper of create_app.
        "DEADLINE_POLICY": DeadlinePolicy(
            business_days=env.get("FIELDAPP_BUSINESS_DAYS", "0") == "1"
        ),
        "JSON_SORT_KEYS": False,
        # GET /api/v1/kpis answers from a table computed at most this many seconds ago for the
        # same scope, area and period (fieldapp.services.stats._KpiCache; 0 = always compute).
        "KPI_CACHE_SECONDS": float(env.get("FIELDAPP_KPI_CACHE_SECONDS", 5)),
        # A pooled database connection idle longer than this is pinged before use (fieldapp.db).
        "DATABASE_PING_AFTER_IDLE_SECONDS": float(
            env.get("FIELDAPP_DATABASE_PING_AFTER_IDLE_SECONDS", 1)
        ),
        # Exports (fieldapp.services.exports): files under this directory, kept this long.
        "EXPORT_DIR": env.get("FIELDAPP_EXPORT_DIR") or str(instance_path / "exports"),
        "EXPORT_TTL_HOURS": float(env.get("FIELDAPP_EXPORT_TTL_HOURS", 24)),
        # Unfinished exports one user may have at once (queued or running).
        "EXPORT_MAX_ACTIVE": int(env.get("FIELDAPP_EXPORT_MAX_ACTIVE", 3)),
        # An officer with no check-in and no report for this many whole days is "silent"
        # (fieldapp.services.silent): listed on /triage/silent and the dashboards.
        "SILENT_DAYS": int(env.get("FIELDAPP_SILENT_DAYS", 3)),
        # Keys of the field-level encryption of personal data (fieldapp.crypto): inline JSON,
        # else a file, by default instance/data_keys.json created on first use (mode 0600).
        "DATA_KEYS": env.get("FIELDAPP_DATA_KEYS") or None,
        "DATA_KEYS_FILE": env.get("FIELDAPP_DATA_KEYS_FILE")
        or str(instance_path / "data_keys.json"),
        # Web sessions (fieldapp.services.websessions): signed out after this many hours
        # without a request, and this many days after signing in, whatever the activity.
        "WEB_SESSION_IDLE_HOURS": float(env.get("FIELDAPP_WEB_SESSION_IDLE_HOURS", 12)),
        "WEB_SESSION_MAX_DAYS": float(env.get("FIELDAPP_WEB_SESSION_MAX_DAYS", 7)),
        # Settings changed at /admin/settings reach every process within this many seconds
        # (each re-reads the settings revision at most this often: fieldapp.services.settings).
        "SETTINGS_CHECK_SECONDS": float(env.get("FIELDAPP_SETTINGS_CHECK_SECONDS", 5)),
        # Reverse proxies in front of the app (nginx: 1) whose X-Forwarded-For / -Proto it
        # trusts (werkzeug ProxyFix, fieldapp.security_headers): the client's address for
        # sign-in limits and the audit log, and HTTPS for the Secure cookie. 0 (default)
        # trusts none, so a client cannot forge its address.
        "PROXY_HOPS": int(env.get("FIELDAPP_PROXY_HOPS", 0)),
        # A streaming replica for read-heavy work (fieldapp.db.ReplicaRouter): used while its
        # replay lag is within REPLICA_MAX_LAG_SECONDS, else reads go to the primary.
        "REPLICA_DATABASE_URL": env.get("FIELDAPP_REPLICA_DATABASE_URL") or None,
        "REPLICA_MAX_LAG_SECONDS": float(env.get("FIELDAPP_REPLICA_MAX_LAG_SECONDS", 5)),
        "REPLICA_CHECK_SECONDS": float(env.get("FIELDAPP_REPLICA_CHECK_SECONDS", 1)),
    }
