"""Monotonic counters and histograms for Prometheus, kept in Redis so that they add up across every
worker process, every machine and every web process: each event is one HINCRBY, and whichever web
process Prometheus scrapes reads the service-wide totals (digest.ops.metrics). The keys never
expire; a Redis restart resets them to zero, which Prometheus' rate() and increase() treat as a
counter reset. Like the operators' records, a write never fails its caller."""

from __future__ import annotations

import atexit
import bisect
import json
import math
import threading
import time
from dataclasses import dataclass

import redis

from digest.redis_clients import write_quietly

COUNTERS_KEY = "digest:metrics:counters"  # hash: JSON [name, labels] -> count
HISTOGRAMS_KEY = "digest:metrics:histograms"  # hash: JSON [name, labels, bucket index | "sum"] -> value


@dataclass(frozen=True)
class Counter:
    name: str  # exposed with _total appended
    documentation: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Histogram:
    name: str
    documentation: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...]  # upper bounds in seconds; +Inf is added on exposition


TASK_RUNS = Counter("digest_task_runs", "Celery task runs finished, by task and outcome "
                    "(succeeded, failed, retried)", ("task", "outcome"))
DELIVERIES_SENT = Counter("digest_deliveries_sent", "Deliveries the email provider accepted")
PROVIDER_EVENTS = Counter("digest_provider_events", "Events the email provider reported through the "
                          "webhook, by type (other: a type SendGrid does not document)", ("event",))
HTTP_REQUESTS = Counter("digest_http_requests", "HTTP requests answered, by method, route and status",
                        ("method", "route", "status"))
TASK_DURATION = Histogram("digest_task_duration_seconds", "Celery task run time", ("task",),
                          (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
HTTP_DURATION = Histogram("digest_http_request_duration_seconds", "Time to answer an HTTP request",
                          ("method", "route"), (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
COUNTERS = (TASK_RUNS, DELIVERIES_SENT, PROVIDER_EVENTS, HTTP_REQUESTS)
# SendGrid's documented event types; any other name a webhook carries is counted as "other", so a
# payload cannot create series without end.
PROVIDER_EVENT_TYPES = frozenset({"processed", "dropped", "delivered", "deferred", "bounce", "open", "click",
                                  "spamreport", "unsubscribe", "group_unsubscribe", "group_resubscribe"})
HISTOGRAMS = (TASK_DURATION, HTTP_DURATION)


def _labels(metric: Counter | Histogram, values: dict[str, str]) -> list[str]:
    if set(values) != set(metric.labels):
        raise ValueError(f"{metric.name} takes the labels {metric.labels}, not {tuple(values)}")
    return [str(values[name]) for name in metric.labels]


def increment(pipe: redis.client.Pipeline, counter: Counter, amount: int = 1, **labels: str) -> None:
    pipe.hincrby(COUNTERS_KEY, json.dumps([counter.name, _labels(counter, labels)]), amount)


def observe(pipe: redis.client.Pipeline, histogram: Histogram, seconds: float, **labels: str) -> None:
    """One HINCRBY on the observation's own bucket (made cumulative when read) and one on the sum."""
    values = _labels(histogram, labels)
    bucket = bisect.bisect_left(histogram.buckets, seconds)  # len(buckets) means +Inf
    pipe.hincrby(HISTOGRAMS_KEY, json.dumps([histogram.name, values, bucket]), 1)
    pipe.hincrbyfloat(HISTOGRAMS_KEY, json.dumps([histogram.name, values, "sum"]), seconds)


def record_task_run(task: str, outcome: str, seconds: float | None) -> None:
    def write(client: redis.Redis) -> None:
        pipe = client.pipeline(transaction=False)
        increment(pipe, TASK_RUNS, task=task, outcome=outcome)
        if seconds is not None:
            observe(pipe, TASK_DURATION, seconds, task=task)
        pipe.execute()
    write_quietly(write)


def record_deliveries_sent(count: int) -> None:
    def write(client: redis.Redis) -> None:
        pipe = client.pipeline(transaction=False)
        increment(pipe, DELIVERIES_SENT, count)
        pipe.execute()
    if count:
        write_quietly(write)


def record_provider_events(names: list[str]) -> None:
    counts: dict[str, int] = {}
    for name in names:
        label = name if name in PROVIDER_EVENT_TYPES else "other"
        counts[label] = counts.get(label, 0) + 1

    def write(client: redis.Redis) -> None:
        pipe = client.pipeline(transaction=False)
        for label, count in sorted(counts.items()):
            increment(pipe, PROVIDER_EVENTS, count, event=label)
        pipe.execute()
    if counts:
        write_quietly(write)


class _HttpTally:
    """The web process's requests since its last write to Redis. A request only adds to these
    in memory; one pipeline a second writes them (a HINCRBY per distinct series, not per request),
    so the figures cost a busy process next to nothing and lag by at most FLUSH_SECONDS."""

    FLUSH_SECONDS = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        self._buckets: dict[tuple[str, str, int], int] = {}
        self._seconds: dict[tuple[str, str], float] = {}
        self._writer: threading.Thread | None = None

    def add(self, method: str, route: str, status: int, seconds: float) -> None:
        bucket = bisect.bisect_left(HTTP_DURATION.buckets, seconds)  # len(buckets) means +Inf
        with self._lock:
            key = (method, route, str(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            self._buckets[method, route, bucket] = self._buckets.get((method, route, bucket), 0) + 1
            self._seconds[method, route] = self._seconds.get((method, route), 0.0) + seconds
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_every_second, name="http-metrics", daemon=True)
                self._writer.start()
                atexit.register(self.flush)

    def flush(self) -> None:
        """Write what was counted since the last write (at once: before /metrics is read)."""
        with self._lock:
            requests, buckets, seconds = self._requests, self._buckets, self._seconds
            self._requests, self._buckets, self._seconds = {}, {}, {}
        if not requests:
            return

        def write(client: redis.Redis) -> None:
            pipe = client.pipeline(transaction=False)
            for (method, route, status), count in requests.items():
                increment(pipe, HTTP_REQUESTS, count, method=method, route=route, status=status)
            for (method, route, bucket), count in buckets.items():
                pipe.hincrby(HISTOGRAMS_KEY, json.dumps([HTTP_DURATION.name, [method, route], bucket]), count)
            for (method, route), total in seconds.items():
                pipe.hincrbyfloat(HISTOGRAMS_KEY, json.dumps([HTTP_DURATION.name, [method, route], "sum"]), total)
            pipe.execute()
        write_quietly(write)

    def _write_every_second(self) -> None:
        while True:
            time.sleep(self.FLUSH_SECONDS)
            self.flush()


_http_tally = _HttpTally()
record_http_request = _http_tally.add
flush_http_requests = _http_tally.flush


def read_counters(client: redis.Redis) -> dict[str, dict[tuple[str, ...], int]]:
    """name -> {label values: count}, for every counter (empty when nothing was counted yet)."""
    read: dict[str, dict[tuple[str, ...], int]] = {c.name: {} for c in COUNTERS}
    for field, value in client.hgetall(COUNTERS_KEY).items():
        name, labels = json.loads(field)
        if name in read:
            read[name][tuple(labels)] = int(value)
    return read


def read_histograms(client: redis.Redis) -> dict[str, dict[tuple[str, ...], tuple[list[int], float]]]:
    """name -> {label values: (cumulative count per bucket, +Inf last; sum of seconds)}."""
    by_name = {h.name: h for h in HISTOGRAMS}
    raw: dict[str, dict[tuple[str, ...], tuple[list[int], float]]] = {h.name: {} for h in HISTOGRAMS}
    for field, value in client.hgetall(HISTOGRAMS_KEY).items():
        name, labels, slot = json.loads(field)
        if name not in by_name:
            continue
        counts, total = raw[name].get(tuple(labels), ([0] * (len(by_name[name].buckets) + 1), 0.0))
        if slot == "sum":
            total = float(value)
        elif 0 <= slot < len(counts):
            counts[slot] = int(value)
        raw[name][tuple(labels)] = (counts, total)
    return {name: {labels: (_cumulative(counts), total if math.isfinite(total) else 0.0)
                   for labels, (counts, total) in series.items()}
            for name, series in raw.items()}


def _cumulative(counts: list[int]) -> list[int]:
    running, out = 0, []
    for count in counts:
        running += count
        out.append(running)
    return out
