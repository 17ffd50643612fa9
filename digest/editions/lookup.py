"""Finding editions: one by id (NotFound when it does not exist), or the latest ones."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, lazyload

from digest.errors import NotFound
from digest.store.models import Edition, EditionKind


def get_edition(session: Session, edition_id: int, *, items: bool = True) -> Edition:
    """The edition; with items=False its row alone, without its items and their articles (what a
    send batch needs: its content comes from the stored render)."""
    if items:
        edition = session.get(Edition, edition_id)
    else:
        edition = session.execute(_ROW_ALONE, {"edition_id": edition_id}).scalar_one_or_none()
    if edition is None:
        raise NotFound(f"edition {edition_id} does not exist")
    return edition


# Made once: Session.get with an option builds and keys its statement on every call, which cost a
# send batch or an archive view a quarter of a millisecond.
_ROW_ALONE = select(Edition).where(Edition.id == bindparam("edition_id")).options(lazyload(Edition.items))


def list_editions(session: Session, limit: int = 50) -> list[Edition]:
    """The latest digests (alerts are listed by `digest alerts list`)."""
    return list(session.scalars(select(Edition).where(Edition.kind == EditionKind.DIGEST)
                                .order_by(Edition.period.desc()).limit(limit)))
