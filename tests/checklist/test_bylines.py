"""The checklist's byline check: an article with no author, no issue date, or an issue more than
45 days from the day it went online is a warning (never blocking) that names the article and
quotes the byline it was read from, on the edition page and in `digest editions check`."""

from __future__ import annotations

import datetime as dt
import html
import json

from fastapi.testclient import TestClient
from sqlalchemy import update

from digest.checklist.build import edition_checklist
from digest.editions.lookup import get_edition
from digest.store.db import unit_of_work
from digest.store.models import Article
from digest.web.app import app
from tests.checklist.conftest import edition_linking_to
from tests.cli import digest
from tests.web.editor_helpers import logged_in

ONLINE = dt.datetime(2026, 11, 20, 15, tzinfo=dt.UTC)


def _set(edition_id: int, path: str, **values) -> None:
    """Change the draft's article that links to `path` (after composing: a date moved back would
    have kept it out of the draft)."""
    with unit_of_work() as session:
        [article_id] = [item.article_id for item in get_edition(session, edition_id).items
                        if item.article.url.endswith(path)]
        session.execute(update(Article).where(Article.id == article_id).values(published_at=ONLINE, **values))


def _bylines(edition_id: int):
    with unit_of_work() as session:
        checklist = edition_checklist(get_edition(session, edition_id), wait=False)
    return checklist, next(check for check in checklist.checks if check.key == "bylines")


def test_each_article_whose_byline_lacks_an_author_or_a_near_issue_is_named_with_its_byline(settings, feed_server):
    edition_id = edition_linking_to(feed_server, "/item/a", "/item/b", "/item/c", "/item/d", "/item/e")
    _set(edition_id, "/item/a", authors=None, issue_date=dt.date(2026, 11, 18),
         structure={"byline": "By empty (11/18/2026 issue of the CACI Analyst)"})
    _set(edition_id, "/item/b", authors="Nodira Kessel", issue_date=None, structure={"byline": "By: Nodira Kessel"})
    _set(edition_id, "/item/c", issue_date=dt.date(2026, 9, 21),
         structure={"byline": "By Rustam Okoye (the 09/21/2026 issue of the CACI Analyst)"})
    _set(edition_id, "/item/d", authors="", issue_date=None, structure={})
    _set(edition_id, "/item/e", issue_date=dt.date(2026, 10, 6))  # 45 days before: still near enough

    checklist, bylines = _bylines(edition_id)
    assert bylines.level == "warning" and not checklist.blocking
    assert bylines.summary.startswith("4 of 5 articles have no author, no issue date or an issue more than 45 days")
    assert sorted(finding.text for finding in bylines.findings) == [
        "“Corridor report 0”: no author; the byline read: “By empty (11/18/2026 issue of the CACI Analyst)”",
        "“Corridor report 1”: no issue date; the byline read: “By: Nodira Kessel”",
        "“Corridor report 2”: the issue of 21 September 2026, 60 days before it went online (20 November 2026); "
        "the byline read: “By Rustam Okoye (the 09/21/2026 issue of the CACI Analyst)”",
        "“Corridor report 3”: no author, no issue date; no byline was found at the start of its text"]
    assert sorted(finding.url[-1] for finding in bylines.findings) == list("abcd")

    # An issue after the item went online is named so too.
    _set(edition_id, "/item/e", issue_date=dt.date(2027, 1, 10))
    assert any(finding.text.startswith(
        "“Corridor report 4”: the issue of 10 January 2027, 51 days after it went online (20 November 2026)")
               for finding in _bylines(edition_id)[1].findings)


def test_the_warning_is_shown_on_the_edition_page_and_by_digest_editions_check(settings, feed_server):
    edition_id = edition_linking_to(feed_server, "/item/a")
    _set(edition_id, "/item/a", issue_date=None, structure={"byline": "By <b>Ilia</b> & Co"})
    expected = "“Corridor report 0”: no issue date; the byline read: “By <b>Ilia</b> & Co”"

    ran = digest("editions", "check", str(edition_id), "--json")
    assert ran.returncode == 0, ran.stderr
    [bylines] = [check for check in json.loads(ran.stdout)["checks"] if check["key"] == "bylines"]
    assert bylines["level"] == "warning" and [f["text"] for f in bylines["findings"]] == [expected]
    printed = digest("editions", "check", str(edition_id))
    assert "WARNING   Bylines" in printed.stdout and "“Corridor report 0”: no issue date;" in printed.stdout

    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        page = logged_in(client, "publisher@example.org", "publisher").get(f"/editions/{edition_id}").text
    assert html.escape(expected, quote=False) in page and "<b>Ilia</b>" not in page


def test_a_byline_from_outside_is_quoted_short_and_the_link_written_as_the_email_writes_it(settings, feed_server):
    edition_id = edition_linking_to(feed_server, "/item/13314-kazakhstan’s-bid.html")
    _set(edition_id, "’s-bid.html", authors=None,
         structure={"byline": "By " + "Anna Petrova and " * 60 + "\n\tJohn Doe"})
    [finding] = _bylines(edition_id)[1].findings
    quoted = finding.text.split("the byline read: ", 1)[1]
    assert len(quoted) == 160 + 2 and quoted.endswith("…”") and "\n" not in quoted and "\t" not in quoted
    assert finding.url == feed_server.url("/item/13314-kazakhstan%E2%80%99s-bid.html")
