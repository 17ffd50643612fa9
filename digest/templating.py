"""The Jinja2 environments: one for email (HTML autoescaped, text not) and one for web pages."""

import datetime as dt
from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_eval_context, select_autoescape
from markupsafe import Markup, escape

from digest.editions.placeholders import Marker, neutralize
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


@pass_eval_context
def _only_templates_make_placeholders(eval_ctx, value):
    """Jinja's `finalize` for email: every value output, except the templates' own markers,
    is neutralized (placeholders.neutralize), after HTML escaping where the part is HTML."""
    if isinstance(value, Marker) or not isinstance(value, str):
        return value
    if eval_ctx.autoescape:
        return Markup(neutralize(str(escape(value))))
    return neutralize(value)


@lru_cache(maxsize=1)
def email_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(resource_dir("templates") / "email"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_only_templates_make_placeholders,
    )
    env.filters["local_date"] = _local_date
    env.filters["long_date"] = _long_date
    env.filters["http_url"] = rendered_url
    return env


@lru_cache(maxsize=1)
def web_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(resource_dir("templates") / "web"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local_date"] = _local_date
    env.filters["local_time"] = _local_time
    env.filters["long_date"] = _long_date
    env.filters["http_url"] = rendered_url
    return env
