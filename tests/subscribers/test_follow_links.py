""""Follow <topic>" links under each article of an email (digests and alerts, HTML and text) and
of the archive page. An email's link is the reader's own preference link (which carries `?e=`)
with `&follow=<topic id>` after it, so one render still serves every reader and no value is added
per reader; it opens the reader's follow page for that topic, and following through it is
credited to the edition. The archive's links lead to the public follow page. Names are shown
escaped, neutralized and cut, whatever the feed wrote."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import lxml.html
from sqlalchemy import func, select, update

from digest.alerts.compose import collect_new_articles
from digest.alerts.release import release_held_alerts
from digest.checklist.build import edition_checklist
from digest.clock import utcnow
from digest.delivery.backends import get_sender
from digest.delivery.proof import send_test
from digest.editions.lookup import get_edition
from digest.editions.preview import preview_edition
from digest.store.db import unit_of_work
from digest.store.models import Article, AuditEntry, DeliveryEvent, Edition, EditionStatus, Follow, Pace, Topic
from digest.subscribers.follows import follow
from digest.subscribers.tokens import PREFERENCES, UNSUBSCRIBE, make_token
from digest.topics.admin import rename
from digest.topics.offers import FOLLOW_LINKS
from tests.factories import approved_edition, draft_edition, planned, polled_feed, send_now, subscribers
from tests.feed_documents import recent_items

READER = "reader@example.org"
BASE = "https://digest.example.org"
HOSTILE = "<script>alert(1)</script>[%unsubscribe_url%] [%name:html%] {{ 7*7 }}" + "Ж" * 10_000


def _tagged_edition(feed_server, *tags: tuple[str, ...], approve: bool = True) -> int:
    """An edition of articles carrying these tags (one tuple per article, newest first)."""
    items = [replace(item, tags=named) for item, named in zip(recent_items(len(tags)), tags)]
    polled_feed(feed_server, items)
    return approved_edition() if approve else draft_edition()


def _topic_ids() -> dict[tuple[str, str], int]:
    with unit_of_work() as session:
        return {(kind.value, name): topic_id for topic_id, kind, name in session.execute(
            select(Topic.id, Topic.kind, Topic.name))}


def _edition_messages(outbox: Path) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted(outbox.rglob("*.eml")) if "transactional" not in path.parts]


def _parts(message) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # as sent: CRLF
    return message.get_body(("html",)).get_content(), text


def _offers(html: str) -> dict[str, list[tuple[str, str]]]:
    """Article title -> its follow links (text, href), as a reader's mail program reads them."""
    tree = lxml.html.fromstring(html)
    found = {}
    for block in tree.xpath("//td[contains(@class, 'article-cell')][.//*[contains(@class, 'article-title')]]"):
        title = block.xpath(".//*[contains(@class, 'article-title')]")[0].text_content().strip()
        found[title] = [(a.text_content(), a.get("href")) for a in block.xpath(".//a[contains(@href, 'follow=')]")]
    return found


def _text_offers(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^Follow (.+?): (\S+follow=\d+)$", text, re.MULTILINE)


def _local(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE, url
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_a_sent_digest_offers_each_articles_topics_through_the_readers_own_link(settings, client, feed_server):
    edition_id = _tagged_edition(feed_server, ("Georgia", "Energy"), ("Azerbaijan", "Caspian", "Oil", "Energy"))
    [reader] = subscribers(READER)
    send_now(edition_id, get_sender())
    [message] = _edition_messages(settings.OUTBOX_DIR)
    html, text = _parts(message)
    ids = _topic_ids()
    preferences = f"{BASE}/p/{make_token(PREFERENCES, reader)}?e={edition_id}"

    def link(kind: str, name: str) -> tuple[str, str]:
        return name, f"{preferences}&follow={ids[(kind, name)]}"

    first, second = [item.title for item in recent_items(2)]
    # Tags first, then the author; at most FOLLOW_LINKS an article (the section waits its turn).
    assert _offers(html) == {
        first: [link("tag", "Energy"), link("tag", "Georgia"), link("author", "Anna Keller")],
        second: [link("tag", "Azerbaijan"), link("tag", "Caspian"), link("tag", "Energy")],
    }
    assert FOLLOW_LINKS == 3
    # The text part offers the same links, one a line.
    assert _text_offers(text) == [link("tag", "Energy"), link("tag", "Georgia"), link("author", "Anna Keller"),
                                  link("tag", "Azerbaijan"), link("tag", "Caspian"), link("tag", "Energy")]

    # One click: the reader's follow page for that topic, credited to the edition.
    opened = client.get(_local(dict(_offers(html)[first])["Georgia"]))
    georgia = ids[("tag", "Georgia")]
    assert opened.status_code == 303
    follow_page = f"/p/{make_token(PREFERENCES, reader)}/follow/{georgia}?e={edition_id}"
    assert opened.headers["location"] == follow_page
    shown = lxml.html.fromstring(client.get(follow_page).text)
    assert shown.xpath("//h1")[0].text_content() == "Follow Georgia"
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Follow)) == 0  # opening changes nothing
    [action] = shown.xpath("//form/@action")
    assert client.post(action, data={"pace": "alert", "do": "save"}).status_code == 200
    with unit_of_work() as session:
        assert session.execute(select(Follow.subscriber_id, Follow.topic_id, Follow.pace)).all() == [
            (reader, georgia, Pace.ALERT)]
        [entry] = session.scalars(select(AuditEntry.details).where(AuditEntry.action == "follow")).all()
        assert (entry["topic"], entry["edition"]) == (georgia, edition_id)
        assert session.scalar(select(func.count()).select_from(DeliveryEvent).where(
            DeliveryEvent.event == "web_preferences", DeliveryEvent.edition_id == edition_id)) == 1
    # The text part's link goes to the same page.
    assert client.get(_local(dict(_text_offers(text))["Georgia"])).headers["location"] == follow_page


def test_sendgrid_fills_the_follow_links_from_the_preference_link_alone(standin, client, feed_server):
    edition_id = _tagged_edition(feed_server, ("Georgia",))
    [reader] = subscribers(READER)
    send_now(edition_id, get_sender())
    [body] = standin.requests
    [personalization] = body["personalizations"]
    # No value of its own per link: the reader's substitutions are the ones every digest carries.
    assert sorted(personalization["substitutions"]) == sorted(
        f"[%{field}{part}%]" for field in ("name", "unsubscribe_url", "preferences_url", "for_you") for part in ("", ":html"))
    parts = {content["type"]: content["value"] for content in body["content"]}
    for key, value in personalization["substitutions"].items():  # as SendGrid fills: anywhere
        parts = {kind: part.replace(key, value) for kind, part in parts.items()}
    georgia = _topic_ids()[("tag", "Georgia")]
    expected = f"{BASE}/p/{make_token(PREFERENCES, reader)}?e={edition_id}&follow={georgia}"
    assert ("Georgia", expected) in [offer for offers in _offers(parts["text/html"]).values() for offer in offers]
    assert ("Georgia", expected) in _text_offers(parts["text/plain"])
    assert client.get(_local(expected)).headers["location"] == (
        f"/p/{make_token(PREFERENCES, reader)}/follow/{georgia}?e={edition_id}")


def test_an_alert_offers_its_articles_topics_too(settings, client, feed_server):
    items = [replace(item, tags=("Georgia", "Black Sea")) for item in recent_items(1)]
    polled_feed(feed_server, items)
    [reader] = subscribers(READER)
    ids = _topic_ids()
    georgia = ids[("tag", "Georgia")]
    with unit_of_work() as session:
        follow(session, reader, georgia, Pace.ALERT, source="test")
        session.execute(update(Article).values(back_catalogue=False, published_at=utcnow()))
        article_ids = list(session.scalars(select(Article.id)))
    with unit_of_work() as session:
        alert = collect_new_articles(session, article_ids, utcnow())
        assert alert is not None
        alert_id = alert.id
    with unit_of_work() as session:
        session.execute(update(Edition).where(Edition.id == alert_id).values(hold_until=utcnow() - dt.timedelta(seconds=1)))
    with unit_of_work() as session:
        assert release_held_alerts(session, utcnow()) == [alert_id]
    send_now(alert_id, get_sender())
    [message] = _edition_messages(settings.OUTBOX_DIR)
    assert message["Subject"].startswith("New on Georgia")
    html, text = _parts(message)
    preferences = f"{BASE}/p/{make_token(PREFERENCES, reader)}?e={alert_id}"
    expected = [("Black Sea", f"{preferences}&follow={ids[('tag', 'Black Sea')]}"),
                ("Georgia", f"{preferences}&follow={georgia}"),
                ("Anna Keller", f"{preferences}&follow={ids[('author', 'Anna Keller')]}")]
    assert list(_offers(html).values()) == [expected]
    assert _text_offers(text) == expected
    assert client.get(_local(expected[0][1])).headers["location"] == (
        f"/p/{make_token(PREFERENCES, reader)}/follow/{ids[('tag', 'Black Sea')]}?e={alert_id}")


def test_the_archive_offers_public_follow_links(settings, client, feed_server):
    edition_id = _tagged_edition(feed_server, ("Georgia",))
    subscribers(READER)
    send_now(edition_id, get_sender())
    page = client.get(f"/archive/{edition_id}/email").text  # the email the archive page frames
    georgia = _topic_ids()[("tag", "Georgia")]
    [offers] = _offers(page).values()
    assert ("Georgia", f"{BASE}/preferences?e={edition_id}&follow={georgia}") in offers
    assert "/p/" not in page  # no reader's link
    opened = client.get(_local(dict(offers)["Georgia"]))
    assert opened.status_code == 303 and opened.headers["location"] == f"/follow/{georgia}?e={edition_id}"
    form = lxml.html.fromstring(client.get(opened.headers["location"]).text)
    assert form.xpath("//h1")[0].text_content() == "Follow Georgia"
    assert form.xpath("//form/@action") == [f"/follow/{georgia}?e={edition_id}"]


def test_the_checklist_neither_fetches_follow_links_nor_misses_the_preference_link(settings, feed_server):
    edition_id = _tagged_edition(feed_server, ("Georgia", "Energy"), approve=False)
    with unit_of_work() as session:
        checklist = edition_checklist(get_edition(session, edition_id))
    checks = {check.key: check for check in checklist.checks}
    assert checks["preferences"].level == "passed" and checks["unsubscribe"].level == "passed"
    checked = [link["url"] for link in checks["links"].data["links"]]
    assert checked and not [url for url in checked if url.startswith(BASE) or "follow=" in url]
    assert checks["size"].level == "passed"


def test_a_hostile_topic_name_stays_harmless_in_both_parts_and_the_archive(settings, client, feed_server):
    edition_id = _tagged_edition(feed_server, (HOSTILE,))
    [reader] = subscribers(READER)
    send_now(edition_id, get_sender())
    [message] = _edition_messages(settings.OUTBOX_DIR)
    html, text = _parts(message)
    unsubscribe = f"{BASE}/u/{make_token(UNSUBSCRIBE, reader)}?e={edition_id}"
    [offers] = _offers(html).values()
    # Cut to 80 characters as shown (invisible word joiners break its marker-like text).
    hostile = [name.replace("\u2060", "") for name, _ in offers if name.startswith("<script>")]
    assert len(hostile) == 1 and len(hostile[0]) <= 80 and hostile[0].endswith("…")
    assert "<script>alert" not in html and "<script>alert" not in _plain_without_markup(text)
    # Its marker-like text is shown as written, never filled with the reader's values.
    assert html.count(unsubscribe) == 1 and text.count(unsubscribe) == 1
    assert "[%unsubscribe_url%]" not in html + text
    assert "Reader 0" not in _follow_lines(text) and "Reader 0" not in hostile[0]
    assert hostile[0].startswith("<script>alert(1)</script>[%unsubscribe_url%]")
    [(name, _)] = [offer for offer in _text_offers(text) if offer[0].startswith("<script>")]
    assert len(name.replace("\u2060", "")) <= 80 and name.replace("\u2060", "").startswith("<script>alert(1)</script>[%unsubscribe_url%]")
    for path in (f"/archive/{edition_id}", f"/archive/{edition_id}/email"):  # the page and the email it frames
        archive = client.get(path).text
        assert "<script>alert" not in archive and archive.count("Ж") < 200


def _plain_without_markup(text: str) -> str:
    """The text part without its one legitimate "<script>" (the feed's tag, shown as written)."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("Follow "))


def _follow_lines(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if line.startswith("Follow "))


def test_a_test_send_and_the_preview_lead_to_the_public_follow_page(settings, client, feed_server):
    edition_id = _tagged_edition(feed_server, ("Georgia",), approve=False)
    georgia = _topic_ids()[("tag", "Georgia")]
    with unit_of_work() as session:
        edition = get_edition(session, edition_id)
        send_test(edition, ["editor@example.org"], get_sender(), "editor@example.org")
        preview = preview_edition(edition)
    [path] = (Path(settings.OUTBOX_DIR) / "transactional").glob("test-*.eml")
    html, text = _parts(email.message_from_bytes(path.read_bytes(), policy=email.policy.default))
    public = f"{BASE}/preferences?e={edition_id}&follow={georgia}"
    for offers in (_offers(html), _offers(preview.html)):
        assert ("Georgia", public) in next(iter(offers.values()))
    assert ("Georgia", public) in _text_offers(text)
    assert client.get(_local(public)).headers["location"] == f"/follow/{georgia}?e={edition_id}"


def test_a_topic_renamed_after_approval_sends_nothing_an_editor_did_not_approve(settings, feed_server):
    """The links show the topics' names as they are: renamed between approval and the send, the
    edition is no longer what was approved, and goes back to an editor (as an article corrected
    by its feed does) rather than readers receiving a name nobody saw."""
    edition_id = _tagged_edition(feed_server, ("Georgia",))
    subscribers(READER)
    with unit_of_work() as session:
        rename(session, _topic_ids()[("tag", "Georgia")], "Sakartvelo", "publisher@example.org")
    assert planned(edition_id) == []
    with unit_of_work() as session:
        edition = session.get(Edition, edition_id)
        assert edition.status == EditionStatus.DRAFT and "changed after approval" in edition.note
