"""`digest feeds show ID`: what extraction read, per article, for an editor at a shell."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select

from digest.store.db import unit_of_work
from digest.store.models import Feed
from tests.factories import poll_url, serve_feed
from tests.feed_documents import recent_items
from tests.cli import digest


def test_it_prints_authors_issue_date_section_tags_and_lead_length(settings, feed_server):
    item = dataclasses.replace(recent_items(1)[0], title="Grain Quotas Under Review",
                               byline="By Ilse Navarro, Bishkek (10/14/2026 issue of the CACI Analyst)",
                               lead="Officials announced a review of grain export quotas after a dry summer.")
    url = serve_feed(feed_server, [item])
    poll_url(url)
    with unit_of_work() as session:
        feed_id = session.scalar(select(Feed.id).where(Feed.url == url))
    shown = digest("feeds", "show", str(feed_id))
    assert shown.returncode == 0, shown.stderr
    lines = [" ".join(line.split()) for line in shown.stdout.splitlines()]
    assert any(line.startswith("article ") and line.endswith("Grain Quotas Under Review") for line in lines)
    for expected in ("authors: Ilse Navarro (Bishkek)", "issue date: 2026-10-14", "section: Analytical Articles",
                     "lead: 12 words, 71 characters",
                     "byline: By Ilse Navarro, Bishkek (10/14/2026 issue of the CACI Analyst)", "affiliated: -"):
        assert expected in lines, (expected, shown.stdout)


def test_it_prints_the_affiliation_an_older_byline_names(settings, feed_server):
    item = dataclasses.replace(recent_items(1)[0], title="Grain Quotas Under Review",
                               byline="By Ilse Navarro, student, Naryn State University, Bishkek "
                                      "(10/14/2026 issue of the CACI Analyst)")
    url = serve_feed(feed_server, [item])
    poll_url(url)
    with unit_of_work() as session:
        feed_id = session.scalar(select(Feed.id).where(Feed.url == url))
    shown = digest("feeds", "show", str(feed_id))
    lines = [" ".join(line.split()) for line in shown.stdout.splitlines()]
    for expected in ("authors: Ilse Navarro (Bishkek)", "affiliated: student, Naryn State University",
                     "issue date: 2026-10-14"):
        assert expected in lines, (expected, shown.stdout)


def test_an_unknown_feed_is_named_in_the_error(settings):
    shown = digest("feeds", "show", "42")
    assert shown.returncode == 2 and "feed 42 does not exist" in shown.stderr
