"""Send progress: counts, throughput and the estimated end, from delivery rows and timestamps."""

from __future__ import annotations

import datetime as dt

from digest.delivery.plan import release_edition, start_edition
from digest.delivery.progress import send_progress
from digest.store.db import unit_of_work
from digest.store.models import DeliveryStatus, Edition
from tests.delivery.batches import settle
from tests.factories import approved_edition, many_subscribers, stored_articles

START = dt.datetime(2026, 12, 9, 14, 0, tzinfo=dt.UTC)


def _sending_edition(readers: int) -> int:
    stored_articles(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    many_subscribers(readers)
    edition_id = approved_edition()
    with unit_of_work() as session:
        release_edition(session, edition_id)
    with unit_of_work() as session:
        start_edition(session, edition_id, now=START)
        session.get(Edition, edition_id).started_at = START
    return edition_id


def _set(edition_id: int, count: int, status: DeliveryStatus, sent_at: dt.datetime | None = None) -> None:
    assert settle(edition_id, count, status, sent_at=sent_at) == count


def test_progress_gives_throughput_and_an_estimated_end(settings):
    edition_id = _sending_edition(300)
    with unit_of_work() as session:
        before = send_progress(session, session.get(Edition, edition_id), START + dt.timedelta(minutes=1))
    assert (before.total, before.done, before.percent, before.per_minute, before.eta) == (300, 0, 0, None, None)
    _set(edition_id, 40, DeliveryStatus.ACCEPTED, sent_at=START + dt.timedelta(minutes=2))  # before the window
    _set(edition_id, 100, DeliveryStatus.ACCEPTED, sent_at=START + dt.timedelta(minutes=8))
    _set(edition_id, 10, DeliveryStatus.FAILED)
    with unit_of_work() as session:
        progress = send_progress(session, session.get(Edition, edition_id), START + dt.timedelta(minutes=10))
    assert progress.counts == {"pending": 150, "accepted": 140, "failed": 10}
    # The pace of the last five minutes: 100 handed over, 20 a minute.
    assert (progress.done, progress.percent, progress.per_minute) == (150, 50, 20.0)
    assert progress.eta == START + dt.timedelta(minutes=10 + 7.5)  # 150 left at 20 a minute
    assert progress.as_dict()["eta"] == "2026-12-09T14:17:30+00:00"


def test_the_estimate_never_beats_the_rate_limit(settings, monkeypatch):
    edition_id = _sending_edition(300)
    _set(edition_id, 100, DeliveryStatus.ACCEPTED, sent_at=START + dt.timedelta(minutes=1))
    monkeypatch.setenv("SEND_RATE_PER_HOUR", "100")
    monkeypatch.setenv("SEND_BATCH_SIZE", "100")
    from tests.conftest import reset_caches

    reset_caches()
    with unit_of_work() as session:
        progress = send_progress(session, session.get(Edition, edition_id), START + dt.timedelta(minutes=2))
    # 100 a minute lately, but 200 more at 100 an hour: the second batch an hour after the first.
    assert progress.eta == START + dt.timedelta(minutes=62)


def test_a_finished_send_has_no_estimate_and_keeps_its_rate(settings):
    edition_id = _sending_edition(60)
    _set(edition_id, 60, DeliveryStatus.ACCEPTED, sent_at=START + dt.timedelta(minutes=1))
    with unit_of_work() as session:
        edition = session.get(Edition, edition_id)
        edition.sent_at = START + dt.timedelta(minutes=2)
    with unit_of_work() as session:
        progress = send_progress(session, session.get(Edition, edition_id), START + dt.timedelta(days=1))
    assert (progress.percent, progress.per_minute, progress.eta) == (100, 30.0, None)
