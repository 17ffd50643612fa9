"""The biweekly cadence is computed from the anchor: local send time holds across DST."""

import datetime as dt
from zoneinfo import ZoneInfo

from digest.editions.cadence import Cadence

NEW_YORK = ZoneInfo("America/New_York")
CADENCE = Cadence(anchor=dt.date(2026, 1, 7), send_time=dt.time(9, 0), every=dt.timedelta(days=14),
                  cutoff_before=dt.timedelta(hours=24), tz=NEW_YORK)


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_periods_are_every_fourteen_days_from_the_anchor():
    periods = CADENCE.upcoming(utc(2026, 1, 1), count=3)
    assert [p.date for p in periods] == [dt.date(2026, 1, 7), dt.date(2026, 1, 21), dt.date(2026, 2, 4)]
    assert all(p.date.weekday() == 2 for p in periods)  # Wednesdays


def test_local_send_time_survives_daylight_saving_changes():
    for period in CADENCE.upcoming(utc(2026, 2, 1), count=26):
        local = period.send_at.astimezone(NEW_YORK)
        assert (local.hour, local.minute) == (9, 0)
    march = CADENCE.upcoming(utc(2026, 3, 1), count=2)  # DST starts 8 March 2026
    assert [p.send_at.hour for p in march] == [14, 13]


def test_the_latest_due_period_is_the_newest_whose_cutoff_passed():
    just_before_cutoff = utc(2026, 1, 20, 13, 59)
    just_after_cutoff = utc(2026, 1, 20, 14, 1)
    assert CADENCE.latest_due(just_before_cutoff).date == dt.date(2026, 1, 7)
    assert CADENCE.latest_due(just_after_cutoff).date == dt.date(2026, 1, 21)
    three_weeks_later = utc(2026, 2, 12)
    assert CADENCE.latest_due(three_weeks_later).date == dt.date(2026, 2, 4)
