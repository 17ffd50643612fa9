"""`digest ops status` for people: the status structure (digest.ops.status) as short sections
that read in an 80-column terminal; tables only where their columns fit, sentences elsewhere."""

from __future__ import annotations

import datetime as dt

from rich.text import Text

from digest.cli.common import console, local_time
from digest.cli.listing import Column, list_table


def _age(seconds) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.0f}m" if seconds < 7200 else f"{seconds / 3600:.1f}h"


def _runtime(seconds) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.1f}s"


def _when(iso: str | None) -> str:
    return local_time(dt.datetime.fromisoformat(iso)) if iso else "-"


def _heading(title: str) -> None:
    console.print(Text(f"\n{title}", style="bold"))


def _say(line: str, style: str = "") -> None:
    console.print(Text(line, style=style), soft_wrap=False)


QUEUE_COLUMNS = [Column("queue", "queue"), Column("waiting", "waiting"), Column("in flight", "in_flight"),
                 Column("oldest", "oldest_age_seconds", show=_age),
                 Column("workers", "workers", show=lambda names: ", ".join(names) or "none", wraps=True)]
WORKER_COLUMNS = [Column("worker", "hostname", wraps=True), Column("state", "state"),
                  Column("active", "active"), Column("processed", "processed", optional=True),
                  Column("last seen", "silent_seconds", show=lambda s: f"{_age(s)} ago"),
                  Column("queues", "queues", show=", ".join, wraps=True, optional=True)]
TASK_COLUMNS = [Column("task", "name", wraps=True), Column("ok", "succeeded"), Column("failed", "failed"),
                Column("p95", "runtime_p95", show=_runtime), Column("retried", "retried", optional=True),
                Column("p50", "runtime_p50", show=_runtime, optional=True),
                Column("max", "runtime_max", show=_runtime, optional=True)]
FEED_COLUMNS = [Column("feed", "id"), Column("url", "url", wraps=True), Column("status", "status"),
                Column("failures", "consecutive_failures", optional=True),
                Column("stale", "stale", show=lambda stale: "stale" if stale else "", optional=True),
                Column("last success", "last_success_at", show=_when, optional=True)]


def print_status(status: dict) -> None:
    if status["warnings"]:
        _heading(f"Warnings ({len(status['warnings'])})")
        for warning in status["warnings"]:
            _say(f"  ! {warning['message']}", "bold red")
    else:
        _say("Healthy: no threshold crossed.", "green")

    _heading("Queues")
    console.print(list_table(status["queues"], QUEUE_COLUMNS))

    _heading("Workers")
    if status["workers"]:
        console.print(list_table(status["workers"], WORKER_COLUMNS))
    else:
        _say("  no worker has reported")

    _heading("Tasks, last hour")
    if status["tasks"]:
        console.print(list_table(status["tasks"], TASK_COLUMNS))
    else:
        _say("  no task has run")
    if status["failures"]:
        _heading("Recent failures")
        for failure in status["failures"][:10]:
            _say(f"  {_when(failure['at'])}  {failure['task']}: {failure['exception']}")

    _heading("Sends")
    for send in status["sends"]:
        going = send["status"] in ("sending", "paused")  # a pace and an ETA are news only then
        _say(f"  edition {send['edition_id']} ({send['status']}): {send['done']} of {send['total']} done "
             f"({send['percent']}%)" + (f", {send['per_minute']} a minute" if going and send["per_minute"] else "")
             + (f", done by {_when(send['eta'])}" if going and send["eta"] else ""))
        counts = " · ".join(f"{state} {count}" for state, count in send["deliveries"].items() if count)
        _say(f"    {counts or 'no deliveries'}")
    if not status["sends"]:
        _say("  nothing sending")

    _heading("Feeds")
    if status["feeds"]:
        console.print(list_table(status["feeds"], FEED_COLUMNS))
        for feed in status["feeds"]:
            if feed["last_error"]:
                _say(f"  feed {feed['id']}: {feed['last_error']}")
    else:
        _say("  no feed registered")

    _heading("Beat, rate limit and dependencies")
    beat = status["beat"]
    _say("  beat: " + ("never ticked" if beat["last_tick"] is None
                       else f"last tick {_age(beat['age_seconds'])} ago" + (" (silent)" if beat["silent"] else "")))
    rate = status["rate_limit"]
    if rate:
        limits = [f"{figure} {unit}" for figure, unit in ((rate["per_second"], "a second"), (rate["per_hour"], "an hour"),
                                                           (rate["per_day"], "a day")) if figure]
        _say(f"  send rate: {', '.join(limits) or 'unlimited'}" + (" (warm-up)" if rate["warmup"] else "")
             + f"; {rate['reserved_today']} reserved today; next free slot "
             + (_when(rate["next_free_slot"]) if rate["next_free_slot"] else "now"))
    for name in ("database", "redis"):
        dep = status["dependencies"][name]
        _say(f"  {name}: " + (f"ok ({dep['latency_ms']} ms)" if dep["ok"] else f"DOWN: {dep['error']}"))
    sendgrid = status["dependencies"]["sendgrid"]
    if sendgrid.get("status"):
        _say(f"  sendgrid: last answer {sendgrid['status']} at {_when(sendgrid['at'])}"
             + (f" ({sendgrid['detail']})" if sendgrid.get("detail") else ""))



    doctor = status["doctor"]
    failing = [check["name"] for check in doctor["checks"] if check["state"] != "ok"]
    _say("  doctor: " + ("never run (digest doctor)" if doctor["at"] is None else
                         f"last run {_when(doctor['at'])}: " + (f"not ok: {', '.join(failing)}" if failing
                                                                 else "every check ok")))
