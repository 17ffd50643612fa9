"""The email templates' Jinja2 environment (templates/email): HTML autoescaped, text not, and
every value a template outputs neutralized so that only the templates make placeholders."""

from functools import lru_cache

from jinja2 import Environment, pass_eval_context, select_autoescape
from markupsafe import Markup, escape

from digest.editions.placeholders import Marker, neutralize
from digest.templating import environment


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
    return environment("email", autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
                       keep_trailing_newline=True, finalize=_only_templates_make_placeholders)
