"""What a digest's variant holds beyond a reader's sections and format: the articles an alert
already brought them, listed under "Already sent to you" with the alert's local date. Read for a
whole slice in a fixed number of statements, whatever its readers. (Their "For you" list is
theirs alone, not a variant's: delivery/for_you.py.)"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.editions.render import DEFAULT_VARIANT, Variant
from digest.ledger.states import alerts_received
from digest.store.models import Edition, EditionItem, EditionKind


def alerted_articles(session: Session, edition: Edition, bounds: tuple[int, int]) -> dict[int, dict[int, str]]:
    """Per reader of the slice who received an alert carrying one of the edition's articles: those
    articles, each with the local date (ISO) its alert went out (the earliest, if two did)."""
    in_alerts = session.execute(
        select(Edition.id, Edition.started_at, EditionItem.article_id)
        .join(EditionItem, EditionItem.edition_id == Edition.id)
        .where(Edition.kind == EditionKind.ALERT, Edition.started_at.is_not(None),
               EditionItem.article_id.in_([item.article_id for item in edition.items]))
        .order_by(Edition.started_at)
    ).all()
    tz = get_settings().tz
    started: dict[int, str] = {}
    carried: dict[int, list[int]] = {}
    for alert_id, started_at, article_id in in_alerts:
        started[alert_id] = started_at.astimezone(tz).date().isoformat()
        carried.setdefault(alert_id, []).append(article_id)
    alerted: dict[int, dict[int, str]] = {}
    for subscriber_id, alert_id, key in alerts_received(session, list(carried), *bounds):
        # An alert's variant names the articles the reader got; no names: all of the alert's.
        got = Variant.from_key(key or DEFAULT_VARIANT.key).articles
        for article_id in carried[alert_id]:
            if not got or article_id in got:
                day = alerted.setdefault(subscriber_id, {}).setdefault(article_id, started[alert_id])
                alerted[subscriber_id][article_id] = min(day, started[alert_id])
    return alerted
