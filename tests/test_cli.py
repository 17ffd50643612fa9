"""The `digest` command as a user runs it: exit codes, messages, no tracebacks (in this process,
tests/cli.py; a few smoke tests run it as a real process)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from digest.store.db import unit_of_work
from digest.store.models import Edition, Editor, Feed, Subscriber
from tests.cli import digest, digest_process
from tests.factories import serve_feed


def _count(model) -> int:
    with unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("args, message, model", [
    (("editions", "preview", "999"), "edition 999 does not exist", Edition),
    (("editions", "approve", "999", "--by", "p@example.org"), "edition 999 does not exist", Edition),
    (("editions", "send", "999"), "edition 999 does not exist", Edition),
    (("feeds", "add", "not-a-url"), "feed URL 'not-a-url' is not an http(s) URL", Feed),
    (("feeds", "add", "ftp://example.org/feed"), "is not an http(s) URL", Feed),
    (("feeds", "poll", "--feed", "42"), "feed 42 does not exist", Feed),
    (("feeds", "pause", "42"), "feed 42 does not exist", Feed),
    (("feeds", "resume", "42"), "feed 42 does not exist", Feed),
    (("feeds", "remove", "42"), "feed 42 does not exist", Feed),
    (("subscribers", "add", "someone@"), "email address 'someone@' is not valid", Subscriber),
    (("subscribers", "add", "two@@example.org"), "is not valid", Subscriber),
    (("editors", "add", "not-an-email", "--password-stdin"), "editor email 'not-an-email' is not valid", Editor),
])
def test_bad_input_exits_2_with_a_message_and_writes_nothing(settings, args, message, model):
    result = digest(*args, stdin="a-long-enough-password\n")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert _count(model) == 0


def test_a_real_process_answers_bad_input_the_same_way(settings):
    result = digest_process("feeds", "add", "not-a-url")
    assert result.returncode == 2 and "feed URL 'not-a-url' is not an http(s) URL" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert _count(Feed) == 0
    helped = digest_process("--help")
    assert helped.returncode == 0 and "Usage" in helped.stdout


def test_a_short_editor_password_is_refused_and_nothing_is_saved(settings):
    result = digest("editors", "add", "ed@example.org", "--password-stdin", stdin="short\n")
    assert result.returncode == 2 and "at least 10 characters" in result.stderr
    assert _count(Editor) == 0


def test_every_command_has_help():
    for args in [(), ("db",), ("feeds",), ("feeds", "add"), ("feeds", "pause"), ("feeds", "resume"),
                 ("feeds", "remove"), ("editions",), ("editions", "preview"), ("editions", "approve"),
                 ("subscribers",), ("subscribers", "signup"), ("subscribers", "import"),
                 ("subscribers", "export"), ("subscribers", "suppress"), ("subscribers", "forget"),
                 ("subscribers", "show"), ("editors", "add"), ("topics",), ("topics", "merge"), ("serve",), ("demo",)]:
        result = digest(*args, "--help")
        assert result.returncode == 0 and "Usage" in result.stdout, args


def _feed_row(listing: str, feed_id: int) -> str:
    return next(line for line in listing.splitlines() if line.startswith(f"{feed_id} "))


def test_an_operator_pauses_resumes_and_removes_a_feed(settings, feed_server, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # the whole table on one line per feed
    url = serve_feed(feed_server)
    added = digest("feeds", "add", url)  # polled once as it is added
    assert added.returncode == 0 and "first poll: 4 new" in added.stdout
    row = _feed_row(digest("feeds", "list").stdout, 1)
    assert url in row and "active" in row and "stale" not in row
    with unit_of_work() as session:  # two months pass without a new article
        session.get(Feed, 1).last_new_at -= dt.timedelta(days=61)
    assert "stale" in _feed_row(digest("feeds", "list").stdout, 1)
    assert "feed 1 paused" in digest("feeds", "pause", "1").stdout
    again = digest("feeds", "pause", "1")
    assert again.returncode == 2 and "feed 1 is already paused" in again.stderr
    assert "paused" in digest("feeds", "list").stdout
    assert "feed 1" not in digest("feeds", "poll").stdout  # a paused feed is not polled
    assert "feed 1 resumed" in digest("feeds", "resume", "1").stdout
    assert "feed 1: not modified" in digest("feeds", "poll").stdout or "0 new" in digest("feeds", "poll").stdout
    removed = digest("feeds", "remove", "1")
    assert "feed 1 removed; 4 unsent articles deleted" in removed.stdout, removed.stderr
    assert url not in digest("feeds", "list").stdout
    gone = digest("feeds", "pause", "1")
    assert gone.returncode == 2 and "feed 1 does not exist" in gone.stderr
    assert digest("feeds", "add", url).returncode == 0  # the same URL can come back


def test_an_editor_works_an_edition_from_the_command_line(settings, feed_server, tmp_path):
    url = serve_feed(feed_server)
    polled = digest("feeds", "add", url, "--section", "Analytical Articles")
    assert polled.returncode == 0 and "first poll: 4 new" in polled.stdout, polled.stderr
    assert digest("subscribers", "add", "Reader@Example.org", "--name", "R", "--confirmed").returncode == 0
    assert "reader@example.org" in digest("subscribers", "list").stdout
    added = digest("editors", "add", "ed@example.org", "--role", "publisher", "--password-stdin",
                   stdin="correct horse battery\n")
    assert added.returncode == 0, added.stderr
    composed = digest("editions", "compose", "--now")
    assert "edition 1 for" in composed.stdout and "4 articles" in composed.stdout, composed.stderr
    out = tmp_path / "preview.txt"
    assert digest("editions", "preview", "1", "--format", "text", "--out", str(out)).returncode == 0
    assert "Port Capacity Shapes the Middle Corridor" in out.read_text()
    html = digest("editions", "preview", "1").stdout
    assert html.startswith("<!DOCTYPE html>") and "Dear reader," in html
    approved = digest("editions", "approve", "1", "--by", "ed@example.org", "--yes")
    assert "approved by ed@example.org" in approved.stdout
    again = digest("editions", "approve", "1", "--by", "ed@example.org")
    assert again.returncode == 2 and "only a draft can be approved" in again.stderr
    assert "approved" in digest("editions", "list").stdout


def test_demo_leaves_a_readable_edition_in_the_outbox(tmp_path, monkeypatch):
    import email
    import email.policy
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/demo.sqlite3")
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    result = digest_process("demo", "--port", str(port))  # the whole pipeline, as a real process
    assert result.returncode == 0, result.stderr
    [path] = (tmp_path / "outbox").rglob("*.eml")
    assert str(path) in result.stdout
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["To"] == "reader@example.org"
    text = message.get_body(("plain",)).get_content()
    assert "Ferry Bottlenecks Set the Pace for the Trans-Caspian Corridor" in text
    assert "Dear Demo Reader," in text
    # Under each title, the issue the byline names, a Field Report's place, an older byline's
    # affiliation (the sample's dates move with the day it is served: any date will do).
    unwrapped = " ".join(text.split())
    assert re.search(r"Aram Velt, Tbilisi, \d{1,2} [A-Z][a-z]+ \d{4} issue ", unwrapped)
    assert re.search(r"Aigerim Tolen \(researcher, Institute for Regional Studies\), Almaty, \d{1,2} [A-Z][a-z]+ "
                     r"\d{4} issue ", unwrapped)


def test_editors_adjust_an_edition_and_see_the_schedule(settings, feed_server, tmp_path, monkeypatch):
    from tests.factories import draft_edition, polled_feed

    polled_feed(feed_server)
    edition_id = str(draft_edition())
    monkeypatch.setenv("COLUMNS", "120")  # room for the UTC columns too (80 shows local times only)
    schedule = digest("editions", "schedule", "--count", "3")
    assert schedule.returncode == 0 and schedule.stdout.count(" UTC") == 6  # 3 periods, cutoff and send
    intro = tmp_path / "intro.md"
    intro.write_text("This issue looks at **ports** and water.", encoding="utf-8")
    edited = digest("editions", "edit", edition_id, "--subject", "Ports and water", "--intro-file", str(intro))
    assert edited.returncode == 0, edited.stderr
    shown = digest("editions", "show", edition_id)
    assert "Ports and water" in shown.stdout and "HTML size" in shown.stdout
    assert "<strong>ports</strong>" in digest("editions", "preview", edition_id).stdout
    missing = digest("editions", "edit", edition_id, "--intro-file", str(tmp_path / "nope.md"))
    assert missing.returncode == 2 and "cannot read --intro-file" in missing.stderr
    moved = digest("editions", "move-article", edition_id, "1", "--to", "9")
    assert moved.returncode == 2 and "position 9 is outside 1..4" in moved.stderr
