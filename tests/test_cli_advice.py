"""The `digest` command's answers where a new user met wrong advice or silence: sending an edition
that is not approved, a bad role, an unknown subscriber, a feed that does not answer, the demo
run twice, and the quickstart's sample setup."""

from __future__ import annotations

import warnings

import pytest
from sqlalchemy import func, select

from digest.store.db import unit_of_work
from digest.store.models import Edition, EditionStatus, Editor, Feed
from tests.cli import digest
from tests.factories import draft_edition, polled_feed
from tests.live_app import free_port


def _edition_in(status: EditionStatus) -> int:
    edition_id = draft_edition()
    with unit_of_work() as session:
        session.get(Edition, edition_id).status = status
    return edition_id


@pytest.mark.parametrize("status, advice", [
    (EditionStatus.DRAFT, "approve it first: digest editions approve"),
    (EditionStatus.SENDING, "it is already going out; follow it with `digest editions deliveries"),
    (EditionStatus.PAUSED, "continue it with `digest editions resume"),
    (EditionStatus.SENT, "it went out"),
    (EditionStatus.CANCELLED, "a cancelled edition is not sent again"),
])
def test_send_on_an_edition_not_approved_gives_the_advice_its_state_calls_for(settings, feed_server, status, advice):
    polled_feed(feed_server)
    edition_id = _edition_in(status)
    result = digest("editions", "send", str(edition_id))
    assert result.returncode == 2 and advice in result.stderr, result.stderr
    if status != EditionStatus.DRAFT:
        assert "approve it" not in result.stderr
    with unit_of_work() as session:
        assert session.get(Edition, edition_id).status == status


def test_a_bad_role_is_refused_before_any_password_is_read(settings):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a GetPassWarning would fail here
        result = digest("editors", "add", "x@example.org", "--role", "king")
    assert result.returncode == 2 and "--role 'king' must be one of: editor, publisher" in result.stderr
    assert "Password" not in result.stdout + result.stderr


def test_without_a_terminal_the_password_is_read_from_standard_input(settings):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = digest("editors", "add", "ed@example.org", "--role", "publisher", stdin="a long enough password\n")
    assert result.returncode == 0, result.stderr
    assert "editor ed@example.org added (publisher)" in result.stdout
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Editor)) == 1


def test_an_unknown_subscriber_exits_2_like_other_unknown_ids(settings):
    for args in (("subscribers", "show", "nobody@example.org"), ("subscribers", "show", "nobody@example.org", "--json")):
        result = digest(*args)
        assert result.returncode == 2, result
        assert "nothing is held about nobody@example.org" in result.stderr and result.stdout == ""


def test_a_feed_that_does_not_answer_is_added_with_a_warning(settings):
    url = f"http://127.0.0.1:{free_port()}/feed.xml"  # nothing listens there
    result = digest("feeds", "add", url)
    assert result.returncode == 0, result.stderr
    assert f"feed 1 added: {url}" in result.stdout
    assert "Warning: feed 1 did not answer its first poll" in result.stderr and "It stays added" in result.stderr
    with unit_of_work() as session:
        feed = session.scalar(select(Feed))
        assert (feed.url, feed.consecutive_failures) == (url, 1)


def test_a_feed_that_answers_is_polled_once_when_added(settings, feed_server):
    from tests.factories import serve_feed

    result = digest("feeds", "add", serve_feed(feed_server))
    assert result.returncode == 0 and "first poll: 4 new, 0 updated" in result.stdout, result
    assert result.stderr == ""


def test_the_demo_run_twice_does_not_claim_to_send_again(settings, monkeypatch):
    from tests.factories import subscribers

    subscribers(*(f"reader{n}@example.org" for n in range(11)))
    port = free_port()
    first = digest("demo", "--port", str(port))
    assert first.returncode == 0, first.stderr
    # Twelve readers: five paths, then the folder of the other seven (not thousands of lines).
    assert "edition 1 sent to 12 reader(s)" in first.stdout
    assert first.stdout.count(".eml") == 5 and "and 7 more in " in first.stdout
    again = digest("demo", "--port", str(port))
    assert again.returncode == 0, again.stderr
    assert "sent to" not in again.stdout
    assert ("nothing new to send: every article polled is in an edition already; the latest sent, edition 1, "
            "has 12 messages in the outbox") in again.stdout
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Edition)) == 1


def test_the_sample_setup_says_what_its_poll_found_on_the_same_line(settings, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = digest("sample", "setup", "--port", str(free_port()))
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("sample feed 1 polled (") and "new" in first and first.endswith("analytical-articles.feed"), first
