"""What extraction read from a feed's articles, for an editor to check without the database:
authors (place, affiliation), issue date, section, tags and the lead's length, per article."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.feeds.registry import get_feed
from digest.feeds.sanitize import html_to_text
from digest.store.models import Article


@dataclass(frozen=True)
class ArticleReading:
    article_id: int
    title: str
    url: str
    published_at: dt.datetime
    authors: str | None
    byline: str | None
    place: str | None
    affiliation: str | None
    issue_date: dt.date | None
    section: str | None
    tags: list[str]
    lead_words: int
    lead_chars: int
    back_catalogue: bool


def feed_readings(session: Session, feed_id: int, limit: int = 50) -> list[ArticleReading]:
    """The feed's newest `limit` articles as extraction read them; NotFound for no such feed."""
    feed = get_feed(session, feed_id)
    query = (select(Article).where(Article.feed_id == feed.id)
             .order_by(Article.published_at.desc(), Article.id.desc()).limit(limit))
    readings = []
    for article in session.scalars(query):
        lead = html_to_text(article.summary_html)
        structure = article.structure or {}
        readings.append(ArticleReading(
            article_id=article.id, title=article.title, url=article.url, published_at=article.published_at,
            authors=article.authors, byline=structure.get("byline"), place=structure.get("place"),
            affiliation=structure.get("affiliation"),
            issue_date=article.issue_date, section=article.section or feed.section, tags=list(article.tags or []),
            lead_words=len(lead.split()), lead_chars=len(lead), back_catalogue=article.back_catalogue))
    return readings
