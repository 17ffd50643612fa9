"""The service's notion of now: always an aware UTC datetime (tests travel time through it)."""

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def wall_seconds(seconds: float) -> float:
    """How long a wait of `seconds` of the service's time lasts on the wall clock (for sleeps and
    queue countdowns): the same, unless a test runs the service on a faster clock."""
    return seconds
