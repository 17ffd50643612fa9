"""Compose a period's draft edition from the articles published since the previous cutoff that
no edition has carried yet; a period with nothing to send is recorded as skipped, with why."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.editions.cadence import Cadence, Period
from digest.store.models import Article, Edition, EditionItem, EditionKind, EditionSkip, EditionStatus
from digest.store.upsert import insert_ignoring_duplicates


def previous_cutoff(session: Session, period: Period) -> dt.datetime | None:
    return session.scalar(
        select(Edition.cutoff_at).where(Edition.kind == EditionKind.DIGEST, Edition.period < period.date)
        .order_by(Edition.period.desc()).limit(1)
    )


def candidate_articles(session: Session, period: Period) -> list[Article]:
    """Articles published (or first seen: a feed may carry an article days after its date) since
    the previous edition's cutoff, up to this cutoff, that no edition carried (an alert does not
    count: its articles are in the next digest too). A first edition, and late arrivals, look
    back at most EDITION_MAX_ARTICLE_AGE_DAYS."""
    oldest = period.cutoff_at - dt.timedelta(days=get_settings().EDITION_MAX_ARTICLE_AGE_DAYS)
    since = previous_cutoff(session, period)
    query = select(Article).where(
        Article.published_at <= period.cutoff_at,
        Article.published_at > oldest,
        Article.id.not_in(select(EditionItem.article_id).join(Edition, Edition.id == EditionItem.edition_id)
                          .where(Edition.kind == EditionKind.DIGEST)),
        Article.back_catalogue.is_(False),
    )
    if since is not None:
        query = query.where(or_(Article.published_at > since, Article.created_at > since))
    return list(session.scalars(query))


def order_articles(articles: list[Article], section_order: list[str]) -> list[Article]:
    """Group by section in the configured order (unknown sections last), newest first within."""
    rank = {name.casefold(): position for position, name in enumerate(section_order)}
    return sorted(
        articles,
        key=lambda a: (rank.get((a.section or "").casefold(), len(rank)), (a.section or ""),
                       -a.published_at.timestamp(), a.id),
    )


def default_subject(period: Period) -> str:
    return f"Central Asia-Caucasus Analyst, {period.date.day} {period.date:%B %Y}"


def compose_edition(session: Session, period: Period) -> Edition | None:
    """The draft for `period`, created once. None, with the reason recorded, when it has no articles."""
    existing = session.scalar(select(Edition).where(Edition.period == period.date))
    if existing is not None:
        return existing
    articles = order_articles(candidate_articles(session, period), get_settings().SECTION_ORDER)
    if not articles:
        _record_skip(session, period, "no new articles were published since the previous edition's cutoff")
        return None
    now = utcnow()
    preheader = " · ".join(a.title for a in articles[:3])[:280]
    # Two ticks may compose at once: the unique period row decides which one made it.
    inserted = session.execute(
        insert_ignoring_duplicates(session, Edition).values(
            period=period.date, cutoff_at=period.cutoff_at, send_at=period.send_at,
            status="draft", subject=default_subject(period), preheader=preheader,
            intro="", created_at=now, updated_at=now,
        )
    ).rowcount
    edition = session.scalar(select(Edition).where(Edition.period == period.date))
    if inserted:
        # Articles that arrived late (polled after an earlier tick found none) end a skip.
        session.execute(delete(EditionSkip).where(EditionSkip.period == period.date))
        session.add_all(
            EditionItem(edition_id=edition.id, article_id=article.id, position=position)
            for position, article in enumerate(articles)
        )
        session.flush()
        session.refresh(edition)
    return edition


def _record_skip(session: Session, period: Period, reason: str) -> None:
    session.execute(insert_ignoring_duplicates(session, EditionSkip).values(
        period=period.date, reason=reason, recorded_at=utcnow()))


def compose_due_edition(session: Session, now: dt.datetime) -> Edition | None:
    """The beat tick's half that drafts: compose the newest period whose cutoff has passed.

    After an outage only the newest missed period is composed (once); its send time may have
    passed, and editors decide when it goes out. A period that a later edition, sent early,
    has overtaken is left alone: neither composed nor recorded as skipped."""
    due = Cadence.from_settings(get_settings()).latest_due(now)
    overtaken = session.scalar(select(Edition.id).where(Edition.kind == EditionKind.DIGEST, Edition.period > due.date,
                                                         Edition.status.in_(GONE_OUT)).limit(1))
    if overtaken is not None:
        return None
    return compose_edition(session, due)


# An edition in one of these states has gone out (or is going): its period is no longer "next".
GONE_OUT = (EditionStatus.SENDING, EditionStatus.PAUSED, EditionStatus.SENT, EditionStatus.CANCELLED)


def next_period(session: Session, now: dt.datetime) -> Period:
    """The first period still ahead whose edition has not gone out. An edition sent early ("Send
    now") leaves its period's send time ahead; the next edition is then the following period's."""
    cadence = Cadence.from_settings(get_settings())
    first = cadence.upcoming(now)[0]
    gone = set(session.scalars(select(Edition.period).where(Edition.kind == EditionKind.DIGEST,
                                                             Edition.period >= first.date,
                                                             Edition.status.in_(GONE_OUT))))
    return next(period for period in cadence.upcoming(now, len(gone) + 1) if period.date not in gone)


def compose_next_edition(session: Session, now: dt.datetime) -> Edition | None:
    """Compose the next period's draft now, before its cutoff (an editor's explicit request)."""
    upcoming = next_period(session, now)
    period = Period(date=upcoming.date, cutoff_at=min(now, upcoming.cutoff_at), send_at=upcoming.send_at)
    return compose_edition(session, period)
