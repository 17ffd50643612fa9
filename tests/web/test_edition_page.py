"""The edition page and the dashboard: what an editor sees, and what each action does."""

from __future__ import annotations

import datetime as dt
import email
import re
from email import policy

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.backends import get_sender
from digest.delivery.memory import MemorySender
from digest.delivery.plan import release_edition, start_edition
from digest.delivery.send import send_batch
from digest.editions.render import GMAIL_CLIP_BYTES
from digest.store.db import unit_of_work
from digest.store.models import Article, Delivery, Edition, EditionStatus
from digest.web.app import app
from tests.factories import approved_edition, draft_edition, polled_feed, stored_articles, subscribers
from tests.web.editor_helpers import approve_form, csrf, logged_in

TITLE = "Port Capacity Shapes the Middle Corridor"


@pytest.fixture
def client(settings):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


@pytest.fixture
def publisher(client):
    return logged_in(client, "publisher@example.org", "publisher")


def _edition(edition_id: int) -> Edition:
    with unit_of_work() as session:
        edition = session.get(Edition, edition_id)
        edition.items  # loaded before the session closes
        return edition


def _approve(client, edition_id: int):
    """Through the checklist: its warnings (the feed server's article pages answer 404) confirmed."""
    answer = client.post(f"/editions/{edition_id}/approve", data=approve_form(client, edition_id))
    assert answer.status_code == 303, answer.text
    return answer


def _post(client, edition_id: int, action: str, **data):
    answer = client.post(f"/editions/{edition_id}/{action}", data={"csrf_token": csrf(client, f"/editions/{edition_id}"), **data})
    assert answer.status_code == 303, answer.text
    return answer


def test_the_preview_is_sandboxed_at_desktop_and_mobile_width_with_a_text_tab(publisher, feed_server):
    polled_feed(feed_server)
    edition_id = draft_edition()
    desktop = publisher.get(f"/editions/{edition_id}").text
    frame = re.search(r"<iframe[^>]*>", desktop).group(0)
    assert 'sandbox="' in frame and "allow-scripts" not in frame and "allow-same-origin" not in frame
    assert f'src="/editions/{edition_id}/preview?variant=all%3Ahtml"' in frame
    assert 'class="frame desktop"' in desktop and ".frame.desktop iframe { width: 680px; }" in desktop
    mobile = publisher.get(f"/editions/{edition_id}?view=mobile").text
    assert 'class="frame mobile"' in mobile and ".frame.mobile iframe { width: 375px;" in mobile
    text = publisher.get(f"/editions/{edition_id}?view=text").text
    assert "<iframe" not in text and TITLE in re.search(r'<pre class="text".*?</pre>', text, re.S).group(0)
    shown = publisher.get(f"/editions/{edition_id}/preview?variant=all:html")
    assert TITLE in shown.text and "script-src 'none'" in shown.headers["content-security-policy"]


def test_the_variant_picker_shows_each_section_alone_and_text_only(publisher, feed_server):
    polled_feed(feed_server)
    stored_articles(utcnow() - dt.timedelta(days=2), section="Field Reports", prefix="Field report")
    edition_id = draft_edition()
    page = publisher.get(f"/editions/{edition_id}").text
    options = re.findall(r'<option value="([^"]+)"', page)
    assert options == ["all:html", "Analytical Articles:html", "Field Reports:html", "all:text"]
    field = publisher.get(f"/editions/{edition_id}/preview", params={"variant": "Field Reports:html"}).text
    assert "Field report" in field and f">{TITLE}</a>" not in field
    text_only = publisher.get(f"/editions/{edition_id}", params={"variant": "all:text"}).text
    assert "<iframe" not in text_only and 'aria-current="page">Plain text' in text_only
    plain = publisher.get(f"/editions/{edition_id}/preview", params={"variant": "all:text"})
    assert plain.headers["content-type"].startswith("text/plain") and TITLE in plain.text
    assert publisher.get(f"/editions/{edition_id}/preview", params={"variant": "News Digest:html"}).status_code == 400
    assert publisher.get(f"/editions/{edition_id}/preview", params={"variant": "nonsense"}).status_code == 400


def test_the_page_gives_the_html_size_and_warns_past_gmails_clipping(publisher, settings):
    ids = stored_articles(*(utcnow() - dt.timedelta(days=1, hours=h) for h in range(4)))
    edition_id = draft_edition()
    page = publisher.get(f"/editions/{edition_id}").text
    assert re.search(r"HTML size: <strong>\d+\.\d KB</strong>", page)
    assert "under Gmail's 102 KB clipping limit" in page and "size-warning" not in page
    long_lead = "<p>" + "A paragraph of long analysis on corridors and ports. " * 600 + "</p>"
    with unit_of_work() as session:
        session.execute(update(Article).where(Article.id.in_(ids)).values(summary_html=long_lead))
    assert 4 * len(long_lead) > GMAIL_CLIP_BYTES
    clipped = publisher.get(f"/editions/{edition_id}").text
    assert 'id="size-warning"' in clipped and "Over Gmail's 102 KB limit" in clipped


def test_the_page_lists_every_link_of_the_email(publisher, feed_server):
    polled_feed(feed_server)
    edition_id = draft_edition()
    links = re.search(r'<ul class="links" id="links">(.*?)</ul>', publisher.get(f"/editions/{edition_id}").text, re.S).group(1)
    with unit_of_work() as session:
        urls = [item.article.url for item in session.get(Edition, edition_id).items]
    for url in urls:
        assert f'href="{url}"' in links
    assert f"https://digest.example.org/archive/{edition_id}" in links and "https://digest.example.org/unsubscribe" in links


def test_editing_the_text_saves_it_and_voids_an_approval(publisher, feed_server):
    polled_feed(feed_server)
    edition_id = approved_edition()
    _post(publisher, edition_id, "text", subject="Water, ports and a new law", preheader="Three analyses",
          intro="A *short* note.")
    edition = _edition(edition_id)
    assert (edition.subject, edition.preheader, edition.intro) == ("Water, ports and a new law", "Three analyses", "A *short* note.")
    assert edition.status == EditionStatus.DRAFT and edition.approved_by is None
    page = publisher.get(f"/editions/{edition_id}?notice=saved").text
    assert "Saved." in page and "changed after approval; approve it again" in page
    assert "<em>short</em>" in page  # the intro as the email shows it


def test_the_intro_preview_renders_markdown_safely(publisher, feed_server):
    polled_feed(feed_server)
    edition_id = draft_edition()
    answer = publisher.post(f"/editions/{edition_id}/intro-preview", data={
        "csrf_token": csrf(publisher, f"/editions/{edition_id}"),
        "intro": "**Bold** and [a link](https://www.cacianalyst.org/)\n\n<script>alert(1)</script>"})
    assert answer.status_code == 200
    assert "<strong>Bold</strong>" in answer.text and 'href="https://www.cacianalyst.org/"' in answer.text
    assert "<script>" not in answer.text
    assert _edition(edition_id).intro == ""  # a preview saves nothing


def test_articles_are_added_from_a_search_moved_and_removed(publisher, feed_server):
    polled_feed(feed_server)
    edition_id = draft_edition()
    [late] = stored_articles(utcnow() - dt.timedelta(hours=2), prefix="Late brief on transit tariffs")
    found = publisher.get(f"/editions/{edition_id}", params={"q": "transit tariffs"}).text
    assert re.search(r'name="article_id" value="%s"' % late, found)
    assert "No article outside an edition matches" in publisher.get(f"/editions/{edition_id}", params={"q": "zzz"}).text
    _post(publisher, edition_id, "articles/add", article_id=str(late))
    assert [i.article_id for i in _edition(edition_id).items][-1] == late
    _post(publisher, edition_id, f"articles/{late}/move", position="1")
    order = [i.article_id for i in _edition(edition_id).items]
    assert order[0] == late
    _post(publisher, edition_id, f"articles/{order[1]}/remove")
    assert [i.article_id for i in _edition(edition_id).items] == [late, *order[2:]]


def test_a_test_goes_through_the_backend_marked_and_counts_as_no_delivery(publisher, feed_server, settings):
    polled_feed(feed_server)
    subscribers("reader@example.org")
    edition_id = draft_edition()
    answer = _post(publisher, edition_id, "test", addresses="Desk@Example.org\nproofs@example.org",
                   variant="all:text")
    assert answer.headers["location"] == f"/editions/{edition_id}?notice=test-sent#test"
    messages = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
                for p in sorted((settings.OUTBOX_DIR / "transactional").glob("test-*.eml"))]
    assert sorted(m["To"] for m in messages) == ["desk@example.org", "proofs@example.org"]
    for message in messages:
        assert message["Subject"].startswith("[Test] Central Asia-Caucasus Analyst")
        assert message["X-Digest-Test"] == "true" and message["X-Digest-Edition-Id"] == str(edition_id)
        assert message["X-Digest-Requested-By"] == "publisher@example.org"
        assert not message.is_multipart() and TITLE in message.get_content()  # the text-only variant asked for
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
    assert _edition(edition_id).status == EditionStatus.DRAFT


def test_approval_shows_who_and_when_and_unscheduling_takes_it_back(publisher, feed_server):
    polled_feed(feed_server)
    edition_id = draft_edition()
    _approve(publisher, edition_id)
    edition = _edition(edition_id)
    assert edition.status == EditionStatus.APPROVED and edition.approved_by == "publisher@example.org"
    page = publisher.get(f"/editions/{edition_id}").text
    local = edition.approved_at.astimezone(get_settings().tz)
    assert "Approved by <strong>publisher@example.org</strong> on " + f"{local.day} {local:%B %Y, %H:%M}" in page
    _post(publisher, edition_id, "unschedule")
    edition = _edition(edition_id)
    assert edition.status == EditionStatus.DRAFT and edition.approved_by is None
    assert "unscheduled by publisher@example.org" in edition.note


def test_scheduling_sets_the_period_time_or_another_local_time(publisher, feed_server):
    polled_feed(feed_server)
    edition_id = approved_edition()
    later = (utcnow() + dt.timedelta(days=3)).astimezone(get_settings().tz).replace(second=0, microsecond=0)
    _post(publisher, edition_id, "schedule", when="custom", send_at=later.strftime("%Y-%m-%dT%H:%M"))
    edition = _edition(edition_id)
    assert edition.send_at == later.astimezone(dt.UTC) and edition.status == EditionStatus.APPROVED
    page = publisher.get(f"/editions/{edition_id}").text
    assert f'value="{later:%Y-%m-%dT%H:%M}"' in page and f"{later:%H:%M %Z}" in page
    _post(publisher, edition_id, "schedule", when="period")
    period = edition.period
    expected = dt.datetime.combine(period, get_settings().EDITION_SEND_TIME, tzinfo=get_settings().tz)
    assert _edition(edition_id).send_at == expected.astimezone(dt.UTC)


def test_send_now_releases_the_edition_and_queues_its_start_after_commit(publisher, feed_server, redis_client):
    polled_feed(feed_server)
    edition_id = approved_edition()
    redis_client.delete("editions")
    # One click is not enough to send to everyone: the box that says so must be ticked.
    unconfirmed = publisher.post(f"/editions/{edition_id}/send-now",
                                 data={"csrf_token": csrf(publisher, f"/editions/{edition_id}")})
    assert unconfirmed.status_code == 400 and "tick the box" in unconfirmed.text
    assert _edition(edition_id).send_at > utcnow() and redis_client.llen("editions") == 0
    _post(publisher, edition_id, "send-now", confirm="now")
    assert _edition(edition_id).send_at <= utcnow()
    assert redis_client.llen("editions") == 1
    redis_client.delete("editions")


def test_the_dashboard_shows_period_draft_scheduled_sending_and_recent(publisher, feed_server):
    polled_feed(feed_server)
    empty = publisher.get("/dashboard").text
    assert "Articles close" in empty and "Sends" in empty and "Compose the next edition now" in empty
    draft = draft_edition()
    page = publisher.get("/dashboard").text
    assert f'<a href="/editions/{draft}">' in page and "Nothing is scheduled" in page
    _approve(publisher, draft)
    assert "publisher@example.org" in publisher.get("/dashboard").text.split("<h2>Scheduled</h2>")[1]
    subscribers("a@example.org", "b@example.org")
    with unit_of_work() as session:
        release_edition(session, draft)
    with unit_of_work() as session:
        [batch] = start_edition(session, draft)
    sending = publisher.get("/dashboard").text.split("<h2>Sending</h2>")[1].split("<h2>")[0]
    assert f'href="/editions/{draft}#sending"' in sending and "0 of 2 (0%)" in sending
    with unit_of_work() as session:
        send_batch(session, draft, batch, MemorySender())
    recent = publisher.get("/dashboard").text.split("<h2>Recent editions</h2>")[1]
    row = re.search(r'<tr><td><a href="/editions/%s">.*?</tr>' % draft, recent, re.S).group(0)
    # handed over, delivered, bounced, failed, total
    assert "sent</span>" in row and re.sub(r"\s+", "", re.sub(r' data-label="[^"]*"', "", row)).endswith(
        "<td>2</td><td>0</td><td>0</td><td>0</td><td>2</td></tr>")


def test_the_next_draft_is_composed_from_the_dashboard(publisher, feed_server):
    token = csrf(publisher, "/dashboard")
    nothing = publisher.post("/editions/compose", data={"csrf_token": token})
    assert nothing.status_code == 409 and "There is nothing to compose" in nothing.text
    polled_feed(feed_server)
    answer = publisher.post("/editions/compose", data={"csrf_token": token})
    with unit_of_work() as session:
        [edition_id] = session.scalars(select(Edition.id)).all()
    assert answer.status_code == 303 and answer.headers["location"] == f"/editions/{edition_id}"


def test_a_test_the_backend_refuses_is_reported_on_the_page(publisher, feed_server, monkeypatch):
    polled_feed(feed_server)
    edition_id = draft_edition()
    token = csrf(publisher, f"/editions/{edition_id}")
    # SendGrid at an address where nothing listens: the backend cannot be reached.
    monkeypatch.setenv("DELIVERY_BACKEND", "sendgrid")
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test-key")
    monkeypatch.setenv("SENDGRID_API_HOST", "http://127.0.0.1:9")
    get_settings.cache_clear()
    get_sender.cache_clear()
    answer = publisher.post(f"/editions/{edition_id}/test", data={"csrf_token": token, "addresses": "desk@example.org"})
    assert answer.status_code == 400 and "the test could not be sent: SendGrid unreachable" in answer.text
    assert 'id="form-error"' in answer.text
