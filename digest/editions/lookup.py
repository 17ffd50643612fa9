"""Finding editions: one by id (NotFound when it does not exist), or the latest ones."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, lazyload, selectinload

from digest.errors import NotFound
from digest.store.models import Article, Edition, EditionItem, EditionKind, EditionStatus


def get_edition(session: Session, edition_id: int, *, items: bool = True, article_texts: bool = True) -> Edition:
    """The edition; with items=False its row alone, without its items and their articles (what a
    send batch needs: its content comes from the stored render); with article_texts=False, its
    items and their articles without the articles' texts, loaded only if something renders them
    (what planning a slice needs: the articles' ids and sections, and a render only for a variant
    not met before)."""
    if not items:
        edition = session.execute(_ROW_ALONE, {"edition_id": edition_id}).scalar_one_or_none()
    elif not article_texts:
        edition = session.execute(_WITHOUT_TEXTS, {"edition_id": edition_id}).scalar_one_or_none()
    else:
        edition = session.get(Edition, edition_id)
    if edition is None:
        raise NotFound(f"edition {edition_id} does not exist")
    return edition


class EditionRow(NamedTuple):
    """The columns of an edition's row that a send batch reads, by their Edition names: what
    the batch's outgoing message is made from (digest.delivery.outgoing) takes either."""
    id: int
    kind: EditionKind
    status: EditionStatus
    approved_hash: str | None
    send_at: dt.datetime
    provider_batch_id: str | None


def edition_row(session: Session, edition_id: int) -> EditionRow:
    """The edition's columns a send batch reads, through the session's connection: 0.23 ms of a
    batch's CPU, where loading the ORM object (its every column, the identity map) took 0.37 ms."""
    row = session.connection().execute(_COLUMNS_TO_SEND, {"edition_id": edition_id}).first()
    if row is None:
        raise NotFound(f"edition {edition_id} does not exist")
    return EditionRow(*row)


_COLUMNS_TO_SEND = select(*(getattr(Edition, name) for name in EditionRow._fields)).where(
    Edition.id == bindparam("edition_id"))
# Made once: Session.get with an option builds and keys its statement on every call, which cost a
# send batch or an archive view a quarter of a millisecond.
_ROW_ALONE = select(Edition).where(Edition.id == bindparam("edition_id")).options(lazyload(Edition.items))
# An article's texts are most of its row (the whole article, its summary and their structure):
# twelve of them read for every slice of a send, and parsed, cost each slice about 5 ms.
_WITHOUT_TEXTS = select(Edition).where(Edition.id == bindparam("edition_id")).options(
    selectinload(Edition.items).joinedload(EditionItem.article)
    .defer(Article.summary_html).defer(Article.content_html).defer(Article.structure))


def list_editions(session: Session, limit: int = 50) -> list[Edition]:
    """The latest digests (alerts are listed by `digest alerts list`)."""
    return list(session.scalars(select(Edition).where(Edition.kind == EditionKind.DIGEST)
                                .order_by(Edition.period.desc()).limit(limit)))
