"""`/metrics`: the status structure in Prometheus text format. A custom collector reads
gather_status() at each scrape, in a registry of its own, so the figures are those of the JSON."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from digest.ops.status import gather_status


def _gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"digest_{name}", documentation, labels=labels)


def families(status: dict) -> list[GaugeMetricFamily]:
    waiting = _gauge("queue_waiting", "Messages waiting on a queue (all priorities)", ["queue"])
    in_flight = _gauge("queue_in_flight", "Messages delivered to a worker, not yet acknowledged", ["queue"])
    oldest = _gauge("queue_oldest_age_seconds", "Age of the oldest waiting message, where known", ["queue"])
    queue_workers = _gauge("queue_workers", "Workers online consuming a queue", ["queue"])
    for queue in status["queues"]:
        name = [queue["queue"]]
        waiting.add_metric(name, queue["waiting"])
        in_flight.add_metric(name, queue["in_flight"])
        queue_workers.add_metric(name, len(queue["workers"]))
        if queue["oldest_age_seconds"] is not None:
            oldest.add_metric(name, queue["oldest_age_seconds"])
    workers = _gauge("workers", "Workers by state (online, lost)", ["state"])
    for state in ("online", "lost"):
        workers.add_metric([state], sum(1 for w in status["workers"] if w["state"] == state))
    tasks = _gauge("tasks_last_hour", "Task runs in the last hour by outcome", ["task", "outcome"])
    runtime = _gauge("task_runtime_seconds", "Task runtime over the last hour", ["task", "quantile"])
    for task in status["tasks"]:
        for outcome in ("succeeded", "failed", "retried"):
            tasks.add_metric([task["name"], outcome], task[outcome])
        for quantile, key in (("0.5", "runtime_p50"), ("0.95", "runtime_p95"), ("1", "runtime_max")):
            if task[key] is not None:
                runtime.add_metric([task["name"], quantile], task[key])
    deliveries = _gauge("deliveries", "Deliveries of an edition by state", ["edition", "state"])
    send_rate = _gauge("send_per_minute", "Deliveries handed over per minute (last 5 minutes)", ["edition"])
    for send in status["sends"]:
        for state, count in send["deliveries"].items():
            deliveries.add_metric([str(send["edition_id"]), state], count)
        send_rate.add_metric([str(send["edition_id"])], send["per_minute"] or 0)
    feed_failures = _gauge("feed_consecutive_failures", "Failed polls in a row", ["feed"])
    feeds_stale = _gauge("feeds_stale", "Feeds with nothing new for FEED_STALE_DAYS")
    for feed in status["feeds"]:
        feed_failures.add_metric([str(feed["id"])], feed["consecutive_failures"])
    feeds_stale.add_metric([], sum(1 for f in status["feeds"] if f["stale"]))
    beat_age = _gauge("beat_age_seconds", "Seconds since beat last ticked")
    if status["beat"]["age_seconds"] is not None:
        beat_age.add_metric([], status["beat"]["age_seconds"])
    up = _gauge("dependency_up", "Whether a dependency answered (1) or not (0)", ["dependency"])
    for name in ("database", "redis"):
        up.add_metric([name], 1 if status["dependencies"][name]["ok"] else 0)
    warnings = _gauge("warnings", "Thresholds crossed now, by check", ["check"])
    by_check: dict[str, int] = {}
    for warning in status["warnings"]:
        by_check[warning["check"]] = by_check.get(warning["check"], 0) + 1
    for check, count in sorted(by_check.items()):
        warnings.add_metric([check], count)
    return [waiting, in_flight, oldest, queue_workers, workers, tasks, runtime, deliveries, send_rate,
            feed_failures, feeds_stale, beat_age, up, warnings]


class StatusCollector:
    def collect(self):
        yield from families(gather_status())


registry = CollectorRegistry(auto_describe=False)
registry.register(StatusCollector())


def metrics_text() -> bytes:
    return generate_latest(registry)
