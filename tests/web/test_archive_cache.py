"""A sent edition's archive page and framed email are rendered once per process and served again
byte for byte, headers included, while its row says the same; a changed row (another approved
hash, subject or sending) is never answered with the page kept for the old one; and no more than
KEPT_PAGES pages are kept."""

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
        archive_cache.pages.clear()
        with statements() as rendering:
            first = client.get(path)
        with statements() as kept:
            again = client.get(path)
        assert first.status_code == again.status_code == 200
        assert again.content == first.content
        assert again.headers.items() == first.headers.items()
        assert "set-cookie" not in again.headers
        assert (len(rendering), len(kept)) == (2, 1), path  # the edition's row, read each time


def test_a_changed_edition_is_never_answered_with_its_old_page(settings, feed_server):
    edition_id = _sent_edition(feed_server)
    client = TestClient(app, base_url="https://testserver")
    archive_cache.pages.clear()
    assert client.get(f"/archive/{edition_id}/email").status_code == 200
    assert "A new subject" not in client.get(f"/archive/{edition_id}").text
    with unit_of_work() as session:
        session.execute(update(Edition).where(Edition.id == edition_id).values(subject="A new subject"))
    assert "A new subject" in client.get(f"/archive/{edition_id}").text
    with unit_of_work() as session:
        session.execute(update(Edition).where(Edition.id == edition_id).values(approved_hash="0" * 64))
    # The stored render no longer matches the approved hash: refused, as without the cache.
    assert client.get(f"/archive/{edition_id}/email").status_code == 400
    assert client.get(f"/archive/{edition_id + 1}").status_code == 404


def test_the_least_recently_asked_page_is_forgotten_past_the_bound():
    assert archive_cache.pages.size == archive_cache.KEPT_PAGES
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
