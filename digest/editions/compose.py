"""Compose a period's draft edition from the articles no edition has carried yet."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.editions.cadence import Cadence, Period
from digest.store.models import Article, Edition, EditionItem
from digest.store.upsert import insert_ignoring_duplicates

# A biweekly digest announces recent work: older articles (a new feed's back catalogue) stay out.
MAX_ARTICLE_AGE = dt.timedelta(days=28)


def candidate_articles(session: Session, period: Period) -> list[Article]:
    already_sent = select(EditionItem.article_id)
    query = select(Article).where(
        Article.published_at <= period.cutoff_at,
        Article.published_at > period.cutoff_at - MAX_ARTICLE_AGE,
        Article.id.not_in(already_sent),
    )
    return list(session.scalars(query))


def order_articles(articles: list[Article], section_order: list[str]) -> list[Article]:
    """Group by section in the configured order (unknown sections last), newest first within."""
    rank = {name.casefold(): position for position, name in enumerate(section_order)}
    return sorted(
        articles,
        key=lambda a: (rank.get((a.section or "").casefold(), len(rank)), (a.section or ""),
                       -a.published_at.timestamp(), a.id),
    )


def default_subject(period: Period, tz) -> str:
    local = period.send_at.astimezone(tz)
    return f"Central Asia-Caucasus Analyst, {local.day} {local:%B %Y}"


def compose_edition(session: Session, period: Period) -> Edition | None:
    """The draft for `period`, created once. None when there is nothing to send (no articles)."""
    existing = session.scalar(select(Edition).where(Edition.period == period.date))
    if existing is not None:
        return existing
    settings = get_settings()
    articles = order_articles(candidate_articles(session, period), settings.SECTION_ORDER)
    if not articles:
        return None
    now = utcnow()
    preheader = " · ".join(a.title for a in articles[:3])[:280]
    # Two ticks may compose at once: the unique period row decides which one made it.
    inserted = session.execute(
        insert_ignoring_duplicates(session, Edition).values(
            period=period.date, cutoff_at=period.cutoff_at, send_at=period.send_at,
            status="draft", subject=default_subject(period, settings.tz), preheader=preheader,
            intro="", created_at=now, updated_at=now,
        )
    ).rowcount
    edition = session.scalar(select(Edition).where(Edition.period == period.date))
    if inserted:
        session.add_all(
            EditionItem(edition_id=edition.id, article_id=article.id, position=position)
            for position, article in enumerate(articles)
        )
        session.flush()
        session.refresh(edition)
    return edition


def compose_due_edition(session: Session, now: dt.datetime) -> Edition | None:
    """The beat tick's half that drafts: compose the newest period whose cutoff has passed."""
    # After an outage only the newest missed period is composed (once); its send time may
    # have passed, and editors decide when it goes out.
    return compose_edition(session, Cadence.from_settings(get_settings()).latest_due(now))


def compose_next_edition(session: Session, now: dt.datetime) -> Edition | None:
    """Compose the upcoming period's draft now, before its cutoff (an editor's explicit request)."""
    upcoming = Cadence.from_settings(get_settings()).upcoming(now)[0]
    period = Period(date=upcoming.date, cutoff_at=min(now, upcoming.cutoff_at), send_at=upcoming.send_at)
    return compose_edition(session, period)
