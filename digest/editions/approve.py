"""Approval pins what will be sent: the hash of the rendered edition, who approved it, and when."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import bindparam, case, delete, null, select
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.editions.lookup import EditionRow, get_edition
from digest.editions.render import DEFAULT_VARIANT, RenderedEdition, edition_links, render_edition
from digest.errors import Conflict
from digest.store.models import Edition, EditionLink, EditionRender, EditionStatus
from digest.addresses import normalize_email


def approve_edition(session: Session, edition_id: int, approved_by: str,
                    now: dt.datetime | None = None) -> Edition:
    approver = normalize_email(approved_by, what="approver")
    edition = get_edition(session, edition_id)
    if edition.status != EditionStatus.DRAFT:
        raise Conflict(f"edition {edition_id} is {edition.status.value}; only a draft can be approved")
    if not edition.items:
        raise Conflict(f"edition {edition_id} has no articles")
    return pin_approval(session, edition, approver, now)


def pin_approval(session: Session, edition: Edition, approved_by: str, now: dt.datetime | None = None) -> Edition:
    """Render the edition, keep the render and its links, and pin its hash: what an approval does,
    for an editor's approval and an alert's release at the end of its hold alike."""
    rendered = render_edition(edition)
    session.execute(delete(EditionRender).where(EditionRender.edition_id == edition.id))
    store_render(session, edition.id, DEFAULT_VARIANT.key, rendered)
    store_links(session, edition)
    edition.approved_hash = rendered.content_hash
    edition.approved_by = approved_by
    edition.approved_at = now or utcnow()
    edition.status = EditionStatus.APPROVED
    return edition


def void_approval(edition: Edition, reason: str) -> None:
    """An approved edition whose content changed goes back to draft for a fresh approval."""
    edition.status = EditionStatus.DRAFT
    edition.approved_hash = edition.approved_by = edition.approved_at = None
    edition.note = reason


def store_render(session: Session, edition_id: int, variant_key: str, rendered: RenderedEdition) -> None:
    session.add(EditionRender(edition_id=edition_id, variant=variant_key, subject=rendered.subject,
                              html=rendered.html, text=rendered.text, content_hash=rendered.content_hash))


def store_links(session: Session, edition: Edition) -> None:
    """The edition's link -> article map, rewritten with each approval (the content it maps is
    pinned by the approved hash from then on)."""
    session.execute(delete(EditionLink).where(EditionLink.edition_id == edition.id))
    session.add_all(EditionLink(edition_id=edition.id, **link) for link in edition_links(edition))


def approved_render(session: Session, edition: Edition | EditionRow, variant_key: str = DEFAULT_VARIANT.key) -> RenderedEdition:
    """A variant's parts exactly as pinned; refuses if they no longer match their hash (and, for
    the approved variant, the approved hash)."""
    # Read once per send batch: its columns through the session's connection, by a statement
    # made once (the ORM's loading of the row and building the statement cost more than reading it).
    # A render this process verified is not read again: the statement sends the parts only when
    # their hash is not the one it knows (some 150 KB a batch to read, decode and hash).
    session.flush()
    key = (edition.id, variant_key)
    known = _verified.get(key)
    stored = session.connection().execute(_render_statement(), {
        "edition": edition.id, "variant": variant_key, "known": known.content_hash if known else ""}).first()
    if stored is None:
        raise Conflict(f"edition {edition.id} has no render of variant {variant_key!r}")
    content_hash, subject, html, text = stored
    if subject is None:  # the parts were left out: their hash is the one verified
        rendered = known.rendered
    else:
        rendered = RenderedEdition(subject=subject, html=html, text=text)
        if rendered.content_hash != content_hash:
            raise Conflict(f"edition {edition.id} ({variant_key}) no longer matches its stored hash")
        if len(_verified) >= _VERIFIED_KEPT:
            _verified.clear()
        _verified[key] = _Verified(rendered, content_hash)
    expected = edition.approved_hash if variant_key == DEFAULT_VARIANT.key else content_hash
    if content_hash != expected:
        raise Conflict(f"edition {edition.id} ({variant_key}) no longer matches what was approved")
    return rendered


class _Verified(NamedTuple):
    rendered: RenderedEdition
    content_hash: str


# The renders this process read and verified, by (edition, variant): the variants of the
# editions being sent, a few at a time.
_verified: dict[tuple[int, str], _Verified] = {}
_VERIFIED_KEPT = 32


@lru_cache(maxsize=1)
def _render_statement():
    """The render's hash, and its parts unless the hash is `known` (then NULLs)."""
    known = EditionRender.content_hash == bindparam("known", type_=EditionRender.content_hash.type)
    return (select(EditionRender.content_hash,
                   *(case((known, null()), else_=part) for part in (EditionRender.subject, EditionRender.html,
                                                                       EditionRender.text)))
            .where(EditionRender.edition_id == bindparam("edition"), EditionRender.variant == bindparam("variant")))
