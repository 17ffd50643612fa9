"""What the dashboard shows: the next period, the current draft, held alerts with the end of their
hold, editions scheduled and sending, recent editions with their delivery figures (one grouped
query for all of them), and the topics with the most followers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.alerts.listing import held_alerts
from digest.config import get_settings
from digest.delivery.progress import send_progress
from digest.editions.compose import next_period
from digest.ledger.states import counts_by_edition
from digest.reports.charts import percent
from digest.store.models import Edition, EditionKind, EditionSkip, EditionStatus
from digest.topics.admin import list_topics
from digest.web.trend_view import trend_charts

RECENT = 10
TOP_TOPICS = 10


def dashboard_context(session: Session, now: dt.datetime) -> dict:
    period = next_period(session, now)

    def editions(*statuses: EditionStatus, order=Edition.send_at, limit: int | None = None) -> list[Edition]:
        # The biweekly editions; alerts have a list of their own.
        query = select(Edition).where(Edition.kind == EditionKind.DIGEST, Edition.status.in_(statuses)).order_by(order)
        return list(session.scalars(query.limit(limit) if limit else query))

    drafts = editions(EditionStatus.DRAFT, order=Edition.period.desc())
    sending = editions(EditionStatus.SENDING, EditionStatus.PAUSED)
    recent = editions(EditionStatus.SENT, EditionStatus.CANCELLED, order=Edition.period.desc(), limit=RECENT)
    figures = counts_by_edition(session, [edition.id for edition in recent])
    # A skip matters until a later edition exists: a period skipped because its articles went
    # out early, in the edition after it, is no news.
    newest = session.scalar(select(func.max(Edition.period)).where(Edition.kind == EditionKind.DIGEST))
    recent_rows = [(edition, figures[edition.id]) for edition in recent]
    skip = session.scalar(select(EditionSkip).order_by(EditionSkip.period.desc()).limit(1))
    if skip is not None and newest is not None and skip.period < newest:
        skip = None
    return {
        "period": period,
        "draft": drafts[0] if drafts else None,
        "older_drafts": drafts[1:],
        "scheduled": editions(EditionStatus.APPROVED),
        "sending": [(edition, send_progress(session, edition, now)) for edition in sending],
        "recent": recent_rows,
        "skip": skip,
        "last_sent": next((edition for edition, _ in recent_rows if edition.sent_at), None),
        "percent": percent,
        "held_alerts": held_alerts(session, now),
        "alert_hold_minutes": get_settings().ALERT_HOLD_MINUTES,
        "top_topics": sorted((row for row in list_topics(session) if row.followers),
                             key=lambda row: (-row.followers, row.name.casefold()))[:TOP_TOPICS],
        # Trends across the latest editions, with the complaint-rate warning.
        **trend_charts(session, get_settings().REPORT_TREND_EDITIONS),
    }
