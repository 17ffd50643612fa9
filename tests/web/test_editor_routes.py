"""Every editor route over HTTP: login required, publishers only where it says so, CSRF tokens,
404 pages for ids that name nothing, and bad input answered by the form again, nothing saved."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from digest.config import get_settings
from digest.store.db import unit_of_work
from digest.store.models import Delivery, Edition, EditionStatus, Feed, Subscriber, Suppression
from digest.web.app import app
from tests.factories import draft_edition, polled_feed, sending_edition, subscribers
from tests.web.editor_helpers import approve_form, csrf, logged_in, run_slow_checks

EDITOR_POSTS = ["/editions/compose", "/editions/{e}/text", "/editions/{e}/intro-preview", "/editions/{e}/articles/add",
                "/editions/{e}/articles/{a}/move", "/editions/{e}/articles/{a}/remove", "/editions/{e}/test"]
PUBLISHER_POSTS = ["/editions/{e}/approve", "/editions/{e}/schedule", "/editions/{e}/unschedule",
                   "/editions/{e}/send-now", "/editions/{e}/pause", "/editions/{e}/resume", "/editions/{e}/cancel"]


@pytest.fixture
def client(settings):
    # https, as PUBLIC_BASE_URL is: the session and CSRF cookies are Secure.
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


@pytest.fixture
def edition(settings, feed_server) -> tuple[int, int]:
    """A draft edition and the id of its first article."""
    polled_feed(feed_server)
    edition_id = draft_edition()
    with unit_of_work() as session:
        return edition_id, session.get(Edition, edition_id).items[0].article_id


def snapshot(edition_id: int) -> tuple:
    with unit_of_work() as session:
        edition = session.get(Edition, edition_id)
        return (edition.status, edition.subject, edition.preheader, edition.intro, edition.send_at,
                edition.approved_by, [item.article_id for item in edition.items],
                session.query(Delivery).count())


def _paths(templates, edition_id, article_id):
    return [template.format(e=edition_id, a=article_id) for template in templates]


def test_an_editor_cannot_approve_schedule_or_control_a_send(client, edition):
    edition_id, article_id = edition
    logged_in(client, "editor@example.org", "editor")
    token = csrf(client, f"/editions/{edition_id}")
    before = snapshot(edition_id)
    for path in _paths(PUBLISHER_POSTS, edition_id, article_id):
        answer = client.post(path, data={"csrf_token": token, "when": "period"})
        assert answer.status_code == 403 and "Publishers only" in answer.text, path
    assert snapshot(edition_id) == before
    run_slow_checks(edition_id)
    page = client.get(f"/editions/{edition_id}").text
    assert "Only a publisher may approve" in page and '<button type="submit" disabled>Approve this edition</button>' in page


def test_ids_that_name_nothing_get_the_404_page(client, edition):
    edition_id, article_id = edition
    logged_in(client, "publisher@example.org", "publisher")
    for path in ["/editions/999", "/editions/abc", "/editions/999/preview", "/editions/2x/preview"]:
        answer = client.get(path)
        assert answer.status_code == 404 and "Not found" in answer.text and "<form" not in answer.text.split("<main")[1][:50], path
    assert client.get("/api/editions/999/progress").status_code == 404
    token = csrf(client, f"/editions/{edition_id}")
    for path in _paths(EDITOR_POSTS[1:] + PUBLISHER_POSTS, 999, article_id):
        answer = client.post(path, data={"csrf_token": token})
        assert answer.status_code == 404 and "Edition 999 does not exist." in answer.text, path
    for action in ("move", "remove"):
        answer = client.post(f"/editions/{edition_id}/articles/99999/{action}", data={"csrf_token": token, "position": "1"})
        assert answer.status_code == 404 and "Article 99999 is not in edition" in answer.text
    answer = client.post(f"/editions/{edition_id}/articles/add", data={"csrf_token": token, "article_id": "99999"})
    assert answer.status_code == 404 and "Article 99999 does not exist." in answer.text


BAD_INPUT = [
    ("/editions/{e}/text", {"subject": "   ", "preheader": "Kept in the form", "intro": "x"}, "subject must be 1 to 200"),
    ("/editions/{e}/text", {"subject": "Fine", "preheader": "", "intro": "x" * 10_001}, "intro must be at most"),
    ("/editions/{e}/articles/add", {"article_id": "first"}, "article 'first' is not a number"),
    ("/editions/{e}/articles/add", {"article_id": "{a}"}, "is already in edition"),
    ("/editions/{e}/articles/{a}/move", {"position": "99"}, "position 99 is outside 1..4"),
    ("/editions/{e}/articles/{a}/move", {"position": "top"}, "position 'top' is not a number"),
    ("/editions/{e}/test", {"addresses": "desk@example.org, not-an-address"}, "test address 'not-an-address' is not valid"),
    ("/editions/{e}/test", {"addresses": " "}, "give at least one email address"),
    # Every bad address is named, not only the first.
    ("/editions/{e}/test", {"addresses": "bad-one, desk@example.org, bad-two"}, "test address 'bad-two' is not valid"),
    ("/editions/{e}/test", {"addresses": ",".join(f"t{i}@example.org" for i in range(11))}, "at most 10"),
    ("/editions/{e}/schedule", {"when": "custom", "send_at": "2020-01-01T09:00"}, "has passed; choose a time ahead"),
    ("/editions/{e}/schedule", {"when": "custom", "send_at": "next tuesday"}, "is not a date and time"),
    ("/editions/{e}/schedule", {"when": "whenever"}, "when 'whenever' must be period or custom"),
    ("/editions/{e}/unschedule", {}, "only an approved edition is scheduled"),
    ("/editions/{e}/pause", {}, "only a sending edition can be paused"),
    ("/editions/{e}/resume", {}, "only a paused edition can be resumed"),
    ("/editions/{e}/cancel", {}, "it cannot be cancelled"),
    ("/editions/{e}/send-now", {}, "approve it before sending"),
]


@pytest.mark.parametrize("path, data, message", BAD_INPUT, ids=[f"{p.rsplit('/', 1)[1]}-{m[:20]}" for p, _, m in BAD_INPUT])
def test_bad_input_shows_the_form_again_with_the_error_and_saves_nothing(client, edition, path, data, message):
    edition_id, article_id = edition
    logged_in(client, "publisher@example.org", "publisher")
    before = snapshot(edition_id)
    token = csrf(client, f"/editions/{edition_id}")
    form = {name: value.format(a=article_id) for name, value in data.items()}
    answer = client.post(path.format(e=edition_id, a=article_id), data={"csrf_token": token, **form})
    assert answer.status_code == 400
    assert message in answer.text.replace("&#39;", "'")
    assert 'id="form-error" role="alert"' in answer.text and 'action="/editions/%s/text"' % edition_id in answer.text
    if data.get("preheader"):
        assert 'value="Kept in the form"' in answer.text  # what was typed stays, to be corrected
    assert snapshot(edition_id) == before
    assert not list(get_settings().OUTBOX_DIR.rglob("*.eml"))  # no test went out either


def test_removing_the_last_article_or_approving_twice_is_refused(client, edition):
    edition_id, article_id = edition
    logged_in(client, "publisher@example.org", "publisher")
    token = csrf(client, f"/editions/{edition_id}")
    with unit_of_work() as session:
        others = [item.article_id for item in session.get(Edition, edition_id).items[1:]]
    for other in others:
        assert client.post(f"/editions/{edition_id}/articles/{other}/remove", data={"csrf_token": token}).status_code == 303
    answer = client.post(f"/editions/{edition_id}/articles/{article_id}/remove", data={"csrf_token": token})
    assert answer.status_code == 400 and "the last one in edition" in answer.text
    approval = approve_form(client, edition_id)
    assert client.post(f"/editions/{edition_id}/approve", data=approval).status_code == 303
    again = client.post(f"/editions/{edition_id}/approve", data=approval)
    assert again.status_code == 400 and "only a draft can be approved" in again.text


def test_a_sending_edition_is_paused_resumed_and_cancelled_by_a_publisher(client, settings, feed_server, redis_client):
    edition_id, batches = sending_edition(feed_server, "one@example.org", "two@example.org", "three@example.org")
    assert batches
    redis_client.delete("delivery")
    logged_in(client, "publisher@example.org", "publisher")
    page = client.get(f"/editions/{edition_id}")
    assert 'id="sending"' in page.text and "0</b> of <b id=\"progress-total\">3</b>" in page.text
    token = csrf(client, f"/editions/{edition_id}")

    assert client.post(f"/editions/{edition_id}/pause", data={"csrf_token": token}).headers["location"] == \
        f"/editions/{edition_id}?notice=paused#sending"
    assert snapshot(edition_id)[0] == EditionStatus.PAUSED
    assert ">Resume</button>" in client.get(f"/editions/{edition_id}").text
    progress = client.get(f"/api/editions/{edition_id}/progress").json()
    assert progress["status"] == "paused" and progress["total"] == 3 and progress["counts"] == {"pending": 3}

    assert client.post(f"/editions/{edition_id}/resume", data={"csrf_token": token}).status_code == 303
    assert snapshot(edition_id)[0] == EditionStatus.SENDING
    assert redis_client.llen("delivery") == 1  # the pending rows' batch went back to the queue, after commit

    assert client.post(f"/editions/{edition_id}/cancel", data={"csrf_token": token}).status_code == 303
    assert snapshot(edition_id)[0] == EditionStatus.CANCELLED
    assert client.get(f"/api/editions/{edition_id}/progress").json()["counts"] == {"cancelled": 3}
    redis_client.delete("delivery")


def _every_route(edition: tuple[int, int], *methods: str) -> list[tuple[str, str]]:
    """(method, path) of every route of the editors' routers, its ids naming rows that exist:
    the draft edition, its first article, one confirmed reader and the polled feed."""
    from digest.web import editor, editor_feeds, editor_subscribers

    [subscriber_id] = subscribers("reader@example.org")
    with unit_of_work() as session:
        feed_id = session.scalar(select(Feed.id))
    ids = {"{edition_id}": edition[0], "{article_id}": edition[1], "{subscriber_id}": subscriber_id,
           "{feed_id}": feed_id}
    found = []
    for route in [*editor.router.routes, *editor_subscribers.router.routes, *editor_feeds.router.routes]:
        path = route.path
        for name, value in ids.items():
            path = path.replace(name, str(value))
        found += [(method, path) for method in sorted(route.methods) if not methods or method in methods]
    return found


def saved_rows(edition_id: int) -> tuple:
    """What a refused form must leave alone: the edition, and the readers, suppressions and feeds."""
    with unit_of_work() as session:
        return (snapshot(edition_id), [(s.email, s.status) for s in session.scalars(select(Subscriber))],
                session.scalar(select(func.count()).select_from(Suppression)),
                [(f.url, f.status) for f in session.scalars(select(Feed))])


def test_no_editor_route_is_reachable_without_a_login(client, edition):
    """Whatever routes the editors' modules gain, each one asks for a login first."""
    routes = _every_route(edition)
    assert len(routes) >= 30
    before = saved_rows(edition[0])
    for method, path in routes:
        form = {"subject": "Changed", "url": "https://example.org/x.feed"} if method == "POST" else None
        answer = client.request(method, path, data=form)
        expected = 401 if path.startswith("/api/") else 303
        assert answer.status_code == expected, (method, path)
        if expected == 303:
            assert answer.headers["location"].startswith("/login?next="), (method, path)
    assert saved_rows(edition[0]) == before


def test_no_editor_form_is_accepted_without_its_csrf_token(client, edition):
    logged_in(client, "publisher@example.org", "publisher")
    posts = _every_route(edition, "POST")
    assert len(posts) >= 20
    before = saved_rows(edition[0])
    for _, path in posts:
        for token in ({}, {"csrf_token": "forged"}):
            answer = client.post(path, data={"subject": "Changed", "article_id": str(edition[1]),
                                              "url": "https://example.org/x.feed", "confirm": "reader@example.org",
                                              **token})
            assert answer.status_code == 400 and "Form expired" in answer.text, path
    assert saved_rows(edition[0]) == before
