"""The web app through the minutes after a send: readers and link scanners at once, on PostgreSQL.

    python bench/web_burst.py [--subscribers 100000] [--processes 1,2] [--connections 50] [--seconds 15]
                              [--rate 0,1000]

Builds an edition sent to every reader (as bench/report.py does), then starts the web app as it
is run in production (`digest serve`, deploy/systemd/digest-web.service; `--workers N` for N
processes) and drives it with wrk (Debian's package `wrk`) replaying a mix of what arrives after
a send (bench/web_burst.lua):
- readers viewing the edition online (`/archive/ID`, and its framed email),
- link scanners fetching every link of our own in a reader's email (the unsubscribe page, the
  preference page, a "Follow" link, the archive) seconds after delivery,
- readers opening their preference page,
- one-click unsubscribes (RFC 8058 POSTs), each reader's repeated as mail clients retry.
Prints, per number of processes (and per rate offered, with --rate: requests sent on a schedule,
as a burst arrives, where by default each connection sends its next request as soon as it has
its answer): requests per second held, p50/p90/p99 latency, errors and answers that were not
2xx/3xx; then checks every reader who POSTed a one-click unsubscribe is unsubscribed and
recorded once (one audit row, one suppression).
Goal (issue 31): 1,000 requests/s with p99 under 100 ms and no error on two cores.
Needs PostgreSQL at BENCH_POSTGRES_URL (a scratch database is made and dropped) and a Redis
(BENCH_REDIS_URL, else a private one).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from report import sent_edition  # noqa: E402
from send import REDIS_URL, scratch_database  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# The share of each kind of request in the mix (out of 100).
MIX = {"archive": 30, "archive_email": 5, "scanner": 35, "preferences": 15, "one_click": 15}
ONE_CLICK_READERS = 2_000  # distinct readers unsubscribing; each of their POSTs comes back again and again


def request_lines(edition_id: int, readers: list[int], topics: list[int], only: str | None = None,
                  seed: int = 31) -> tuple[list[str], list[int]]:
    """The mix (or `only` that kind of request) as wrk replays it (METHOD, path and body,
    tab-separated), and the readers who POST."""
    from digest.subscribers.tokens import PREFERENCES, UNSUBSCRIBE, tokens_for

    unsubscribe = dict(zip(readers, tokens_for(UNSUBSCRIBE, readers))).__getitem__
    preferences = dict(zip(readers, tokens_for(PREFERENCES, readers))).__getitem__
    rng = random.Random(seed)
    leaving = rng.sample(readers, min(ONE_CLICK_READERS, len(readers)))
    via = f"?e={edition_id}"
    lines = []
    for _ in range(50_000):
        kind = only or rng.choices(list(MIX), weights=list(MIX.values()))[0]
        reader = rng.choice(readers)
        if kind == "archive":
            lines.append(f"GET\t/archive/{edition_id}\t")
        elif kind == "archive_email":
            lines.append(f"GET\t/archive/{edition_id}/email\t")
        elif kind == "preferences":
            lines.append(f"GET\t/p/{preferences(reader)}{via}\t")
        elif kind == "one_click":
            lines.append(f"POST\t/u/{unsubscribe(rng.choice(leaving))}{via}\tList-Unsubscribe=One-Click")
        else:  # a scanner follows each of our links in one reader's email, one after another
            lines.extend((f"GET\t/u/{unsubscribe(reader)}{via}\t", f"GET\t/p/{preferences(reader)}{via}\t",
                          f"GET\t/p/{preferences(reader)}{via}&follow={rng.choice(topics)}\t",
                          f"GET\t/archive/{edition_id}\t"))
    return lines, leaving


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(processes: int, port: int, env: dict) -> subprocess.Popen:
    """`digest serve` as deploy/systemd/digest-web.service runs it (its log, access lines
    included, to var/bench/web.log as the unit's goes to the journal), once it accepts."""
    command = [str(Path(sys.executable).with_name("digest")), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if processes > 1:
        command += ["--workers", str(processes)]
    log = REPO / "var/bench/web.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as output:
        server = subprocess.Popen(command, env={**os.environ, **env, "PYTHONPATH": str(REPO)}, stdout=output, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"digest serve exited: {log.read_text()[-2000:]}")
            time.sleep(0.1)
    raise SystemExit("digest serve did not answer within 30 s")


WRK_THREADS = 2


def drive(port: int, requests_file: Path, connections: int, seconds: int, rate: int = 0) -> dict:
    """wrk's figures for the run: as fast as the answers come back, or with `rate`, that many
    requests a second sent on a schedule (bench/web_burst.lua)."""
    result = subprocess.run(
        ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
         "-s", str(REPO / "bench/web_burst.lua"), f"http://127.0.0.1:{port}"],
        env={**os.environ, "WEB_BURST_REQUESTS": str(requests_file), "WEB_BURST_RATE": str(rate),
             "WEB_BURST_THREADS": str(WRK_THREADS)}, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def per_kind(port: int, server: subprocess.Popen, edition_id: int, readers: list[int], topics: list[int],
             connections: int, spy: Path | None = None, kinds: list[str] = list(MIX)) -> None:  # noqa: B006
    """Each kind of request alone for 5 s: requests per second and the server's CPU per request
    (its processes' user and system time over the requests answered), which a loaded machine
    changes less than it changes the rate."""
    from processes import children, cpu_seconds

    for kind in kinds:
        lines, _ = request_lines(edition_id, readers, topics, only=kind, seed=7)
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as requests_file:
            requests_file.write("\n".join(lines) + "\n")
        pids = [server.pid, *children(server.pid)]
        sampler = _sample(server.pid, spy / f"{kind}.txt") if spy else None
        before = cpu_seconds(pids)
        figures = drive(port, Path(requests_file.name), connections, 5)
        spent = cpu_seconds(pids) - before
        if sampler:
            sampler.send_signal(signal.SIGINT)
            sampler.wait(timeout=60)
        os.unlink(requests_file.name)
        print(f"  {kind}: {figures['requests'] / figures['seconds']:,.0f} requests/s, "
              f"{spent / max(figures['requests'], 1) * 1000:.2f} ms of server CPU a request, "
              f"p99 {figures['p99_ms']:.0f} ms, not 2xx/3xx {figures['bad_status']}")
        if sampler:
            from stacks import print_top

            print_top([spy / f"{kind}.txt"], top=15)


def _sample(pid: int, out: Path) -> subprocess.Popen:
    """py-spy on the web process while one kind of request runs (its busy Python, GIL held)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    sampler = subprocess.Popen(
        [str(Path(sys.executable).with_name("py-spy")), "record", "--subprocesses", "--nonblocking", "--gil",
         "--rate", "250", "--format", "raw", "--output", str(out), "--pid", str(pid)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    return sampler


def recorded_once(leaving: list[int]) -> tuple[int, int, int]:
    """Of the readers who POSTed: how many are unsubscribed, how many unsubscribe audit rows
    they have and how many suppressions (all three equal when each was recorded once)."""
    from sqlalchemy import func, select

    from digest.store.db import unit_of_work
    from digest.store.models import AuditEntry, Subscriber, SubscriberStatus, Suppression

    with unit_of_work() as session:
        gone = session.scalar(select(func.count()).select_from(Subscriber).where(
            Subscriber.id.in_(leaving), Subscriber.status == SubscriberStatus.UNSUBSCRIBED))
        audits = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.subscriber_id.in_(leaving), AuditEntry.action == "unsubscribe"))
        suppressions = session.scalar(select(func.count()).select_from(Suppression).where(
            Suppression.email.in_(select(Subscriber.email).where(Subscriber.id.in_(leaving)))))
    return gone, audits, suppressions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--processes", default="1,2", help="comma-separated numbers of web processes to try")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rate", default="0", help="comma-separated request rates to offer, each a run of its own "
                        "(requests a second sent on a schedule, as a burst arrives; 0: as fast as answered)")
    parser.add_argument("--per-kind", action="store_true", help="then each kind of request alone, with "
                        "the server's CPU per request (one process); with --only, that kind alone")
    parser.add_argument("--only", choices=list(MIX), help="drive this kind of request alone instead of the mix")
    parser.add_argument("--py-spy", metavar="DIR", type=Path, help="with --per-kind: sample the web process "
                        "with py-spy during each kind and print what cost the most (bench/stacks.py)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")

    database_url, drop = scratch_database()
    env = {"DIGEST_ENV_FILE": "", "SECRET_KEY": "benchmark-secret-key-000", "DATABASE_URL": database_url,
           "REDIS_URL": REDIS_URL, "DELIVERY_BACKEND": "outbox", "PUBLIC_BASE_URL": "https://digest.example.org"}
    os.environ.update(env)
    try:
        from sqlalchemy import select

        from digest.store.db import unit_of_work
        from digest.store.models import Topic

        edition_id, _, deliveries, _ = sent_edition(database_url, args.subscribers)
        with unit_of_work() as session:
            topics = list(session.scalars(select(Topic.id)))
        lines, leaving = request_lines(edition_id, [subscriber for _, subscriber in deliveries], topics, only=args.only)
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as requests_file:
            requests_file.write("\n".join(lines) + "\n")
        print(f"{len(deliveries):,} readers of edition {edition_id}; {len(lines):,} requests in the mix "
              f"({', '.join(f'{kind} {share}%' for kind, share in MIX.items())}); wrk, {args.connections} "
              f"connections, {args.seconds} s; load before: {os.getloadavg()[0]:.1f}")
        for processes in (int(number) for number in args.processes.split(",")):
            port = free_port()
            server = serve(processes, port, env)
            try:
                drive(port, Path(requests_file.name), args.connections, 3)  # warm up: imports, pools, caches
                for rate in (int(number) for number in args.rate.split(",")):
                    figures = drive(port, Path(requests_file.name), args.connections, args.seconds, rate)
                    errors = sum(figures[name] for name in ("connect_errors", "read_errors", "write_errors", "timeouts"))
                    offered = f"{rate:,} offered, " if rate else ""
                    print(f"{processes} process{'es' if processes > 1 else ''}: {offered}"
                          f"{figures['requests'] / figures['seconds']:,.0f} requests/s; p50 {figures['p50_ms']:.1f} ms, "
                          f"p90 {figures['p90_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, max {figures['max_ms']:.0f} ms; "
                          f"errors {errors}, not 2xx/3xx {figures['bad_status']}; load {os.getloadavg()[0]:.1f}")
            finally:
                server.terminate()
                server.wait(timeout=30)
        if args.per_kind:
            print("each kind alone, one process:")
            port = free_port()
            server = serve(1, port, env)
            try:
                drive(port, Path(requests_file.name), args.connections, 3)
                per_kind(port, server, edition_id, [subscriber for _, subscriber in deliveries], topics,
                         args.connections, args.py_spy, [args.only] if args.only else list(MIX))
            finally:
                server.terminate()
                server.wait(timeout=30)
        gone, audits, suppressions = recorded_once(leaving)
        print(f"one-click: {gone:,} of {len(leaving):,} readers who POSTed are unsubscribed, with {audits:,} "
              f"unsubscribe audit rows and {suppressions:,} suppressions (recorded once: all three equal)")
        os.unlink(requests_file.name)
    finally:
        from digest.store.db import dispose_engines

        dispose_engines()
        drop()


if __name__ == "__main__":
    main()
