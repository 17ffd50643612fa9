"""What Celery's task events cost (worker_send_task_events and task_send_sent_event, which Flower's
task list needs): a real worker runs N cheap tasks while this script listens on the event
channels, and prints the events and bytes published per task and Redis' own time for them.

    python bench/task_events.py --redis redis://127.0.0.1:6393/1 [--tasks 500]

The Redis named must be one this script may use (it resets the server's command statistics).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "benchmark-secret-key-0000")
os.environ["DIGEST_ENV_FILE"] = ""

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--tasks", type=int, default=500)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="task-events-"))
    os.environ.update(REDIS_URL=args.redis, DATABASE_URL=f"sqlite:///{folder}/digest.sqlite3",
                      OUTBOX_DIR=str(folder / "outbox"))

    import redis

    from digest.store.migrate import upgrade
    from workers.tasks import poll_due_feeds

    upgrade(os.environ["DATABASE_URL"])
    client = redis.Redis.from_url(args.redis)
    events = {"count": 0, "bytes": 0}
    listener = client.pubsub()
    listener.psubscribe("*celeryev*")

    def listen() -> None:
        for message in listener.listen():
            if message["type"] == "pmessage":
                events["count"] += 1
                events["bytes"] += len(message["data"])

    threading.Thread(target=listen, daemon=True).start()
    name = f"bench-{uuid.uuid4().hex[:6]}@localhost"
    log = folder / "worker.log"
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", "feeds",
                               "-c", "1", "-n", name, "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
                              cwd=REPO, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        time.sleep(8)  # the worker starts; its heartbeat events are counted apart below
        client.config_resetstat()
        idle_started, idle_events = time.monotonic(), events["count"]
        time.sleep(4)
        idle_rate = (events["count"] - idle_events) / (time.monotonic() - idle_started)
        before, started = dict(events), time.monotonic()
        for _ in range(args.tasks):
            poll_due_feeds.delay()
        while client.llen("feeds") or events["count"] - before["count"] < 4 * args.tasks:
            if time.monotonic() - started > 300:
                raise SystemExit("the worker did not finish in 5 minutes")
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        published = events["count"] - before["count"] - idle_rate * elapsed
        size = events["bytes"] - before["bytes"]
        stats = client.info("commandstats").get("cmdstat_publish", {})
        print(f"{args.tasks} tasks in {elapsed:.1f}s ({args.tasks / elapsed:.0f}/s)")
        print(f"events: {published / args.tasks:.1f} per task, {size / max(published, 1):.0f} bytes each, "
              f"{size / args.tasks / 1024:.1f} KiB per task")
        print(f"Redis PUBLISH: {stats.get('usec_per_call', 0):.1f} µs per call "
              f"({stats.get('calls', 0)} calls, heartbeats included)")
    finally:
        worker.terminate()
        worker.wait(timeout=30)


if __name__ == "__main__":
    main()
