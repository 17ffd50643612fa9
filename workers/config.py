"""Celery settings, derived from digest's settings (the only place the environment is read)."""

from celery.schedules import crontab

from digest.config import get_settings

_settings = get_settings()

broker_url = _settings.REDIS_URL
broker_connection_retry_on_startup = True
# Redis redelivers a message not acknowledged within this time (its worker died); sends finish
# far sooner. Workers look for such messages a few times per visibility period.
_visibility = _settings.BROKER_VISIBILITY_TIMEOUT_SECONDS
broker_transport_options = {
    "visibility_timeout": _visibility,
    "unacked_restore_interval": max(1, min(10, _visibility // 6)),
    "unacked_restore_throttle": max(1, min(10, _visibility // 60)),
}
task_serializer = "json"
accept_content = ["json"]
task_ignore_result = True
timezone = "UTC"
enable_utc = True
# One message at a time per process: a long send never holds other messages hostage.
worker_prefetch_multiplier = 1
worker_send_task_events = True
task_send_sent_event = True

task_default_queue = "editions"
# Every task by its name (workers/tasks.py); a new task goes to the default queue until listed here.
task_routes = {
    "workers.tasks.poll_due_feeds": {"queue": "feeds"},
    "workers.tasks.poll_feed": {"queue": "feeds"},
    "workers.tasks.edition_tick": {"queue": "editions"},
    "workers.tasks.start_edition": {"queue": "editions"},
    "workers.tasks.plan_slice": {"queue": "editions"},
    "workers.tasks.check_edition": {"queue": "editions"},
    "workers.tasks.send_batch": {"queue": "delivery"},
    "workers.tasks.send_batches_in_turn": {"queue": "delivery"},
    "workers.tasks.reconcile_deliveries": {"queue": "delivery"},
    "workers.tasks.process_webhook": {"queue": "webhooks"},
    "workers.tasks.sweep_webhooks": {"queue": "webhooks"},
    # Confirmations go with the short edition tasks, never behind an edition's send batches:
    # a reader who just signed up waits for that email.
    "workers.tasks.send_confirmation": {"queue": "editions"},
    # A CSV import is seconds of work at most (IMPORT_MAX_BYTES): it runs on the same workers as
    # the other editor actions, which never wait behind an edition's send batches (those have
    # workers of their own), and takes one of their processes, never the web server's.
    "workers.tasks.import_subscribers": {"queue": "editions"},
}

# Records each tick for the ops page (workers/beat.py).
beat_scheduler = "workers.beat:RecordingScheduler"
beat_schedule = {
    "poll-due-feeds": {"task": "workers.tasks.poll_due_feeds", "schedule": crontab(minute="*/5")},
    # Cheap: one indexed query finds nothing most minutes. The cadence decides what is due.
    "edition-tick": {"task": "workers.tasks.edition_tick", "schedule": 60.0},
    "reconcile-deliveries": {"task": "workers.tasks.reconcile_deliveries",
                             "schedule": _settings.SEND_RECONCILE_INTERVAL_SECONDS},
    # Webhook batches kept but never applied (their message was lost with Redis).
    "sweep-webhooks": {"task": "workers.tasks.sweep_webhooks", "schedule": float(_settings.WEBHOOK_SWEEP_AFTER_SECONDS)},
}
