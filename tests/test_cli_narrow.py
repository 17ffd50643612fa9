"""The `digest` command in an 80-column terminal: every list and `ops status` stay readable (no
line wider than the terminal, key values whole, no `ed… st…` headers), and every list command
has `--json` for scripts."""

from __future__ import annotations

import json

import pytest

from digest.store.db import unit_of_work
from digest.subscribers.lifecycle import add_subscriber
from tests.cli import digest
from tests.factories import draft_edition, polled_feed
from tests.web.editor_helpers import make_editor

LONG_SUBJECT = "Ports, pipelines and a border reopened: what the Middle Corridor's fortnight means for Baku"


@pytest.fixture
def narrow(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")


@pytest.fixture
def service(settings, feed_server, narrow):
    polled_feed(feed_server)
    with unit_of_work() as session:
        add_subscriber(session, "a.reader.with.a.rather.long.address@readers.example.org", name="Ada Reader",
                       confirmed=True)
        add_subscriber(session, "bo@example.org", confirmed=False)
    edition_id = draft_edition()
    assert digest("editions", "edit", str(edition_id), "--subject", LONG_SUBJECT).returncode == 0
    make_editor("publisher@example.org", "publisher")
    return {"edition": edition_id, "feed_url": feed_server.url("/publications/analytical-articles.feed")}


def _readable(result) -> str:
    assert result.returncode in (0, 1), result.stderr
    lines = result.stdout.splitlines()
    assert lines, "nothing printed"
    wide = [line for line in lines if len(line) > 80]
    assert wide == [], "\n".join(wide)
    assert "…" not in result.stdout, result.stdout  # nothing cut: not a value, not a header
    return result.stdout


def _joined(text: str) -> str:
    """The output's lines run together, for a value that wraps alone on its lines."""
    return "".join(line.strip() for line in text.splitlines())


def _column(text: str, header: str) -> str:
    """A table column's text put back together: what is printed under `header`, down to the next
    header's position, line after line (a wrapped value continues on the next line)."""
    lines = text.splitlines()
    header_line = next(line for line in lines if f" {header} " in f" {line} ")
    start = f" {header_line} ".index(f" {header} ")
    after = header_line[start + len(header):]
    end = start + len(header) + (len(after) - len(after.lstrip()) if after.strip() else 10**6)
    below = lines[lines.index(header_line) + 2:]
    return "".join(line[start:end].strip() for line in below)


def test_editions_list_fits_and_keeps_the_subject_whole(service):
    out = _readable(digest("editions", "list"))
    assert LONG_SUBJECT.replace(" ", "") in _column(out, "subject").replace(" ", "")
    assert len([line for line in out.splitlines() if line.strip()]) <= 8, out  # not five lines per cell and more
    for header in ("id", "period", "status", "sends", "subject"):
        assert header in out.splitlines()[0] + out.splitlines()[1]


def test_feeds_list_shows_the_url_whole(service):
    out = _readable(digest("feeds", "list"))
    assert service["feed_url"] in _column(out, "url")


def test_subscribers_list_shows_each_address_whole(service):
    out = _readable(digest("subscribers", "list"))
    assert "a.reader.with.a.rather.long.address@readers.example.org" in out
    assert "bo@example.org" in out and "pending" in out


def test_ops_status_fits_without_squeezed_headers_or_an_empty_table(service):
    out = _readable(digest("ops", "status"))
    assert "No warnings" not in out
    assert "Warnings" in out and "no worker online consumes feeds" in out  # this test runs no worker
    assert service["feed_url"] in _joined(out) or service["feed_url"] in _column(out, "url")
    for header in ("queue", "waiting", "in flight", "edition"):
        assert header in out, header


def test_the_schedule_and_an_editions_articles_fit(service):
    _readable(digest("editions", "schedule"))
    _readable(digest("editions", "show", str(service["edition"])))


@pytest.mark.parametrize("args, first_key", [
    (("editions", "list"), None), (("feeds", "list"), "url"), (("subscribers", "list"), "email"),
    (("editors", "list"), "email"), (("editions", "schedule"), "period"), (("topics", "list"), "name"),
])
def test_every_list_command_has_json(service, args, first_key):
    result = digest(*args, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    if first_key is None:
        assert data["editions"][0]["subject"] == LONG_SUBJECT and data["skipped_periods"] == []
    else:
        assert data and all(first_key in row for row in data)


def test_an_empty_list_says_so_in_words(settings, narrow):
    assert digest("feeds", "list").stdout.startswith("no feed yet")
    assert digest("subscribers", "list", "--status", "pending").stdout.strip() == "no subscriber is pending"
    assert json.loads(digest("subscribers", "list", "--json").stdout) == []


def test_a_subject_with_brackets_is_printed_not_read_as_markup(service):
    assert digest("editions", "edit", str(service["edition"]), "--subject", "[bold]Not bold[/bold] [link=x]").returncode == 0
    assert "[bold]Not bold[/bold] [link=x]" in digest("editions", "list").stdout
