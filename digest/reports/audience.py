"""Who made an open or a click: a person ("human"), a machine, or nobody can tell ("unknown").

Decided as each event is applied and kept on it (`audience`, `audience_reason`), so the reports
count people without reading events, and a change of rules re-classifies history
(`reclassify_edition`). The rules, in order (docs/reports.md, "People and machines", gives
their sources):

  open   SendGrid's `sg_machine_open: true` (Apple Mail Privacy Protection's prefetch)  machine
         a user agent of SCANNER_USER_AGENTS                                               machine
         an image proxy's (IMAGE_PROXY_USER_AGENTS) within PROXY_OPEN_SECONDS of delivery  machine
         `sg_machine_open: false`                                                          human
         no `sg_machine_open` at all (older events)                                        unknown
  click  a user agent of SCANNER_USER_AGENTS                                               machine
         within SCANNER_CLICK_SECONDS of delivery                                          machine
         SCANNER_BURST_LINKS distinct links of the message within SCANNER_BURST_SECONDS    machine
         no delivery to time it against                                                    unknown
         otherwise                                                                         human

"Delivery" is the message's first `delivered` event, or, until one is seen, its hand-over to
SendGrid (earlier, so a click is never judged too soon by it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.config import Settings
from digest.store.models import DeliveryEvent
from digest.store.upsert import among

HUMAN, MACHINE, UNKNOWN = "human", "machine", "unknown"
AUDIENCES = (HUMAN, MACHINE, UNKNOWN)
ENGAGEMENT = ("open", "click")
# A user agent is matched on its first characters only: the header can be any length.
USER_AGENT_LIMIT = 1000
REASON_LIMIT = 100  # the column's width


@dataclass
class Timings:
    """What the rules compare an event with: each delivery's first `delivered` event, its
    hand-over to SendGrid, and its clicks kept before (time and link: a burst can span two
    requests)."""
    delivered_at: dict[int, dt.datetime] = field(default_factory=dict)
    handed_over_at: dict[int, dt.datetime] = field(default_factory=dict)
    clicks: dict[int, list[tuple[dt.datetime, str]]] = field(default_factory=dict)

    def delivered(self, delivery_id: int, at: dt.datetime) -> None:
        known = self.delivered_at.get(delivery_id)
        if known is None or at < known:
            self.delivered_at[delivery_id] = at

    def delivery(self, delivery_id: int | None) -> dt.datetime | None:
        return self.delivered_at.get(delivery_id) or self.handed_over_at.get(delivery_id)


def timings_of(session: Session, rows: list[dict], handed_over: dict[int, dt.datetime | None]) -> Timings:
    """The timings for a request's rows: its own `delivered` events, and the delivered events
    and clicks kept before for the deliveries it has opens or clicks of, read in one statement
    whatever the request's size (none if it has no opens or clicks)."""
    timings = Timings(handed_over_at={d: at for d, at in handed_over.items() if at is not None})
    engaged = sorted({row["delivery_id"] for row in rows
                      if row["event"] in ENGAGEMENT and row["delivery_id"] is not None})
    if not engaged:
        return timings
    for row in rows:
        if row["event"] == "delivered" and row["delivery_id"] is not None:
            timings.delivered(row["delivery_id"], row["occurred_at"])
    kept = session.execute(
        select(DeliveryEvent.delivery_id, DeliveryEvent.event, DeliveryEvent.occurred_at, DeliveryEvent.url)
        .where(among(session, DeliveryEvent.delivery_id, engaged),
               DeliveryEvent.event.in_(("delivered", "click"))))
    for delivery_id, event, occurred_at, url in kept:
        if event == "delivered":
            timings.delivered(delivery_id, occurred_at)
        elif url:
            timings.clicks.setdefault(delivery_id, []).append((occurred_at, url))
    return timings


def user_agent(payload: dict) -> str:
    agent = payload.get("useragent")
    return agent[:USER_AGENT_LIMIT] if isinstance(agent, str) else ""


class _Names:
    """Which name of a settings list a user agent contains, without regard to case. Each distinct
    agent is looked up once per call of `classify`: a request's or a page's events share a few."""

    def __init__(self, names: list[str]):
        self.names = [(name, name.lower()) for name in names]
        self.found: dict[str, str | None] = {}

    def in_agent(self, agent: str) -> str | None:
        if agent not in self.found:
            lowered = agent.lower()
            self.found[agent] = next((name for name, low in self.names if low in lowered), None)
        return self.found[agent]


@dataclass
class _Rules:
    settings: Settings
    scanners: _Names
    proxies: _Names


def _seconds_after(at: dt.datetime, start: dt.datetime | None) -> float | None:
    return None if start is None else (at - start).total_seconds()


def classify(rows: list[dict], timings: Timings, settings: Settings) -> None:
    """Set `audience` and `audience_reason` on every row (None on events other than opens and
    clicks). Rows have event, delivery_id, occurred_at, url and payload (the event as SendGrid
    sent it)."""
    bursts = _burst_clicks(rows, timings, settings)
    rules = _Rules(settings, _Names(settings.SCANNER_USER_AGENTS), _Names(settings.IMAGE_PROXY_USER_AGENTS))
    for position, row in enumerate(rows):
        if row["event"] not in ENGAGEMENT:
            row["audience"] = row["audience_reason"] = None
            continue
        judge = _open if row["event"] == "open" else _click
        audience, reason = judge(row, timings, rules, position in bursts)
        row["audience"], row["audience_reason"] = audience, reason[:REASON_LIMIT]


def _open(row: dict, timings: Timings, rules: _Rules, _burst: bool) -> tuple[str, str]:
    settings = rules.settings
    payload = row["payload"] if isinstance(row["payload"], dict) else {}
    flag = payload.get("sg_machine_open")
    if flag is True:
        return MACHINE, "sg_machine_open"
    agent = user_agent(payload)
    scanner = rules.scanners.in_agent(agent)
    if scanner:
        return MACHINE, f"scanner user agent: {scanner}"
    proxy = rules.proxies.in_agent(agent)
    after = _seconds_after(row["occurred_at"], timings.delivery(row["delivery_id"]))
    if proxy and after is not None and after <= settings.PROXY_OPEN_SECONDS:
        return MACHINE, f"{proxy} within {settings.PROXY_OPEN_SECONDS}s of delivery"
    if flag is False:
        return HUMAN, ""
    return UNKNOWN, "no sg_machine_open"


def _click(row: dict, timings: Timings, rules: _Rules, burst: bool) -> tuple[str, str]:
    settings = rules.settings
    payload = row["payload"] if isinstance(row["payload"], dict) else {}
    scanner = rules.scanners.in_agent(user_agent(payload))
    if scanner:
        return MACHINE, f"scanner user agent: {scanner}"
    after = _seconds_after(row["occurred_at"], timings.delivery(row["delivery_id"]))
    if after is not None and after <= settings.SCANNER_CLICK_SECONDS:
        return MACHINE, f"within {settings.SCANNER_CLICK_SECONDS}s of delivery"
    if burst:
        return MACHINE, f"{settings.SCANNER_BURST_LINKS} links within {settings.SCANNER_BURST_SECONDS}s"
    if after is None:
        return UNKNOWN, "no delivery to time it against"
    return HUMAN, ""


def _burst_clicks(rows: list[dict], timings: Timings, settings: Settings) -> set[int]:
    """The positions of the clicks that, with others of the same message (in these rows or kept
    before), make SCANNER_BURST_LINKS distinct links within SCANNER_BURST_SECONDS of each other."""
    by_delivery: dict[int, list[tuple[dt.datetime, str, int | None]]] = {}
    for position, row in enumerate(rows):
        if row["event"] == "click" and row["delivery_id"] is not None and row.get("url"):
            by_delivery.setdefault(row["delivery_id"], []).append((row["occurred_at"], row["url"], position))
    window = dt.timedelta(seconds=settings.SCANNER_BURST_SECONDS)
    bursts: set[int] = set()
    for delivery_id, clicks in by_delivery.items():
        clicks = clicks + [(at, url, None) for at, url in timings.clicks.get(delivery_id, ())]
        if len({url for _, url, _ in clicks}) < settings.SCANNER_BURST_LINKS:
            continue  # too few links for any burst (most messages: one or two clicks)
        clicks.sort(key=lambda click: click[0])
        start = 0
        for end in range(len(clicks)):  # a sliding window over the message's clicks in time order
            while clicks[end][0] - clicks[start][0] > window:
                start += 1
            within = clicks[start:end + 1]
            if len({url for _, url, _ in within}) >= settings.SCANNER_BURST_LINKS:
                bursts.update(position for _, _, position in within if position is not None)
    return bursts
