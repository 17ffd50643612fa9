"""Editors adjust a draft: subject, preheader, intro, and which articles in what order.

Any change to an approved edition returns it to draft: what is sent must be what was approved."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.editions.approve import void_approval
from digest.editions.lookup import get_edition
from digest.errors import Conflict, InputError, NotFound
from digest.store.models import Article, Edition, EditionItem, EditionKind, EditionStatus

MAX_SUBJECT = 200
MAX_PREHEADER = 250
MAX_INTRO = 10_000
EDITABLE = (EditionStatus.DRAFT, EditionStatus.APPROVED)


def _editable(session: Session, edition_id: int, articles: bool = False) -> Edition:
    edition = get_edition(session, edition_id)
    if edition.status not in EDITABLE:
        raise Conflict(f"edition {edition_id} is {edition.status.value}; it can no longer be changed")
    if articles and edition.kind == EditionKind.ALERT:
        # Each article of an alert is there for the topics it was filed under when it came in.
        raise Conflict(f"alert {edition_id}: its articles are the new ones on followed topics; "
                       "cancel it rather than change them")
    return edition


def _changed(edition: Edition, what: str) -> None:
    edition.updated_at = utcnow()
    if edition.status == EditionStatus.APPROVED:
        void_approval(edition, f"the {what} changed after approval; approve it again")


def update_text(session: Session, edition_id: int, *, subject: str | None = None,
                preheader: str | None = None, intro: str | None = None) -> Edition:
    """Set any of subject, preheader and intro (Markdown); validated before anything changes."""
    edition = _editable(session, edition_id)
    changes = {}
    if subject is not None:
        subject = " ".join(subject.split())
        if not subject or len(subject) > MAX_SUBJECT:
            raise InputError(f"subject must be 1 to {MAX_SUBJECT} characters on one line")
        changes["subject"] = subject
    if preheader is not None:
        preheader = " ".join(preheader.split())
        if len(preheader) > MAX_PREHEADER:
            raise InputError(f"preheader must be at most {MAX_PREHEADER} characters")
        changes["preheader"] = preheader
    if intro is not None:
        intro = intro.replace("\r\n", "\n").strip()
        if len(intro) > MAX_INTRO:
            raise InputError(f"intro must be at most {MAX_INTRO} characters")
        changes["intro"] = intro
    changed = [name for name, value in changes.items() if getattr(edition, name) != value]
    for name in changed:
        setattr(edition, name, changes[name])
    if changed:
        _changed(edition, " and ".join(changed))
    return edition


def remove_article(session: Session, edition_id: int, article_id: int) -> Edition:
    edition = _editable(session, edition_id, articles=True)
    item = next((i for i in edition.items if i.article_id == article_id), None)
    if item is None:
        raise NotFound(f"article {article_id} is not in edition {edition_id}")
    if len(edition.items) == 1:
        raise Conflict(f"article {article_id} is the last one in edition {edition_id}; an edition needs one")
    edition.items.remove(item)
    _renumber(edition)
    _changed(edition, "articles")
    return edition


def add_article(session: Session, edition_id: int, article_id: int, position: int | None = None) -> Edition:
    edition = _editable(session, edition_id, articles=True)
    if session.get(Article, article_id) is None:
        raise NotFound(f"article {article_id} does not exist")
    elsewhere = session.scalar(select(EditionItem.edition_id).where(EditionItem.article_id == article_id))
    if elsewhere is not None:
        raise Conflict(f"article {article_id} is already in edition {elsewhere}")
    item = EditionItem(article_id=article_id, position=0)
    edition.items.insert(_position(edition, position, extra=1), item)
    _renumber(edition)
    _changed(edition, "articles")
    return edition


def move_article(session: Session, edition_id: int, article_id: int, position: int) -> Edition:
    """Move an article to `position` (1 = first)."""
    edition = _editable(session, edition_id)
    item = next((i for i in edition.items if i.article_id == article_id), None)
    if item is None:
        raise NotFound(f"article {article_id} is not in edition {edition_id}")
    target = _position(edition, position, extra=0)
    edition.items.remove(item)
    edition.items.insert(target, item)
    _renumber(edition)
    _changed(edition, "order of articles")
    return edition


def _position(edition: Edition, position: int | None, extra: int) -> int:
    count = len(edition.items) + extra
    if position is None:
        return len(edition.items)
    if not 1 <= position <= count:
        raise InputError(f"position {position} is outside 1..{count}")
    return position - 1


def _renumber(edition: Edition) -> None:
    # Positions are rewritten as 0..n-1; the unique key is (edition, article), not position.
    for index, item in enumerate(edition.items):
        item.position = index


def recent_articles(session: Session, query: str = "", limit: int = 20) -> list[Article]:
    """Articles to add, newest first, optionally matching `query` in the title."""
    statement = select(Article).order_by(Article.published_at.desc()).limit(limit)
    if query.strip():
        statement = statement.where(func.lower(Article.title).contains(query.strip().lower()))
    return list(session.scalars(statement))
