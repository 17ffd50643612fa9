"""The beat tick over travelled time: composed once per period, never twice, on local time."""

from __future__ import annotations

import datetime as dt

import time_machine
from sqlalchemy import func, select

from digest.editions.approve import approve_edition
from digest.editions.compose import compose_next_edition
from digest.editions.schedule import tick
from digest.store.db import unit_of_work
from digest.store.models import Edition, EditionSkip, EditionStatus
from tests.factories import stored_articles

UTC = dt.UTC
# Default cadence: anchor Wednesday 2026-01-07, every 14 days, 09:00 America/New_York,
# drafts composed 24 hours before. The period of 2026-02-04 sends at 14:00 UTC (EST).
FEB_4_CUTOFF = dt.datetime(2026, 2, 3, 14, 0, tzinfo=UTC)


def _tick(at: dt.datetime) -> list[int]:
    with time_machine.travel(at, tick=False), unit_of_work() as session:
        return tick(session, at)


def _editions() -> list[Edition]:
    with unit_of_work() as session:
        return list(session.scalars(select(Edition).order_by(Edition.period)))


def test_a_draft_is_composed_when_the_cutoff_passes(settings):
    stored_articles(FEB_4_CUTOFF - dt.timedelta(days=3), FEB_4_CUTOFF - dt.timedelta(days=1))
    _tick(FEB_4_CUTOFF - dt.timedelta(minutes=1))
    assert _editions() == []  # the articles came after the previous period's cutoff
    _tick(FEB_4_CUTOFF + dt.timedelta(minutes=1))
    [edition] = _editions()
    assert edition.period == dt.date(2026, 2, 4) and len(edition.items) == 2
    assert edition.cutoff_at == FEB_4_CUTOFF
    assert edition.send_at == dt.datetime(2026, 2, 4, 14, 0, tzinfo=UTC)


def test_the_first_draft_takes_only_articles_since_the_previous_cutoff(settings):
    stored_articles(FEB_4_CUTOFF - dt.timedelta(days=20), FEB_4_CUTOFF - dt.timedelta(days=2))
    _tick(FEB_4_CUTOFF - dt.timedelta(days=14) + dt.timedelta(minutes=1))  # Jan 21 period: the older one
    _tick(FEB_4_CUTOFF + dt.timedelta(minutes=1))
    first, second = _editions()
    assert [len(first.items), len(second.items)] == [1, 1]
    assert first.items[0].article_id != second.items[0].article_id


def test_a_tick_repeated_at_the_same_instant_composes_once(settings):
    stored_articles(FEB_4_CUTOFF - dt.timedelta(days=1))
    at = FEB_4_CUTOFF + dt.timedelta(seconds=30)
    for _ in range(3):
        _tick(at)
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Edition)) == 1


def test_after_three_weeks_of_silence_the_missed_period_is_composed_once(settings):
    stored_articles(FEB_4_CUTOFF - dt.timedelta(days=1), FEB_4_CUTOFF + dt.timedelta(days=3))
    back = FEB_4_CUTOFF + dt.timedelta(days=21)  # beat was down from before the Feb 4 cutoff
    for minute in range(3):
        _tick(back + dt.timedelta(minutes=minute))
    [edition] = _editions()
    # The newest period whose cutoff passed (Feb 18) gets one draft, holding everything since.
    assert edition.period == dt.date(2026, 2, 18)
    assert len(edition.items) == 2


def test_due_editions_follow_local_time_across_daylight_saving(settings):
    # DST starts 8 March 2026 and ends 1 November 2026 in New York.
    for period, send_utc in [(dt.date(2026, 3, 18), dt.datetime(2026, 3, 18, 13, 0, tzinfo=UTC)),
                             (dt.date(2026, 11, 11), dt.datetime(2026, 11, 11, 14, 0, tzinfo=UTC))]:
        stored_articles(send_utc - dt.timedelta(days=2))
        cutoff = send_utc - dt.timedelta(days=1)
        _tick(cutoff + dt.timedelta(minutes=1))
        edition = next(e for e in _editions() if e.period == period)
        assert edition.send_at == send_utc
        with unit_of_work() as session:
            approve_edition(session, edition.id, "publisher@example.org")
        assert edition.id not in _tick(send_utc - dt.timedelta(minutes=1))
        assert edition.id in _tick(send_utc)


def test_a_period_without_articles_is_skipped_with_its_reason(settings):
    _tick(FEB_4_CUTOFF + dt.timedelta(minutes=1))
    _tick(FEB_4_CUTOFF + dt.timedelta(minutes=2))
    assert _editions() == []
    with unit_of_work() as session:
        [skip] = session.scalars(select(EditionSkip)).all()
    assert skip.period == dt.date(2026, 2, 4) and "no new articles" in skip.reason
    # An article that arrives late (published before the cutoff) still makes the edition.
    stored_articles(FEB_4_CUTOFF - dt.timedelta(hours=2))
    _tick(FEB_4_CUTOFF + dt.timedelta(minutes=3))
    assert [e.period for e in _editions()] == [dt.date(2026, 2, 4)]
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(EditionSkip)) == 0


def test_a_period_overtaken_by_an_edition_sent_early_is_neither_composed_nor_skipped(settings):
    # Beat was down over the Feb 4 period; an editor composed the next one (Feb 18) early and sent it.
    after_feb_4 = FEB_4_CUTOFF + dt.timedelta(days=1, hours=2)
    stored_articles(FEB_4_CUTOFF - dt.timedelta(days=2))
    with time_machine.travel(after_feb_4, tick=False), unit_of_work() as session:
        early = compose_next_edition(session, after_feb_4)
        assert early.period == dt.date(2026, 2, 18)
        early.status, early.started_at, early.sent_at = EditionStatus.SENT, after_feb_4, after_feb_4

    _tick(after_feb_4 + dt.timedelta(minutes=1))  # Feb 4 is still the newest period whose cutoff passed
    stored_articles(FEB_4_CUTOFF - dt.timedelta(hours=3))  # a late arrival from before the Feb 4 cutoff
    _tick(after_feb_4 + dt.timedelta(minutes=2))
    assert [e.period for e in _editions()] == [dt.date(2026, 2, 18)]
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(EditionSkip)) == 0
