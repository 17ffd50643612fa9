"""A reader's interest: the topics of the articles they clicked themselves over the latest
digests, on their page for editors and in their own data; a scanner's clicks are not theirs, and
erasing the reader erases it."""

from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import select

from digest.config import get_settings
from digest.reports.interest import reader_interest
from digest.store.db import unit_of_work
from digest.store.models import EditionLink
from tests.factories import polled_feed
from tests.reports.events import SentEdition, clicked, delivered
from tests.reports.test_topic_clicks import HOSTILE, _file
from tests.web.editor_helpers import logged_in

SECOND = 1 / 60


def _tags(interest: list[dict]) -> list[tuple[str, int, int]]:
    return [(t["name"], t["articles"], t["clicks"]) for t in interest if t["kind"] == "tag"]


def test_a_readers_own_clicks_by_topic_shown_to_editors_and_erased_with_them(standin, feed_server, client):
    polled_feed(feed_server)
    sent = SentEdition(standin, None, readers=2)
    with unit_of_work() as session:
        first, second = session.scalars(select(EditionLink.article_id).where(
            EditionLink.edition_id == sent.edition_id).order_by(EditionLink.position).limit(2)).all()
    _file({"Georgia": [first, second], "Energy": [first], HOSTILE: [second]})
    a, b, e = sent.links[0], sent.links[1], sent.event
    scanner = {"useragent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0"}
    sent.post(client, [
        e(0, "delivered", 1, **delivered()), e(1, "delivered", 1, **delivered()),
        # Reader 0's scanner follows every link a second after delivery; later the person reads two.
        *[e(0, "click", 1 + SECOND, **{**clicked(url, i), **scanner}) for i, url in enumerate(sent.links)],
        e(0, "click", 40, **clicked(a)), e(0, "click", 41, **clicked(b)), e(0, "click", 90, **clicked(b)),
        # Reader 1 only ever had a scanner.
        *[e(1, "click", 1 + SECOND, **{**clicked(url, i), **scanner}) for i, url in enumerate(sent.links)],
    ])
    reader, scanned = sent.subscriber_ids
    with unit_of_work() as session:
        assert _tags(reader_interest(session, reader, 12)) == [("Georgia", 2, 3), (HOSTILE, 1, 2), ("Energy", 1, 1)]
        assert reader_interest(session, scanned, 12) == []
    logged_in(client)
    html = client.get(f"/subscribers/{reader}").text
    table = html[html.index('id="interest"'):html.index("</table>", html.index('id="interest"'))]
    assert ">Georgia</a></td><td>tag</td><td class=\"num\">2</td><td class=\"num\">3</td>" in table
    assert "&lt;b&gt;{{ unsubscribe_url }}&lt;/b&gt;" in table and "<b>" not in table
    assert "No click of theirs" in client.get(f"/subscribers/{scanned}").text

    email = sent.emails[0]
    shown = subprocess.run([sys.executable, "-m", "digest", "subscribers", "show", email, "--json"],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert ("Georgia", 2, 3) in _tags(json.loads(shown.stdout)["interest"])
    forgotten = subprocess.run([sys.executable, "-m", "digest", "subscribers", "forget", email],
                               capture_output=True, text=True, timeout=60)
    assert forgotten.returncode == 0, forgotten.stdout + forgotten.stderr
    with unit_of_work() as session:
        assert reader_interest(session, reader, get_settings().INTEREST_EDITIONS) == []
