"""Celery: the app entry point (`workers.app`), thin tasks calling services, the beat schedule.
Workers import services, never blueprints."""
