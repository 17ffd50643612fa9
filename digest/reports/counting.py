"""The running counts behind the reports, kept as each batch of events is applied.

A report of an edition with 300,000 events must not read them: each kept event adds to a few
counters of its edition (its kind, its link, its hour, its reason), and a counter's `readers`
grows only the first time a delivery reaches that fact. "First" is decided by the database, by
inserting (delivery, mark) and seeing which rows went in, so workers applying batches at the
same time never count a reader twice. The tally of one batch is done here in Python over that
batch only (at most a request's events); the reports themselves only read the counters.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter

from sqlalchemy import BigInteger, Integer, String, bindparam, delete, select, true, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.store.models import ArticleTopic, Edition, EditionCount, EditionLink, ReaderMark
from digest.store.upsert import insert_ignoring_duplicates, made_once, rows_table

TIMELINE_HOURS = 72
# SendGrid's bounce `type`: "blocked" is a soft bounce (the server refused for now), "bounce" hard.
SOFT_BOUNCE = "blocked"
# Every way out through an edition counts as one unsubscribe of that edition.
UNSUBSCRIBE_EVENTS = ("unsubscribe", "group_unsubscribe", "web_unsubscribe")
PROBLEMS = {"dropped": "dropped", "deferred": "deferred", "spamreport": "spam report"}
# The events counted by the hour since their edition started (the only facts that need its start).
TIMED = ("open", "click")


def fact_name(event: str) -> str:
    return "unsubscribe" if event in UNSUBSCRIBE_EVENTS else event


def _mark(key: str) -> str:
    return key if len(key) <= 100 else "h:" + hashlib.sha256(key.encode()).hexdigest()


def link_label(url: str) -> str:
    """A clicked link as the report shows it: a reader's own links carry their token, so they are
    named, never shown."""
    base = get_settings().base_url
    if url.startswith(f"{base}/u/"):
        return "(unsubscribe link)"
    if url.startswith(f"{base}/p/"):
        return "(preferences link)"
    return url


class Links(dict):
    """An edition's links by URL: each one's position, and the topics its article is filed under."""

    def __init__(self):
        super().__init__()
        self.topics: dict[str, list[int]] = {}


NO_LINKS = Links()  # the links of an edition none of whose events counted together is a click


def _facts(row: dict, started_at: dt.datetime | None, positions: Links) -> list[tuple[str, bool]]:
    """The counters one event adds to, and whether each counts readers. A click on an article's
    link counts for its link and for each topic the article is filed under (a reader once per
    topic, however many of its articles they clicked)."""
    event = row["event"]
    facts = [(f"event:{fact_name(event)}", True)]
    if event == "bounce":
        what = "soft bounce" if row.get("kind") == SOFT_BOUNCE else "hard bounce"
        facts += [(f"bounce:{what}", True), (f"reason:{what}:{row.get('reason') or ''}"[:600], True)]
    elif event in PROBLEMS:
        facts.append((f"reason:{PROBLEMS[event]}:{row.get('reason') or ''}"[:600], True))
    # An open or a click also counts under its maker ("human:event:open", "machine:link:3"); one
    # kept without a maker (none is, since 0018) counts as unknown.
    audience = row.get("audience") or "unknown"
    if event in TIMED:
        facts.append((f"{audience}:event:{event}", True))
    if event == "click" and row.get("url"):
        position = positions.get(row["url"])
        if position is not None:
            facts += [(f"link:{position}", True), (f"{audience}:link:{position}", True)]
            facts += [(f"topic:{topic_id}", True) for topic_id in positions.topics.get(row["url"], ())]
            if audience == "human":
                facts += [(f"human:topic:{topic_id}", True) for topic_id in positions.topics.get(row["url"], ())]
        label = link_label(row["url"])
        facts += [(f"url:{label}"[:600], True), (f"{audience}:url:{label}"[:600], True)]
    if event in TIMED and started_at is not None:
        hour = int((row["occurred_at"] - started_at).total_seconds() // 3600)
        if 0 <= hour < TIMELINE_HOURS:
            facts += [(f"hour:{event}:{hour}", False), (f"hour:{audience}:{event}:{hour}", False)]
    return facts


def _edition_context(session: Session, timed: set[int], clicked: set[int]) -> tuple[dict, dict[int, Links]]:
    """What an event's facts depend on besides the event: the start of the editions with opens
    or clicks (`timed`), and the links of those with clicks (only a click needs its link's
    place). Neither is read for other events (a reader's unsubscribe credited to its edition)."""
    started = dict(session.execute(
        select(Edition.id, Edition.started_at).where(Edition.id.in_(timed))).all()) if timed else {}
    positions = {edition_id: Links() for edition_id in clicked}
    for edition_id, url, position, topic_id in session.execute(
            select(EditionLink.edition_id, EditionLink.url, EditionLink.position, ArticleTopic.topic_id)
            .outerjoin(ArticleTopic, ArticleTopic.article_id == EditionLink.article_id)
            .where(EditionLink.edition_id.in_(clicked))) if clicked else ():
        positions[edition_id][url] = position
        if topic_id is not None:
            positions[edition_id].topics.setdefault(url, []).append(topic_id)
    return started, positions


def _marked_first(session: Session, marks: dict[tuple[int, str], tuple[int, str]]) -> Counter:
    """Insert (delivery, mark) rows; per (edition, key), how many went in (the readers reached
    for the first time). One statement for any number of marks, their rows one JSON parameter:
    as a VALUES list, compiling two parameters a mark took longer than inserting them."""
    readers: Counter = Counter()
    if not marks:
        return readers
    inserted = session.execute(_insert_marks(session), {
        "rows": json.dumps([{"delivery_id": d, "mark": m} for d, m in marks])}).all()
    for delivery_id, mark in inserted:
        readers[marks[delivery_id, mark]] += 1
    return readers


@made_once
def _insert_marks(session: Session):
    """INSERT the (delivery, mark) rows given as the JSON parameter `rows`, returning those that
    went in."""
    new = rows_table(session, bindparam("rows", type_=String), {"delivery_id": BigInteger(), "mark": String()})
    # WHERE true: SQLite reads INSERT ... SELECT ... ON CONFLICT as a join's ON without one.
    return (insert_ignoring_duplicates(session, ReaderMark.__table__)
            .from_select(["delivery_id", "mark"], select(new.c.delivery_id, new.c.mark).where(true()))
            .returning(ReaderMark.__table__.c.delivery_id, ReaderMark.__table__.c.mark))


@made_once
def _add_counts(session: Session):
    """Add the (edition, key, total, readers) rows given as the JSON parameter `rows` to their
    counters, making those not there yet."""
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[session.get_bind().dialect.name]
    table = EditionCount.__table__
    new = rows_table(session, bindparam("rows", type_=String),
                     {"edition_id": Integer(), "key": String(), "total": Integer(), "readers": Integer()})
    statement = insert(table).from_select(["edition_id", "key", "total", "readers"],
                                          select(new.c.edition_id, new.c.key, new.c.total, new.c.readers).where(true()))
    return statement.on_conflict_do_update(
        index_elements=[table.c.edition_id, table.c.key],
        set_={"total": table.c.total + statement.excluded.total,
              "readers": table.c.readers + statement.excluded.readers})


def _add_to_counts(session: Session, totals: Counter, readers: Counter) -> None:
    """Add to (or take from) the counters, per (edition, key): events to `total`, readers to
    `readers`. One statement with one JSON parameter, made once: as a VALUES list it was made
    anew for each batch (a cost of its own for a batch of one event, a reader's web unsubscribe).
    In the order of their keys, as every writer of the counters takes their row locks."""
    values = [{"edition_id": edition_id, "key": key, "total": totals[edition_id, key],
               "readers": readers[edition_id, key]}
              for edition_id, key in sorted(set(totals) | set(readers))
              if totals[edition_id, key] or readers[edition_id, key]]
    if values:
        session.execute(_add_counts(session), {"rows": json.dumps(values)})


def count_events(session: Session, rows: list[dict]) -> None:
    """Add newly kept events (rows with delivery_id, edition_id, event, kind, reason, url,
    occurred_at, audience) to their editions' counters."""
    rows = [row for row in rows if row.get("edition_id") is not None and row.get("delivery_id") is not None]
    if not rows:
        return
    started, positions = _edition_context(session, {row["edition_id"] for row in rows if row["event"] in TIMED},
                                          {row["edition_id"] for row in rows if row.get("url")})
    totals: Counter = Counter()
    marks: dict[tuple[int, str], tuple[int, str]] = {}  # (delivery, mark) -> (edition, key)
    for row in rows:
        started_at = started.get(row["edition_id"])
        for key, per_reader in _facts(row, started_at, positions.get(row["edition_id"], NO_LINKS)):
            totals[row["edition_id"], key] += 1
            if per_reader:
                marks[row["delivery_id"], _mark(key)] = (row["edition_id"], key)
    _add_to_counts(session, totals, _marked_first(session, marks))


class VerdictMoves:
    """Moves an edition's counts from the verdicts they were counted under to new ones, a page
    of deliveries at a time, without reading the rest of its events: each changed delivery's
    opens and clicks give the facts it had and has (only those under a maker differ), the
    reader marks of facts it lost are deleted and those of facts it gained inserted, in one
    statement each, and the sums are added to the counters once, at the end (`finish`)."""

    def __init__(self, session: Session, edition_id: int):
        self.session, self.edition_id = session, edition_id
        started, positions = _edition_context(session, {edition_id}, {edition_id})
        self.started_at, self.links = started.get(edition_id), positions[edition_id]
        self.totals: Counter = Counter()
        self.readers: Counter = Counter()

    def move(self, rows: list[dict]) -> None:
        """`rows`: every open and click of the deliveries of the edition where a maker changed,
        each with `was` (the maker it is counted under) and `audience` (its maker now)."""
        had: dict[tuple[int, str], str] = {}  # (delivery, mark) -> key
        has: dict[tuple[int, str], str] = {}
        for row in rows:
            if (row["was"] or "unknown") == row["audience"]:  # its facts stay, and keep their marks
                for key, per_reader in _facts(row, self.started_at, self.links):
                    if per_reader:
                        had[row["delivery_id"], _mark(key)] = has[row["delivery_id"], _mark(key)] = key
                continue
            for audience, sign, marks in ((row["was"], -1, had), (row["audience"], 1, has)):
                for key, per_reader in _facts({**row, "audience": audience}, self.started_at, self.links):
                    self.totals[self.edition_id, key] += sign
                    if per_reader:
                        marks[row["delivery_id"], _mark(key)] = key
        lost = [pair for pair in had if pair not in has]
        if lost:
            gone = rows_table(self.session, [{"delivery_id": d, "mark": m} for d, m in lost],
                              {"delivery_id": BigInteger(), "mark": String()})
            deleted = self.session.execute(
                delete(ReaderMark).where(tuple_(ReaderMark.delivery_id, ReaderMark.mark).in_(
                    select(gone.c.delivery_id, gone.c.mark)))
                .returning(ReaderMark.delivery_id, ReaderMark.mark)).all()
            for delivery_id, mark in deleted:
                self.readers[self.edition_id, had[delivery_id, mark]] -= 1
        gained = {pair: (self.edition_id, key) for pair, key in has.items() if pair not in had}
        self.readers.update(_marked_first(self.session, gained))

    def finish(self) -> None:
        _add_to_counts(self.session, self.totals, self.readers)
        # A fact no event has any more is no count (as a recount would leave it).
        self.session.execute(delete(EditionCount).where(EditionCount.edition_id == self.edition_id,
                                                        EditionCount.total <= 0))


def recount_edition(session: Session, edition_id: int) -> int:
    """Rebuild an edition's counts from its stored events (for events kept before counting
    existed, or after a repair); returns how many events were counted. Reads the events in
    pages, oldest first, as the webhook applied them."""
    from digest.store.models import Delivery, DeliveryEvent

    session.execute(delete(EditionCount).where(EditionCount.edition_id == edition_id))
    session.execute(delete(ReaderMark).where(ReaderMark.delivery_id.in_(
        select(Delivery.id).where(Delivery.edition_id == edition_id))))
    columns = (DeliveryEvent.id, DeliveryEvent.delivery_id, DeliveryEvent.edition_id, DeliveryEvent.event,
               DeliveryEvent.kind, DeliveryEvent.reason, DeliveryEvent.url, DeliveryEvent.occurred_at,
               DeliveryEvent.audience)
    counted, after = 0, 0
    while True:
        page = session.execute(select(*columns).where(DeliveryEvent.edition_id == edition_id,
                                                      DeliveryEvent.id > after)
                               .order_by(DeliveryEvent.id).limit(1000)).mappings().all()
        if not page:
            return counted
        count_events(session, [dict(row) for row in page])
        counted += len(page)
        after = page[-1]["id"]
