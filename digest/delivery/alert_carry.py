"""The articles the daily cap held readers back from (ALERT_MAX_PER_DAY), owed to them until their
first alert on a later local day or a digest brings them: written, read and cleared here, by the
slice that decides, in its own transaction (and, for an alert, its turn on the block of readers).
Each write or clear is one statement whatever the number of readers: the (reader, article) pairs
travel as one parameter, as a batch's members do."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

from sqlalchemy import delete, func, literal, select, true, tuple_
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.store.models import AlertCarry, IdArray
from digest.store.upsert import insert_ignoring_duplicates
from digest.subscribers.follows import start_of_day


def start_of_today(now: dt.datetime) -> dt.datetime:
    """Local midnight (PUBLICATION_TZ) of the day `now` falls on, in UTC: where the cap's day begins."""
    return start_of_day(now.astimezone(get_settings().tz).date())


def carry_over(session: Session, alert_id: int, owed: Iterable[tuple[int, int]], now: dt.datetime) -> None:
    """Remember that these readers were held back from these articles (reader id, article id); a
    pair already owed keeps its first date."""
    pairs = _pairs(session, owed)
    if pairs is None:
        return
    carries = insert_ignoring_duplicates(session, AlertCarry).from_select(
        ["subscriber_id", "article_id", "alert_id", "created_at"],
        select(pairs.c.subscriber_id, pairs.c.article_id, literal(alert_id), literal(now, AlertCarry.created_at.type))
        .where(true()))  # SQLite reads ON CONFLICT after a SELECT without WHERE as a join's ON
    session.execute(carries)


def clear_carried(session: Session, delivered: Iterable[tuple[int, int]]) -> None:
    """These readers have been given these articles (planned in an alert or a digest): owed no more."""
    pairs = _pairs(session, delivered)
    if pairs is not None:
        session.execute(delete(AlertCarry).where(tuple_(AlertCarry.subscriber_id, AlertCarry.article_id).in_(
            select(pairs.c.subscriber_id, pairs.c.article_id))), execution_options={"synchronize_session": False})


def owed_articles(session: Session, before: dt.datetime) -> list[int]:
    """The articles owed to someone since before `before` (the start of a day)."""
    return list(session.scalars(select(AlertCarry.article_id).where(AlertCarry.created_at < before).distinct()))


def owed_in_slice(session: Session, article_ids: list[int], bounds: tuple[int, int]) -> dict[int, set[int]]:
    """Of these articles, those owed to each reader of the slice `bounds` who is owed any."""
    owed: dict[int, set[int]] = {}
    if not article_ids:
        return owed
    for subscriber_id, article_id in session.connection().execute(
            select(AlertCarry.subscriber_id, AlertCarry.article_id)
            .where(AlertCarry.subscriber_id.between(*bounds), AlertCarry.article_id.in_(article_ids))):
        owed.setdefault(subscriber_id, set()).add(article_id)
    return owed


def _pairs(session: Session, pairs: Iterable[tuple[int, int]]):
    """(subscriber_id, article_id) rows from one parameter: two arrays unnested side by side on
    PostgreSQL, a JSON list taken apart by json_each on SQLite. None when there are none."""
    pairs = list(pairs)
    if not pairs:
        return None
    if session.get_bind().dialect.name == "postgresql":
        # Each array sent as one text (IdArray): a list parameter is adapted element by element in
        # Python (a fifth of this process's CPU on a capped alert).
        readers, articles = (literal([pair[side] for pair in pairs], IdArray()) for side in (0, 1))
        return func.unnest(readers, articles).table_valued("subscriber_id", "article_id").render_derived("pairs")
    each = func.json_each(json.dumps(pairs)).table_valued("value")
    return select(func.json_extract(each.c.value, "$[0]").label("subscriber_id"),
                  func.json_extract(each.c.value, "$[1]").label("article_id")).subquery("pairs")
