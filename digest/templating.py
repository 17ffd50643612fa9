"""The Jinja2 environments' common ground: templates/<folder>, strict about undefined names, and
the date and link filters. The web pages' environment is here; the email environment, which also
guards the placeholders, is digest.editions.templates'."""

import datetime as dt
from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from digest.clock import utcnow
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


def _ago(value) -> str:
    """How long ago a UTC datetime (or its ISO text) was, as people say it: 'just now',
    '3 min ago', '2 h ago', '5 days ago' ('in 4 min' for a time ahead)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    seconds = (utcnow() - value).total_seconds()
    ahead, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size * (1 if unit == "min" else 1.5 if unit == "h" else 2):
            count = round(seconds / size)
            said = f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''}"
            return f"in {said}" if ahead else f"{said} ago"
    return "in 1 min" if ahead else "1 min ago"


def _when(value, tz) -> str:
    """A moment for people watching the service: local time and how long ago, no seconds."""
    return f"{_local_time(value, tz)} ({_ago(value)})"


def _long_date(value) -> str:
    return f"{value.day} {value:%B %Y}"


def environment(folder: str, **options) -> Environment:
    """An environment over templates/<folder>; `options` (autoescape, finalize, ...) are Jinja's."""
    env = Environment(loader=FileSystemLoader(resource_dir("templates") / folder), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, **options)
    env.filters.update(local_date=_local_date, local_time=_local_time, long_date=_long_date, http_url=rendered_url,
                       ago=_ago, when=_when)
    return env


def _pace(per_minute: float | None) -> str:
    """A send's throughput as people read it: "14,671 a minute", "2.5 a minute", or a dash.
    (static/edition.js writes it the same way.)"""
    if not per_minute:
        return "–"
    return f"{per_minute:,.1f} a minute" if per_minute < 10 else f"{per_minute:,.0f} a minute"


def _counted(count: int, noun: str) -> str:
    """ "1 reader", "3 readers": a count with its noun (regular plurals only)."""
    return f"{count} {noun if count == 1 else noun + 's'}"


def _sentence(text: str) -> str:
    """A message of the library's (lower case, no full stop: CLI style) as a sentence on a page."""
    text = str(text).strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text[-1] in ".!?" else ".")


@lru_cache(maxsize=1)
def web_environment() -> Environment:
    # Templates change with a deploy, which restarts the processes: no stat() of each file per page.
    env = environment("web", autoescape=True, auto_reload=False)
    env.filters["sentence"] = _sentence
    env.filters["counted"] = _counted
    env.filters["pace"] = _pace
    return env
