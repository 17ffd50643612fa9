"""A clock that runs SCALE times faster than the wall clock, from a shared origin, for worker
processes that must live through hours of sending in seconds. Installed before anything imports
digest's modules, so their `from digest.clock import utcnow` picks it up."""

from __future__ import annotations

import datetime as dt
import os
import time

ORIGIN_ENV = "TEST_CLOCK_ORIGIN"
SCALE_ENV = "TEST_CLOCK_SCALE"


def scaled_now(origin: float, scale: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(origin + (time.time() - origin) * scale, dt.UTC)


def install(origin: float, scale: float) -> None:
    import digest.clock

    digest.clock.utcnow = lambda: scaled_now(origin, scale)
    digest.clock.wall_seconds = lambda seconds: seconds / scale


# Run as `python -c BOOT -A workers.app worker ...`: a Celery worker on the scaled clock.
BOOT = ("import os, sys; from tests.scaled_clock import install_from_env; install_from_env(); "
        "from celery.__main__ import main; sys.exit(main())")


def install_from_env() -> None:
    install(float(os.environ[ORIGIN_ENV]), float(os.environ[SCALE_ENV]))
