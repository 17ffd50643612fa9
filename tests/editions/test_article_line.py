"""The line under each title, from the byline: author (and an older byline's affiliation), a Field
Report's place, and the issue the byline names (else the day the item went online), in both parts
of the email. Place and affiliation come from outside: bounded before they reach a column, bounded
again and escaped where they are shown."""

from __future__ import annotations

import dataclasses
import datetime as dt

import lxml.html
from sqlalchemy import update

from digest.editions.lookup import get_edition
from digest.editions.render import fill, render_edition
from digest.feeds.byline import MAX_AFFILIATION, MAX_PLACE
from digest.store.db import unit_of_work
from digest.store.models import Article
from tests.factories import FEED_PATH, articles, draft_edition, poll_url, stored_articles
from tests.feed_documents import k2_rss, recent_items
from tests.servers import Route

READER = {"name": "Reader", "unsubscribe_url": "https://x.example/u/1", "preferences_url": "https://x.example/p/1"}


def _rendered(edition_id: int):
    with unit_of_work() as session:
        return fill(render_edition(get_edition(session, edition_id)), READER)


def _lines(html: str) -> dict[str, str]:
    """Title -> the line under it, as a reader sees it."""
    tree = lxml.html.fromstring(html)
    return {block.xpath(".//h3")[0].text_content(): block.xpath(".//p[contains(@class,'article-meta')]")[0].text_content()
            for block in tree.xpath("//table[contains(@class,'article')]")}


def test_a_hostile_byline_is_bounded_when_stored_and_escaped_when_shown(settings, feed_server):
    items = recent_items(2)
    items = [dataclasses.replace(items[0], byline="FIRST"), dataclasses.replace(items[1], byline="SECOND")]
    document = k2_rss(feed_server.base, items)
    first = items[0].published
    # An older byline whose affiliation carries markup; a place line of one endless word.
    document = document.replace(b"<p>FIRST</p>", (
        f"<p>By Dana Kerimova, student, &lt;b onmouseover=x&gt;Open University&lt;/b&gt;, Bishkek&nbsp;"
        f"({first:%m/%d/%Y} issue of the CACI Analyst)</p>").encode())
    second = items[1].published
    document = document.replace(b"<p>SECOND</p>", (
        f"<p>By Ilia Varsimashvili<br />T{'b' * 240}<br />{second:%B} {second.day}, {second.year}, "
        "the CACI Analyst</p>").encode())
    feed_server.routes[FEED_PATH] = Route(200, document, {"Content-Type": "application/rss+xml"})
    assert poll_url(feed_server.url(FEED_PATH)).error is None
    stored = {article.title: article for article in articles()}
    older, report = stored[items[0].title], stored[items[1].title]
    assert older.structure["affiliation"] == "student, <b onmouseover=x>Open University</b>"
    assert (older.structure["place"], older.issue_date) == ("Bishkek", first.date())
    assert report.structure["place"] == "T" + "b" * (MAX_PLACE - 1) and report.issue_date == second.date()

    rendered = _rendered(draft_edition())
    assert "<b onmouseover" not in rendered.html
    assert "student, &lt;b onmouseover=x&gt;Open University&lt;/b&gt;" in rendered.html
    issue = f"{first.day} {first:%B %Y} issue"
    assert _lines(rendered.html)[items[0].title] == (
        f"Dana Kerimova (student, <b onmouseover=x>Open University</b>)\xa0· Bishkek\xa0· {issue}")
    assert f"Dana Kerimova (student, <b onmouseover=x>Open University</b>), Bishkek, {issue}" in " ".join(
        rendered.text.split())
    place = "T" + "b" * (MAX_PLACE - 1)
    assert _lines(rendered.html)[items[1].title] == \
        f"Ilia Varsimashvili\xa0· {place}\xa0· {second.day} {second:%B %Y} issue"


def test_place_and_affiliation_kept_longer_or_odder_are_held_to_their_bounds_when_shown(settings):
    [article_id] = stored_articles(dt.datetime.now(dt.UTC))
    with unit_of_work() as session:
        session.execute(update(Article).where(Article.id == article_id).values(
            issue_date=dt.date(2026, 3, 20), structure={
                "place": "<script>x</script>\n" + "p" * 500,
                "affiliation": "senior\n\tfellow, " + "f" * 1000}))
    edition_id = draft_edition()
    rendered = _rendered(edition_id)
    [line] = _lines(rendered.html).values()
    who, place, issue = line.split("\xa0· ")
    assert issue == "20 March 2026 issue"
    assert place.startswith("<script>x</script> ppp") and len(place) == MAX_PLACE and place.endswith("…")
    affiliation = who.removeprefix("A. Writer (").removesuffix(")")
    assert affiliation.startswith("senior fellow, fff") and len(affiliation) == MAX_AFFILIATION
    assert "<script>" not in rendered.html and "&lt;script&gt;x&lt;/script&gt; ppp" in rendered.html
    assert f"A. Writer ({affiliation}), {place}, 20 March 2026 issue" in " ".join(rendered.text.split())

    # A value that is not text (a row edited by hand) is no part of the line.
    with unit_of_work() as session:
        session.execute(update(Article).where(Article.id == article_id).values(
            issue_date=None, structure={"place": ["Baku"], "affiliation": {"x": 1}}))
    [line] = _lines(_rendered(edition_id).html).values()
    assert line.startswith("A. Writer\xa0· ") and line.count("·") == 1 and "Baku" not in line
