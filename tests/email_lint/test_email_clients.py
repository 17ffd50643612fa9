"""Every distinct email (tests/emails.py) against caniemail.com's support data, through the
`caniemail` npm package: in the clients below, each feature that is unsupported or partial is
either gone or listed in allowed.toml with the fallback that covers it."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch

import lxml.html
import pytest

from tests.email_lint.tools import HERE, run_check
from tests.emails import every_html

# Gmail (web, iOS and Android apps, which the data also covers with other accounts, and mobile
# web), Outlook (Windows' Word engine, Outlook.com, Mac, iOS), Apple Mail, Yahoo, Samsung Email.
CLIENTS = ["gmail.desktop-webmail", "gmail.ios", "gmail.android", "gmail.mobile-webmail",
           "outlook.windows", "outlook.outlook-com", "outlook.macos", "outlook.ios",
           "apple-mail.macos", "apple-mail.ios",
           "yahoo.desktop-webmail", "yahoo.ios", "yahoo.android", "samsung-email.android"]


def allowed() -> list[dict]:
    with open(HERE / "allowed.toml", "rb") as file:
        entries = tomllib.load(file)["allowed"]
    for entry in entries:
        assert entry["feature"] and entry["clients"] and entry["why"].strip(), entry
    return entries


def allowing(entries: list[dict], finding: dict) -> dict | None:
    return next((entry for entry in entries if entry["feature"] == finding["feature"]
                 and any(fnmatch(finding["client"], pattern) for pattern in entry["clients"])), None)


@pytest.mark.postgresql_only  # the messages' bytes are the same from either database
def test_every_email_uses_only_what_the_clients_support_or_a_listed_fallback(every_message):
    emails = every_html(every_message)
    findings = run_check(["caniemail", *CLIENTS], emails)
    assert set(findings) == set(emails)
    entries = allowed()
    used = set()
    unlisted: dict[str, set[str]] = {}  # one line per feature and client, with the emails using it
    for label, found in findings.items():
        for finding in found:
            entry = allowing(entries, finding)
            if entry is None:
                what = (f"{finding['feature']} is {finding['support']} in {finding['client']}"
                        f" ({' '.join(finding['notes']) or 'no note'})")
                unlisted.setdefault(what, set()).add(f"{label} line {finding['line']}")
            else:
                used.add(entry["feature"])
    assert unlisted == {}, "not in tests/email_lint/allowed.toml:\n" + "\n".join(
        f"{what}: {', '.join(sorted(where)[:3])}" for what, where in sorted(unlisted.items()))
    stale = [entry["feature"] for entry in entries if entry["feature"] not in used]
    assert stale == [], f"allowed.toml lists what no email uses any more: {stale}"


def test_the_check_finds_what_an_email_should_not_use():
    """The check itself: a link opening a new window, an aria-label and a flex box are findings
    that the allow-list does not cover."""
    html = ('<!DOCTYPE html><html lang="en"><head><title>x</title></head><body><div style="display: flex">'
            '<a href="https://example.org/" target="_blank" aria-label="Read">Read the article</a></div></body></html>')
    found = run_check(["caniemail", *CLIENTS], {"bad": html})["bad"]
    unlisted = {(f["feature"], f["client"]) for f in found if allowing(allowed(), f) is None}
    assert {("target attribute", "gmail.ios"), ("aria-label attribute", "yahoo.desktop-webmail"),
            ("display:flex", "outlook.windows")} <= unlisted


@pytest.mark.postgresql_only  # the messages' bytes are the same from either database
def test_padding_sits_on_table_cells_only(every_message):
    """Outlook for Windows pads only table cells: padding elsewhere would collapse there (the
    fallback allowed.toml names for `padding`)."""
    for label, html in every_html(every_message).items():
        tree = lxml.html.fromstring(html)
        padded = [element.tag for element in tree.xpath("//*[contains(@style, 'padding')]")
                  if element.tag not in ("td", "body") and "padding: 0" not in element.get("style")]
        assert padded == [], label
