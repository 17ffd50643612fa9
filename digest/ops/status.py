"""One status structure for the whole service: queues, workers, tasks, beat, feeds, sends and
dependencies, with the warnings the thresholds in settings raise. The ops page, the JSON API,
`digest ops status` and `/metrics` all read this, so they always agree."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from contextlib import nullcontext

import redis
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.progress import send_progress
from digest.delivery.ratelimit import SCHEDULE_KEY, read_schedule
from digest.delivery.sendgrid import SENDGRID_KEY
from digest.delivery.sendrate import limits_on
from digest.feeds.registry import feed_health
from digest.ops.queues import queue_stats
from digest.ops.records import (BEAT_KEY, DOCTOR_KEY, FAILURES_KEY, OUTCOMES, RUNTIMES_KEY, TASK_COUNTS_KEY, WORKERS_KEY,
                                minute, redis_client)
from digest.reports.facts import COMPLAINT_WARNING_RATE, spam_reports
from digest.store.db import unit_of_work
from digest.store.models import DeliveryStatus, Edition, EditionStatus

# A lost worker stays on the page this long, then its record is dropped.
FORGET_WORKER_AFTER = 24 * 3600
FAILURES_SHOWN = 20
# Sent editions stay on the page this long after their last delivery was handed over.
RECENT_SEND = dt.timedelta(days=2)


def _iso(epoch: float | None) -> str | None:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat() if epoch is not None else None


def worker_status(client: redis.Redis, now: float) -> list[dict]:
    lost_after = get_settings().OPS_WORKER_LOST_AFTER_SECONDS
    workers = []
    for hostname, raw in sorted(client.hgetall(WORKERS_KEY).items()):
        entry = json.loads(raw)
        silent = max(0.0, now - entry["last_seen"])
        if silent > FORGET_WORKER_AFTER:
            client.hdel(WORKERS_KEY, hostname)
            continue
        workers.append(dict(entry, state="online" if silent <= lost_after else "lost",
                            last_seen=_iso(entry["last_seen"]), silent_seconds=round(silent, 1)))
    return workers


def _percentile(ordered: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def task_status(client: redis.Redis, now: float) -> list[dict]:
    """Per task name over the last hour: outcomes and runtime percentiles (seconds)."""
    buckets = range(minute(now) - 59, minute(now) + 1)
    pipe = client.pipeline(transaction=False)
    for bucket in buckets:
        pipe.hgetall(f"{TASK_COUNTS_KEY}{bucket}")
    counts: dict[str, dict[str, int]] = {}
    for answer in pipe.execute():
        for field, count in answer.items():
            name, _, outcome = field.rpartition("|")
            entry = counts.setdefault(name, dict.fromkeys(OUTCOMES, 0))
            entry[outcome] = entry.get(outcome, 0) + int(count)
    names = sorted(counts)
    pipe = client.pipeline(transaction=False)
    for name in names:
        for bucket in buckets:
            pipe.lrange(f"{RUNTIMES_KEY}{bucket}:{name}", 0, -1)
    answers = iter(pipe.execute())
    tasks = []
    for name in names:
        runtimes = sorted(float(v) for _ in buckets for v in next(answers))
        finished = counts[name]["succeeded"] + counts[name]["failed"]
        tasks.append(dict(
            name=name, **counts[name],
            failure_ratio=round(counts[name]["failed"] / finished, 4) if finished else 0.0,
            runtime_p50=_percentile(runtimes, 0.5) if runtimes else None,
            runtime_p95=_percentile(runtimes, 0.95) if runtimes else None,
            runtime_max=runtimes[-1] if runtimes else None,
            runtime_count=len(runtimes),
        ))
    return tasks


def failure_list(client: redis.Redis) -> list[dict]:
    entries = [json.loads(raw) for raw in client.lrange(FAILURES_KEY, 0, FAILURES_SHOWN - 1)]
    return [dict(entry, at=_iso(entry["at"])) for entry in entries]


def beat_status(client: redis.Redis, now: float) -> dict:
    raw = client.get(BEAT_KEY)
    if raw is None:
        return {"last_tick": None, "age_seconds": None, "next_tick_in": None, "silent": True}
    entry = json.loads(raw)
    age = max(0.0, now - entry["at"])
    allowed = entry["next_tick_in"] + get_settings().OPS_BEAT_GRACE_SECONDS
    return {"last_tick": _iso(entry["at"]), "age_seconds": round(age, 1),
            "next_tick_in": entry["next_tick_in"], "silent": age > allowed}


def rate_limit_status(client: redis.Redis, now: float) -> dict:
    """Today's limits (a warm-up day's caps, or the flat rates) and the shared schedule."""
    settings = get_settings()
    today = limits_on(dt.datetime.fromtimestamp(now, dt.UTC).date(), settings)
    schedule = read_schedule(client.hgetall(SCHEDULE_KEY))
    taken_today = schedule.day_used if schedule.day == int(now // 86400) else 0
    return {"per_second": today.per_second, "per_hour": today.per_hour, "per_day": today.per_day,
            "warmup": bool(settings.SEND_WARMUP_PLAN),
            "next_free_slot": _iso(schedule.free_at) if schedule.free_at > now else None,
            "reserved_today": taken_today}


def sendgrid_status(client: redis.Redis) -> dict:
    raw = client.get(SENDGRID_KEY)
    if raw is None:
        return {"status": None, "at": None, "detail": "no answer recorded yet"}
    entry = json.loads(raw)
    return dict(entry, at=_iso(entry["at"]))


def doctor_status(client: redis.Redis) -> dict:
    """`digest doctor`'s last run (the checks as it printed them), or none yet."""
    raw = client.get(DOCTOR_KEY)
    if raw is None:
        return {"at": None, "checks": []}
    entry = json.loads(raw)
    return {"at": _iso(entry["at"]), "checks": entry["checks"]}


def feed_status(session) -> list[dict]:
    return [{"id": h.feed.id, "url": h.feed.url, "status": h.feed.status.value,
             "last_success_at": h.feed.last_success_at.isoformat() if h.feed.last_success_at else None,
             "consecutive_failures": h.feed.consecutive_failures, "last_error": h.feed.last_error,
             "stale": h.stale}
            for h in feed_health(session)]


def send_status(session, now: dt.datetime) -> list[dict]:
    """Editions sending or paused, and those sent recently, with their progress (the same
    figures the edition page shows: digest.delivery.progress)."""
    active = (EditionStatus.SENDING, EditionStatus.PAUSED)
    editions = session.scalars(
        select(Edition).where(Edition.status.in_(active) | ((Edition.status == EditionStatus.SENT)
                                                             & (Edition.sent_at >= now - RECENT_SEND)))
        .order_by(Edition.id)
    ).all()
    sends = []
    complaints = spam_reports(session, [edition.id for edition in editions])
    for edition in editions:
        progress = send_progress(session, edition, now)
        sends.append({"edition_id": edition.id, "subject": edition.subject, "status": edition.status.value,
                      "note": edition.note,
                      "deliveries": dict.fromkeys((s.value for s in DeliveryStatus), 0) | progress.counts, "total": progress.total,
                      "done": progress.done, "percent": progress.percent, "per_minute": progress.per_minute,
                      "eta": progress.eta.isoformat() if progress.eta else None,
                      "resent": progress.resent, "maybe_twice": progress.maybe_twice,
                      # Handed to the provider to hold until send_at: it can still be called off.
                      "held_at_provider": bool(edition.provider_batch_id) and edition.send_at > now,
                      "spam_reports": complaints.get(edition.id, 0)})
    return sends


def _warn(warnings: list, check: str, subject: str, message: str) -> None:
    warnings.append({"check": check, "subject": subject, "message": message})


def _warnings(status: dict) -> list[dict]:
    settings = get_settings()
    warnings: list[dict] = []
    deps = status["dependencies"]
    for name in ("database", "redis"):
        if not deps[name]["ok"]:
            _warn(warnings, "dependency", name, f"{name} unreachable: {deps[name]['error']}")
    if deps["sendgrid"].get("status") in (401, 403):
        _warn(warnings, "sendgrid_auth", "sendgrid",
              f"SendGrid refused the API key ({deps['sendgrid']['status']}): {deps['sendgrid'].get('detail')}")
    online = [w for w in status["workers"] if w["state"] == "online"]
    for worker in status["workers"]:
        if worker["state"] == "lost":
            _warn(warnings, "worker_lost", worker["hostname"],
                  f"worker {worker['hostname']} silent for {worker['silent_seconds']:.0f} s: lost")
    for queue in status["queues"]:
        name = queue["queue"]
        if queue["waiting"] > settings.OPS_QUEUE_WAITING_MAX:
            _warn(warnings, "queue_waiting", name,
                  f"{queue['waiting']} message{'s' if queue['waiting'] != 1 else ''} waiting on {name} "
                  f"(above {settings.OPS_QUEUE_WAITING_MAX})")
        age = queue["oldest_age_seconds"]
        if age is not None and age > settings.OPS_QUEUE_OLDEST_MAX_SECONDS:
            _warn(warnings, "queue_oldest", name, f"oldest message on {name} waited {age:.0f} s "
                                                  f"(above {settings.OPS_QUEUE_OLDEST_MAX_SECONDS:.0f} s)")
        if deps["redis"]["ok"] and not any(name in w["queues"] for w in online):
            _warn(warnings, "queue_unserved", name, f"no worker online consumes {name}")
    for task in status["tasks"]:
        if task["failure_ratio"] > settings.OPS_FAILURE_RATIO_MAX:
            _warn(warnings, "failure_ratio", task["name"],
                  f"{task['name']} failed {task['failed']} of {task['succeeded'] + task['failed']} runs "
                  f"in the last hour (above {settings.OPS_FAILURE_RATIO_MAX:.0%})")
    for send in status["sends"]:
        delivered = send["deliveries"].get("delivered", 0)
        if delivered and send["spam_reports"] / delivered > COMPLAINT_WARNING_RATE:
            _warn(warnings, "complaint_rate", f"edition {send['edition_id']}",
                  f"edition {send['edition_id']}: {send['spam_reports']} spam reports of {delivered} delivered "
                  f"({send['spam_reports'] / delivered:.2%}, above 0.1%; Gmail refuses bulk senders above 0.3%)")
    beat = status["beat"]
    if deps["redis"]["ok"] and beat["silent"]:
        _warn(warnings, "beat_silent", "beat", "beat has never ticked" if beat["last_tick"] is None
              else f"beat silent for {beat['age_seconds']:.0f} s")
    return warnings


def readiness() -> dict[str, str | None]:
    """For `/readyz`: whether the database and Redis answer (None) or the error each gave."""
    errors: dict[str, str | None] = {"database": None, "redis": None}
    try:
        with unit_of_work() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        errors["database"] = str(exc).splitlines()[0][:300]
    try:
        redis_client().ping()
    except (redis.RedisError, OSError) as exc:
        errors["redis"] = str(exc)[:300]
    return errors


def gather_status(now: dt.datetime | None = None, session: Session | None = None) -> dict:
    """Everything an operator asks "is it healthy, and what is it doing?" about, as plain data.
    A web request passes its own session (one per request); the CLI and /metrics open one."""
    now = now or utcnow()
    epoch = now.timestamp()
    status: dict = {"generated_at": now.isoformat(), "queues": [], "workers": [], "tasks": [],
                    "failures": [], "beat": {"last_tick": None, "age_seconds": None, "next_tick_in": None,
                                             "silent": False},
                    "feeds": [], "sends": [], "rate_limit": {}, "dependencies": {},
                    "doctor": {"at": None, "checks": []}}
    started = time.perf_counter()
    try:
        with nullcontext(session) if session is not None else unit_of_work() as db:
            db.execute(text("SELECT 1"))
            status["dependencies"]["database"] = {"ok": True, "error": None,
                                                  "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
            status["feeds"] = feed_status(db)
            status["sends"] = send_status(db, now)
    except Exception as exc:  # noqa: BLE001 - an unreachable database is a figure here, not a crash
        status["dependencies"]["database"] = {"ok": False, "error": str(exc).splitlines()[0][:300],
                                              "latency_ms": None}
    client = redis_client()
    started = time.perf_counter()
    try:
        client.ping()
        status["dependencies"]["redis"] = {"ok": True, "error": None,
                                           "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
        status["queues"] = queue_stats(client, epoch)
        status["workers"] = worker_status(client, epoch)
        status["tasks"] = task_status(client, epoch)
        status["failures"] = failure_list(client)
        status["beat"] = beat_status(client, epoch)
        status["rate_limit"] = rate_limit_status(client, epoch)
        status["dependencies"]["sendgrid"] = sendgrid_status(client)
        status["doctor"] = doctor_status(client)
    except (redis.RedisError, OSError) as exc:
        status["dependencies"]["redis"] = {"ok": False, "error": str(exc)[:300], "latency_ms": None}
        status["dependencies"].setdefault("sendgrid", {"status": None, "at": None, "detail": "unknown"})
    for queue in status["queues"]:
        queue["workers"] = sorted(w["hostname"] for w in status["workers"]
                                  if w["state"] == "online" and queue["queue"] in w["queues"])
    status["warnings"] = _warnings(status)
    status["healthy"] = not status["warnings"]
    return status

