"""Celery wiring: the app, its configuration, the beat schedule and thin tasks over `digest`."""
