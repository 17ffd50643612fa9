"""A sent edition's archive page and framed email are rendered once per process and served again
byte for byte, headers included, while its row says the same; the row is read again after
ROW_SECONDS, and a changed row (another approved hash, subject or sending) is then never answered
with the page kept for the old one; and no more than KEPT_PAGES pages and answers are kept."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import update

from digest.delivery.backends import get_sender
from digest.store.db import unit_of_work
from digest.store.models import Edition
from digest.web import archive_cache
from digest.web.app import app
from tests.delivery.test_ledger_costs import statements
from tests.factories import approved_edition, many_subscribers, polled_feed, send_now


def _sent_edition(feed_server) -> int:
    polled_feed(feed_server)
    many_subscribers(2)
    edition_id = approved_edition()
    send_now(edition_id, get_sender())
    return edition_id


def test_a_kept_page_is_the_page_rendered_anew_headers_and_all(settings, feed_server):
    edition_id = _sent_edition(feed_server)
    client = TestClient(app, base_url="https://testserver")
    for path in (f"/archive/{edition_id}", f"/archive/{edition_id}/email"):
        archive_cache.forget()
        with statements() as rendering:
            first = client.get(path)
        with statements() as kept:
            again = client.get(path)
        archive_cache.recent.clear()
        with statements() as row_read:
            read_again = client.get(path)
        assert first.status_code == again.status_code == read_again.status_code == 200
        assert again.content == read_again.content == first.content
        assert again.headers.items() == read_again.headers.items() == first.headers.items()
        assert "set-cookie" not in again.headers
        # Rendered: the edition's row and what the page shows; answered again: nothing read;
        # once its answer is older than ROW_SECONDS: the row, and the same page.
        assert (len(rendering), len(kept), len(row_read)) == (2, 0, 1), path


def _on_a_clock(monkeypatch) -> list[float]:
    """The archive's clock, moved on by the test (now[0] += seconds)."""
    now = [1000.0]
    monkeypatch.setattr(archive_cache, "clock", lambda: now[0])
    return now


def _change(edition_id: int, **values) -> None:
    with unit_of_work() as session:
        session.execute(update(Edition).where(Edition.id == edition_id).values(**values))


def test_a_changed_edition_is_answered_as_it_is_now_once_row_seconds_pass(settings, feed_server, monkeypatch):
    edition_id = _sent_edition(feed_server)
    client = TestClient(app, base_url="https://testserver")
    now = _on_a_clock(monkeypatch)
    assert client.get(f"/archive/{edition_id}/email").status_code == 200
    assert "A new subject" not in client.get(f"/archive/{edition_id}").text
    _change(edition_id, subject="A new subject")
    now[0] += archive_cache.ROW_SECONDS - 0.1
    assert "A new subject" not in client.get(f"/archive/{edition_id}").text  # answered as read
    now[0] += 0.1
    assert "A new subject" in client.get(f"/archive/{edition_id}").text
    _change(edition_id, approved_hash="0" * 64)
    now[0] += archive_cache.ROW_SECONDS
    # The stored render no longer matches the approved hash: refused, as without the cache.
    assert client.get(f"/archive/{edition_id}/email").status_code == 400
    assert client.get(f"/archive/{edition_id}/email").status_code == 400  # a refusal is not kept
    assert client.get(f"/archive/{edition_id + 1}").status_code == 404


def test_an_edition_no_longer_published_is_not_found_once_row_seconds_pass(settings, feed_server, monkeypatch):
    """A re-send of an edition's failed readers takes it back to sending for a while."""
    edition_id = _sent_edition(feed_server)
    client = TestClient(app, base_url="https://testserver")
    now = _on_a_clock(monkeypatch)
    assert client.get(f"/archive/{edition_id}").status_code == 200
    _change(edition_id, status="sending")
    now[0] += archive_cache.ROW_SECONDS
    assert client.get(f"/archive/{edition_id}").status_code == 404


def test_the_least_recently_asked_page_is_forgotten_past_the_bound():
    assert archive_cache.pages.size == archive_cache.recent.size == archive_cache.KEPT_PAGES
    answers = archive_cache.RecentAnswers(2)
    for key in ("a", "b", "c"):
        answers.put(key, archive_cache.clock(), key.encode())
    assert [answers.get(key) for key in ("a", "b", "c")] == [None, b"b", b"c"]
    kept = archive_cache.RenderedPages(2)
    rendered: list[str] = []

    def render(name: str):
        return lambda: rendered.append(name) or f"<p>{name}</p>"

    assert kept.get("a", render("a")) == b"<p>a</p>"
    kept.get("b", render("b"))
    kept.get("a", render("a"))  # kept: "b" is now the least recently asked for
    kept.get("c", render("c"))
    assert len(kept) == 2
    kept.get("a", render("a"))
    kept.get("b", render("b"))
    assert rendered == ["a", "b", "c", "b"]
