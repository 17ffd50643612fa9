"""Re-classifying history moves the counts of the verdicts that changed, and leaves them exactly
as a recount from every event would (on SQLite and PostgreSQL), in a fixed number of statements
per page of deliveries, however many events change.

Six readers of one edition, delivered a minute after the send (reader 3 has no `delivered`
event, so its click is timed by the hand-over):
  0  a person: opens, clicks two articles five and six minutes after delivery;
  1  Apple Mail and a link scanner: a prefetch open, four links clicked a second after delivery;
  2  an open without `sg_machine_open`, a click on the reader's own preferences link, and one on
     a link longer than a reader mark (kept as its hash);
  3  a click on an article, with no delivery event;
  4  an open whose user agent is not text and whose machine flag is a string: unknown, whatever
     the rules say of user agents;
  5  a person who clicks the same article twice, twenty minutes apart.
"""

from __future__ import annotations

import pytest
from sqlalchemy import update

from digest.reports import reclassify
from digest.reports.counting import recount_edition
from digest.store.db import unit_of_work
from digest.store.models import DeliveryEvent, EditionCount, ReaderMark
from tests.conftest import reset_caches
from tests.delivery.test_ledger_costs import statements
from tests.reports.events import SentEdition, clicked, counts_and_marks, delivered, opened

SECOND = 1 / 60


@pytest.fixture
def history(standin, feed_server, client):
    sent = SentEdition(standin, feed_server, readers=6)
    e, links = sent.event, sent.links
    preferences = sent.values[sent.emails[2]]["[%preferences_url%]"]
    sent.post(client, [
        e(0, "delivered", 1, **delivered()), e(0, "open", 5, **opened()),
        e(0, "click", 6, **clicked(links[0])), e(0, "click", 7, **clicked(links[1], 1)),
        e(1, "delivered", 1, **delivered()), e(1, "open", 1 + 2 * SECOND, **opened(machine=True)),
        *[e(1, "click", 1 + SECOND, **clicked(url, i)) for i, url in enumerate(links[:4])],
        e(2, "delivered", 1, **delivered()),
        e(2, "open", 30, **{key: value for key, value in opened().items() if key != "sg_machine_open"}),
        e(2, "click", 31, **clicked(preferences)), e(2, "click", 32, **clicked(links[2] + "?" + "x" * 150)),
        e(3, "click", 3, **clicked(links[0])),
        e(4, "delivered", 1, **delivered()),
        e(4, "open", 50, **{**opened(), "useragent": {"agent": "Mozilla/5.0"}, "sg_machine_open": "true"}),
        e(5, "delivered", 1, **delivered()), e(5, "click", 40, **clicked(links[3])),
        e(5, "click", 60, **clicked(links[3])),
    ])
    return sent


def _rules(monkeypatch, **change: str) -> None:
    for name in ("SCANNER_USER_AGENTS", "SCANNER_CLICK_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in change.items():
        monkeypatch.setenv(name, value)
    reset_caches()


def _reclassified(edition_id: int, monkeypatch, **change: str) -> reclassify.Reclassified:
    _rules(monkeypatch, **change)
    with unit_of_work() as session:
        return reclassify.reclassify_edition(session, edition_id)


def _as_a_recount_leaves_them(edition_id: int) -> None:
    moved = counts_and_marks(edition_id)
    with unit_of_work() as session:
        recount_edition(session, edition_id)
    assert moved == counts_and_marks(edition_id)


def test_moved_counts_are_those_a_recount_would_give(history, monkeypatch):
    edition = history.edition_id
    first = counts_and_marks(edition)
    assert first[0]["human:event:click"] == (4, 7) and first[0]["machine:event:click"] == (1, 4)
    # Every user agent a scanner's: each person's open and click turns a machine's.
    done = _reclassified(edition, monkeypatch, SCANNER_USER_AGENTS='["Mozilla"]')
    assert (done.classified, done.changed, done.moved, done.recounted) == (15, 13, 9, False)
    counts, _ = counts_and_marks(edition)
    assert "human:event:click" not in counts and counts["machine:event:click"] == (5, 11)
    assert counts["machine:event:open"] == (3, 3) and "human:event:open" not in counts
    _as_a_recount_leaves_them(edition)
    # Back to the rules the events were counted under: the counts are the first ones again.
    done = _reclassified(edition, monkeypatch)
    assert (done.changed, done.moved) == (13, 9)
    assert counts_and_marks(edition) == first
    # Clicks within ten minutes of delivery are a scanner's: reader 0's two, and reader 3's
    # (timed by the hand-over); the scanner's own four only change their reason.
    done = _reclassified(edition, monkeypatch, SCANNER_CLICK_SECONDS="600")
    assert (done.changed, done.moved) == (7, 3)
    counts, _ = counts_and_marks(edition)
    assert counts["human:event:click"] == (2, 4) and counts["machine:event:click"] == (3, 7)
    _as_a_recount_leaves_them(edition)
    # The same rules again: nothing is written.
    with statements() as seen, unit_of_work() as session:
        done = reclassify.reclassify_edition(session, edition)
    assert (done.changed, done.moved) == (0, 0)
    assert seen and not [sql for sql, _ in seen if not sql.lstrip().upper().startswith("SELECT")]


def test_each_page_of_deliveries_takes_the_same_statements_however_many_events_change(history, monkeypatch):
    """Two deliveries a page: three pages and an empty one. Each of the three changes verdicts and
    makers; none runs a statement per event."""
    monkeypatch.setattr(reclassify, "PAGE", 2)
    _rules(monkeypatch, SCANNER_USER_AGENTS='["Mozilla"]')
    with statements() as seen, unit_of_work() as session:
        done = reclassify.reclassify_edition(session, history.edition_id)
    assert done.moved == 9
    assert all(parameters is not None for _, parameters in seen), "a statement ran once per row (executemany)"
    kinds = [sql.lstrip().split()[0].upper() for sql, _ in seen]
    # The edition's start and links (2 SELECTs); per page, its deliveries and their events (2
    # SELECTs), one UPDATE of its verdicts, one DELETE and one INSERT of the reader marks that
    # moved, the same for the first page (seven verdicts changed) as for the last (two); the
    # empty page that ends it; the counters' sums and the facts left at zero, once.
    assert kinds == ["SELECT"] * 2 + ["SELECT", "SELECT", "UPDATE", "DELETE", "INSERT"] * 3 + [
        "SELECT", "INSERT", "DELETE"], kinds
    _as_a_recount_leaves_them(history.edition_id)


def test_events_counted_before_classification_are_recounted_whole(history, monkeypatch):
    """As migration 0018 left them: every open and click "unknown", counted only as unknown opens
    and clicks (not under a maker's links, URLs and hours)."""
    edition = history.edition_id
    with unit_of_work() as session:
        session.execute(update(DeliveryEvent).where(DeliveryEvent.event.in_(("open", "click")))
                        .values(audience="unknown", audience_reason=reclassify.COUNTED_BEFORE_CLASSIFICATION))
        recount_edition(session, edition)
        legacy = ("unknown:link:", "unknown:url:", "hour:unknown:")
        session.query(EditionCount).filter(EditionCount.key.like("unknown:link:%") | EditionCount.key.like(
            "unknown:url:%") | EditionCount.key.like("hour:unknown:%")).delete(synchronize_session=False)
        session.query(ReaderMark).filter(ReaderMark.mark.like("unknown:link:%") | ReaderMark.mark.like(
            "unknown:url:%")).delete(synchronize_session=False)
    assert not any(key.startswith(legacy) for key in counts_and_marks(edition)[0])
    done = _reclassified(edition, monkeypatch)
    assert done.recounted and done.changed == 15
    counts, _ = counts_and_marks(edition)
    assert counts["human:event:click"] == (4, 7) and "unknown:event:click" not in counts
    _as_a_recount_leaves_them(edition)
