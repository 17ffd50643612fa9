"""The service's notion of now: always an aware UTC datetime (tests travel time through it)."""

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
