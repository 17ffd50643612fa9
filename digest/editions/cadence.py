"""The biweekly cadence, computed from an anchor date rather than scheduled: every tick asks
which period is due, and the unique period row makes a repeated or missed tick harmless."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from digest.config import Settings


@dataclass(frozen=True)
class Period:
    date: dt.date  # the local date of the send; the edition's unique key
    cutoff_at: dt.datetime  # UTC: when the draft is composed
    send_at: dt.datetime  # UTC: when the approved edition goes out


@dataclass(frozen=True)
class Cadence:
    anchor: dt.date
    send_time: dt.time
    every: dt.timedelta
    cutoff_before: dt.timedelta
    tz: ZoneInfo

    @classmethod
    def from_settings(cls, settings: Settings) -> "Cadence":
        return cls(
            anchor=settings.EDITION_ANCHOR_DATE,
            send_time=settings.EDITION_SEND_TIME,
            every=dt.timedelta(days=settings.EDITION_PERIOD_DAYS),
            cutoff_before=dt.timedelta(hours=settings.EDITION_CUTOFF_HOURS),
            tz=settings.tz,
        )

    def send_at(self, date: dt.date) -> dt.datetime:
        """The send time on `date` (UTC). Local wall-clock time, converted per date: DST changes
        never move the local send time."""
        return dt.datetime.combine(date, self.send_time, tzinfo=self.tz).astimezone(dt.UTC)

    def period(self, index: int) -> Period:
        date = self.anchor + index * self.every
        send_at = self.send_at(date)
        return Period(date=date, cutoff_at=send_at - self.cutoff_before, send_at=send_at)

    def _index_near(self, moment: dt.datetime) -> int:
        local_date = moment.astimezone(self.tz).date()
        return (local_date - self.anchor) // self.every

    def latest_due(self, now: dt.datetime) -> Period:
        """The newest period whose cutoff has passed: the one whose draft should exist."""
        index = self._index_near(now) + 2
        while self.period(index).cutoff_at > now:
            index -= 1
        return self.period(index)

    def upcoming(self, now: dt.datetime, count: int = 1) -> list[Period]:
        """The next `count` periods whose send time is still ahead."""
        index = self._index_near(now) - 1
        while self.period(index).send_at <= now:
            index += 1
        return [self.period(index + offset) for offset in range(count)]
