"""What the benchmarks read of the machine's processes: CPU used, peak memory, PostgreSQL's
server processes (Linux /proc); and how they stop the worker processes they started."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def peak_rss_mib(pid: int) -> float:
    """VmHWM of a process and its children, in MiB (largest single process)."""
    peaks = []
    for candidate in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        except OSError:
            pass
    return max(peaks, default=0.0)


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU of these processes so far (exited ones count 0)."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    """Every PostgreSQL process of the machine: the server's CPU spent on this run's statements
    (the machine should be otherwise quiet while benchmarking)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().startswith("postgres"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def children(pid: int) -> list[int]:
    """A process's children (a Celery worker's pool processes)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def stop_workers(workers: list[subprocess.Popen]) -> None:
    """Ask every worker to stop at once, then wait for each (a warm shutdown takes a moment)."""
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(timeout=30)
