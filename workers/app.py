"""The Celery app: `celery -A workers.app worker` and `celery -A workers.app beat`."""

from celery import Celery

app = Celery("analyst_digest", include=["workers.tasks"])
app.config_from_object("workers.config")
