"""The status structure as rich tables, for `digest ops status`."""

from __future__ import annotations

from rich.table import Table


def _age(seconds) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.0f}m" if seconds < 7200 else f"{seconds / 3600:.1f}h"


def _runtime(seconds) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.1f}s"


def status_tables(status: dict) -> list[Table]:
    tables = []
    warnings = Table("check", "subject", "warning", title="Warnings" if status["warnings"] else "No warnings")
    for w in status["warnings"]:
        warnings.add_row(w["check"], w["subject"], w["message"])
    tables.append(warnings)
    queues = Table("queue", "waiting", "in flight", "oldest", "workers", title="Queues")
    for q in status["queues"]:
        queues.add_row(q["queue"], str(q["waiting"]), str(q["in_flight"]), _age(q["oldest_age_seconds"]),
                       ", ".join(q["workers"]) or "none")
    tables.append(queues)
    workers = Table("worker", "state", "queues", "active", "processed", "last seen", title="Workers")
    for w in status["workers"]:
        workers.add_row(w["hostname"], w["state"], ", ".join(w["queues"]), str(w["active"]),
                        str(w["processed"]), f"{_age(w['silent_seconds'])} ago")
    tables.append(workers)
    tasks = Table("task", "succeeded", "failed", "retried", "p50", "p95", "max", title="Tasks, last hour")
    for t in status["tasks"]:
        tasks.add_row(t["name"], str(t["succeeded"]), str(t["failed"]), str(t["retried"]),
                      _runtime(t["runtime_p50"]), _runtime(t["runtime_p95"]), _runtime(t["runtime_max"]))
    tables.append(tasks)
    if status["failures"]:
        failures = Table("at", "task", "exception", title="Recent failures")
        for f in status["failures"][:10]:
            failures.add_row(f["at"], f["task"], f["exception"])
        tables.append(failures)
    sends = Table("edition", "status", *(status["sends"][0]["deliveries"] if status["sends"] else []),
                  "per min", "eta", title="Sends")
    for s in status["sends"]:
        sends.add_row(str(s["edition_id"]), s["status"], *(str(n) for n in s["deliveries"].values()),
                      str(s["per_minute"] or "-"), s["eta"] or "-")
    tables.append(sends)
    feeds = Table("feed", "url", "status", "last success", "failures", "stale", "last error", title="Feeds")
    for f in status["feeds"]:
        feeds.add_row(str(f["id"]), f["url"], f["status"], f["last_success_at"] or "-",
                      str(f["consecutive_failures"]), "stale" if f["stale"] else "", f["last_error"] or "")
    tables.append(feeds)
    other = Table("part", "state", title="Beat, rate limit and dependencies")
    beat = status["beat"]
    other.add_row("beat", "never ticked" if beat["last_tick"] is None
                  else f"last tick {_age(beat['age_seconds'])} ago" + (" (silent)" if beat["silent"] else ""))
    rate = status["rate_limit"]
    if rate:
        other.add_row("send rate", f"{rate['per_second'] or 'no'}/s, {rate['per_hour'] or 'no'}/h, "
                                   f"{rate['per_day'] or 'no'}/day limit today"
                                   + (" (warm-up)" if rate["warmup"] else "")
                                   + f", {rate['reserved_today']} reserved today, next free slot "
                                   f"{rate['next_free_slot'] or 'now'}")
    for name in ("database", "redis"):
        dep = status["dependencies"][name]
        other.add_row(name, f"ok ({dep['latency_ms']} ms)" if dep["ok"] else f"DOWN: {dep['error']}")
    sendgrid = status["dependencies"]["sendgrid"]
    other.add_row("sendgrid", f"last answer {sendgrid['status'] or 'none'} at {sendgrid['at'] or '-'} "
                              f"{sendgrid.get('detail') or ''}".strip())
    tables.append(other)
    return tables
