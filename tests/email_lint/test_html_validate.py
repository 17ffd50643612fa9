"""Every distinct email (tests/emails.py) is valid HTML by html-validate's recommended rules, less
the few that HTML email needs switched off (tests/node/htmlvalidate.email.mjs says which and why)."""

from __future__ import annotations

import pytest

from tests.email_lint.tools import run_check
from tests.emails import every_html


@pytest.mark.postgresql_only  # the messages' bytes are the same from either database
def test_every_email_passes_html_validate(every_message):
    emails = every_html(every_message)
    messages = run_check(["html-validate"], emails)
    assert set(messages) == set(emails)
    problems = [f"{label} line {m['line']}:{m['column']} {m['rule']}: {m['message']} ({m['selector']})"
                for label, found in messages.items() for m in found]
    assert problems == [], "\n".join(problems)


def test_html_validate_still_checks_what_email_does_not_excuse():
    """The configuration switches off only email's needs: a skipped heading level, a button
    without a type and a duplicate id are still found."""
    html = ('<!DOCTYPE html><html lang="en"><head><title>x</title></head><body><h1>a</h1><h3>b</h3>'
            '<button>c</button><p id="d">e</p><p id="d">f</p></body></html>')
    rules = {m["rule"] for m in run_check(["html-validate"], {"bad": html})["bad"]}
    assert {"heading-level", "no-implicit-button-type", "no-dup-id"} <= rules
