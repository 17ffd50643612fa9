"""`/metrics`: the service in Prometheus text format, read afresh at each scrape by a collector in
a registry of its own. Gauges are the status structure (digest.ops.status, the figures the ops
page shows); counters and histograms are the service-wide totals kept in Redis
(digest.counters). Names and units are listed in docs/operations.md's metrics table."""

from __future__ import annotations

import datetime as dt

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from digest.counters import COUNTERS, HISTOGRAMS, read_counters, read_histograms
from digest.ops.records import redis_client
from digest.ops.status import gather_status


def _gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"digest_{name}", documentation, labels=labels)


def _queue_families(status: dict) -> list[GaugeMetricFamily]:
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
    return [waiting, in_flight, oldest, queue_workers, workers]


def _edition_families(status: dict, now: dt.datetime) -> list[GaugeMetricFamily]:
    """Editions sending, paused or sent in the last two days (the ops page's sends)."""
    edition_status = _gauge("edition_status", "1 for the edition's status (sending, paused, sent)",
                            ["edition", "status"])
    deliveries = _gauge("edition_deliveries", "Deliveries of an edition by state", ["edition", "state"])
    progress = _gauge("edition_progress_ratio", "Share of an edition's deliveries no longer waiting (0 to 1)",
                      ["edition"])
    rate = _gauge("edition_deliveries_per_second", "Deliveries handed over per second, recently", ["edition"])
    eta = _gauge("edition_eta_seconds", "Seconds until the send is expected to finish", ["edition"])
    for send in status["sends"]:
        edition = str(send["edition_id"])
        edition_status.add_metric([edition, send["status"]], 1)
        for state, count in send["deliveries"].items():
            deliveries.add_metric([edition, state], count)
        progress.add_metric([edition], send["done"] / send["total"] if send["total"] else 1.0)
        rate.add_metric([edition], (send["per_minute"] or 0) / 60)
        if send["eta"]:
            eta.add_metric([edition], max(0.0, (dt.datetime.fromisoformat(send["eta"]) - now).total_seconds()))
    return [edition_status, deliveries, progress, rate, eta]


def _service_families(status: dict, now: dt.datetime) -> list[GaugeMetricFamily]:
    feed_failures = _gauge("feed_consecutive_failures", "Failed polls in a row", ["feed"])
    feeds_stale = _gauge("feeds_stale", "Feeds with nothing new for FEED_STALE_DAYS")
    for feed in status["feeds"]:
        feed_failures.add_metric([str(feed["id"])], feed["consecutive_failures"])
    feeds_stale.add_metric([], sum(1 for f in status["feeds"] if f["stale"]))
    beat_age = _gauge("beat_age_seconds", "Seconds since beat last ticked")
    beat_next = _gauge("beat_next_tick_seconds", "Seconds beat said it would wait until its next tick")
    if status["beat"]["age_seconds"] is not None:
        beat_age.add_metric([], status["beat"]["age_seconds"])
        beat_next.add_metric([], status["beat"]["next_tick_in"])
    up = _gauge("dependency_up", "Whether a dependency answered (1) or not (0)", ["dependency"])
    for name in ("database", "redis"):
        up.add_metric([name], 1 if status["dependencies"][name]["ok"] else 0)
    sendgrid = _gauge("sendgrid_last_status_code", "HTTP status of SendGrid's last answer")
    if status["dependencies"].get("sendgrid", {}).get("status") is not None:
        sendgrid.add_metric([], status["dependencies"]["sendgrid"]["status"])
    held = _gauge("send_next_free_slot_seconds", "Seconds until the sending rate limit lets the next "
                  "batch go (0: it does now)")
    free_at = status["rate_limit"].get("next_free_slot")
    held.add_metric([], max(0.0, (dt.datetime.fromisoformat(free_at) - now).total_seconds()) if free_at else 0.0)
    warnings = _gauge("warnings", "Thresholds crossed now, by check", ["check"])
    by_check: dict[str, int] = {}
    for warning in status["warnings"]:
        by_check[warning["check"]] = by_check.get(warning["check"], 0) + 1
    for check, count in sorted(by_check.items()):
        warnings.add_metric([check], count)
    return [feed_failures, feeds_stale, beat_age, beat_next, up, sendgrid, held, warnings] + _doctor_families(status)


def _doctor_families(status: dict) -> list[GaugeMetricFamily]:
    """`digest doctor`'s last run: a series per check that did not pass, and when it ran."""
    failing = _gauge("doctor_check_failing", "1 for each check of digest doctor's last run that warned or "
                     "failed, by check and state", ["check", "state"])
    last_run = _gauge("doctor_last_run_timestamp_seconds", "When digest doctor last ran (Unix time)")
    doctor = status["doctor"]
    for check in doctor["checks"]:
        if check["state"] != "ok":
            failing.add_metric([check["name"], check["state"]], 1)
    if doctor["at"]:
        last_run.add_metric([], dt.datetime.fromisoformat(doctor["at"]).timestamp())
    return [failing, last_run]


def families(status: dict, now: dt.datetime | None = None) -> list[GaugeMetricFamily]:
    now = now or dt.datetime.fromisoformat(status["generated_at"])
    return _queue_families(status) + _edition_families(status, now) + _service_families(status, now)


def total_families(client) -> list:
    """The counters and histograms; an unlabelled counter is shown at 0 before its first event,
    so that rate() and increase() have a series from the start."""
    out: list = []
    counted = read_counters(client)
    for counter in COUNTERS:
        family = CounterMetricFamily(counter.name, counter.documentation, labels=list(counter.labels))
        series = counted[counter.name] or ({(): 0} if not counter.labels else {})
        for labels, value in sorted(series.items()):
            family.add_metric(list(labels), value)
        out.append(family)
    observed = read_histograms(client)
    for histogram in HISTOGRAMS:
        family = HistogramMetricFamily(histogram.name, histogram.documentation, labels=list(histogram.labels))
        bounds = [repr(float(b)) for b in histogram.buckets] + ["+Inf"]
        for labels, (cumulative, total) in sorted(observed[histogram.name].items()):
            family.add_metric(list(labels), list(zip(bounds, cumulative)), total)
        out.append(family)
    return out


class ServiceCollector:
    def collect(self):
        status = gather_status()
        yield from families(status)
        if status["dependencies"]["redis"]["ok"]:
            try:
                yield from total_families(redis_client())
            except (redis.RedisError, OSError):
                pass  # Redis went away between the two reads: dependency_up says so at the next scrape


registry = CollectorRegistry(auto_describe=False)
registry.register(ServiceCollector())


def metrics_text() -> bytes:
    return generate_latest(registry)
