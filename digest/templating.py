"""The Jinja2 environments' common ground: templates/<folder>, strict about undefined names, and
the date and link filters. The web pages' environment is here; the email environment, which also
guards the placeholders, is digest.editions.templates'."""

import datetime as dt
from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from digest.feeds.links import rendered_url
from digest.resources import resource_dir


def _local_date(value, tz) -> str:
    """A UTC datetime as the publication's local date, '9 December 2026'."""
    return _long_date(value.astimezone(tz).date())


def _local_time(value, tz) -> str:
    """A UTC datetime (or its ISO text, as status data carries it) in the publication's time zone,
    '9 December 2026, 09:00 EST'."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    local = value.astimezone(tz)
    return f"{_long_date(local.date())}, {local:%H:%M %Z}"


def _long_date(value) -> str:
    return f"{value.day} {value:%B %Y}"


def environment(folder: str, **options) -> Environment:
    """An environment over templates/<folder>; `options` (autoescape, finalize, ...) are Jinja's."""
    env = Environment(loader=FileSystemLoader(resource_dir("templates") / folder), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, **options)
    env.filters.update(local_date=_local_date, local_time=_local_time, long_date=_long_date, http_url=rendered_url)
    return env


@lru_cache(maxsize=1)
def web_environment() -> Environment:
    return environment("web", autoescape=True)
