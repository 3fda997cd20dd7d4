"""The Flask application: configuration, extensions, blueprints, CLI."""

from __future__ import annotations

import os
from collections.abc import Callable
from inspect import CO_COROUTINE
from pathlib import Path
from types import FunctionType
from typing import Any

from flask import Flask

from fieldapp import config, labels
from fieldapp.background import celery_init_app
from fieldapp.db import db
from fieldapp.i18n import init_babel


class FieldApp(Flask):
    """Flask, answering `ensure_sync` for a plain function without `inspect`: Flask asks it
    of every hook and view on every request (ten on an API call), and inspect's unwrapping
    cost each about as much as the hook it was asked about. The same answer as Flask's."""

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if (
            type(func) is FunctionType
            and not func.__code__.co_flags & CO_COROUTINE
            and "_is_coroutine_marker" not in func.__dict__  # inspect.markcoroutinefunction
        ):
            return func
        return super().ensure_sync(func)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory (Flask tutorial style). `test_config` overrides the environment."""
    instance_path = os.environ.get("FIELDAPP_INSTANCE") or None
    app = FieldApp(__name__, instance_path=instance_path, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(config.from_environment(Path(app.instance_path)))
    if test_config:
        app.config.update(test_config)
    _resolve_service_urls(app)

    db.init_app(app)
    init_babel(app)
    labels.init_app(app)

    from fieldapp.auth import CookieSessionInterface, csrf
    from fieldapp.blueprints import (
        account,
        admin,
        api,
        auth,
        city,
        dashboard,
        docs,
        exports,
        field,
        hotspots_api,
        layers,
        ops,
        pages,
        people,
        stats_api,
        triage,
    )
    from fieldapp.errors import register_error_handlers
    from fieldapp.navigation import init_navigation

    app.session_interface = CookieSessionInterface()
    from fieldapp import privacy, security_headers

    security_headers.init_app(app)
    privacy.init_app(app)
    csrf.init_app(app)
    register_error_handlers(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(field.bp)
    app.register_blueprint(field.api_bp)
    app.register_blueprint(triage.bp)
    app.register_blueprint(hotspots_api.bp)
    app.register_blueprint(layers.bp)
    app.register_blueprint(stats_api.bp)
    app.register_blueprint(city.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(exports.api_bp)
    app.register_blueprint(exports.web_bp)
    init_navigation(app)
    app.register_blueprint(people.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(admin.bp)
    from fieldapp.services import settings as settings_service

    settings_service.configure(app.config["SETTINGS_CHECK_SECONDS"])

    celery_init_app(app)
    from fieldapp import logging_setup, metrics

    logging_setup.configure()
    metrics.init_app(app)
    return app


def _resolve_service_urls(app: Flask) -> None:
    """With no DATABASE_URL / CELERY_BROKER_URL, use the private services under instance/.
    PostgreSQL is started on demand (nearly every command needs it); the broker only by the
    commands that run workers, so a quick `fieldapp geo stats` does not spawn redis."""
    from fieldapp import localservices

    instance = Path(app.instance_path)
    if not app.config["DATABASE_URL"]:
        if app.config["AUTO_START_SERVICES"]:
            app.config["DATABASE_URL"] = localservices.ensure_postgres(
                instance, progress=lambda _msg: None
            )
        else:
            app.config["DATABASE_URL"] = localservices.private_database_url(instance)
    if not app.config["CELERY_BROKER_URL"]:
        app.config["CELERY_BROKER_URL"] = localservices.private_broker_url(instance)
        app.config["PRIVATE_BROKER"] = True
