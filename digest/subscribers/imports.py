"""CSV imports run by a worker: an uploaded file is kept as a row (SubscriberImport), a worker
imports it (task `import_subscribers`), recording its progress in the same transaction as each
batch; the subscribers page, the API and the CLI read that progress through import_progress.

A run claims the import by raising its `attempt`; each batch's progress is written only while
that number is still the latest, so a message delivered again (its worker killed) resumes after
the last committed batch and the counts stay exact, and an older run still going stops."""

from __future__ import annotations

import io
import logging
from functools import partial

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.errors import InputError, NotFound
from digest.store.db import unit_of_work
from digest.store.models import ImportState, SubscriberImport
from digest.subscribers.csv_import import ImportReport, import_subscribers

log = logging.getLogger(__name__)
# Bad rows kept with their lines and reasons; the rest are counted (`skipped`).
PROBLEMS_KEPT = 1_000
UNFINISHED = (ImportState.QUEUED, ImportState.RUNNING)


class ImportTakenOver(Exception):
    """A later run of the same import has claimed it: this one stops, its batch rolled back."""


def keep_upload(session: Session, data: bytes, *, what: str, actor: str) -> int:
    """Keep an uploaded CSV file for a worker to import; its import's id."""
    limit = get_settings().IMPORT_MAX_BYTES
    if not data:
        raise InputError(f"{what} is empty: choose a CSV file to import")
    if len(data) > limit:
        raise InputError(f"{what} is larger than an import takes ({limit} bytes)")
    upload = SubscriberImport(what=what[:300], actor=actor[:100], data=data, lines=data.count(b"\n") + (not data.endswith(b"\n")),
                              problems=[])
    session.add(upload)
    session.flush()
    return upload.id


def claim_import(session: Session, import_id: int) -> tuple[int, int] | None:
    """Start or resume an import: (this run's attempt, the last line already imported); None if
    it is finished or gone."""
    claimed = session.execute(
        update(SubscriberImport)
        .where(SubscriberImport.id == import_id, SubscriberImport.state.in_(UNFINISHED))
        .values(attempt=SubscriberImport.attempt + 1, state=ImportState.RUNNING, started_at=utcnow())
    ).rowcount
    if not claimed:
        return None
    return tuple(session.execute(select(SubscriberImport.attempt, SubscriberImport.through_line)
                                 .where(SubscriberImport.id == import_id)).one())


def run_import(import_id: int) -> ImportState | None:
    """Import a kept file (or the rest of it), batch by batch; its final state, or None if
    there was nothing to do (finished already, gone, or taken over by a later run)."""
    with unit_of_work() as session:
        claimed = claim_import(session, import_id)
        if claimed is None:
            return None
        attempt, after_line = claimed
        what, actor, data = session.execute(select(SubscriberImport.what, SubscriberImport.actor,
                                                   SubscriberImport.data).where(SubscriberImport.id == import_id)).one()
    record = partial(_record_progress, import_id=import_id, attempt=attempt)
    try:
        with unit_of_work() as session:
            import_subscribers(session, io.BytesIO(data), what=what, actor=actor, after_line=after_line,
                               record=record)
            _finish(session, import_id, attempt, ImportState.DONE)
    except ImportTakenOver:
        log.info("import %s was taken over by a later run", import_id)
        return None
    except InputError as exc:  # the whole file refused (no email column, UTF-16): nothing to retry
        _fail(import_id, attempt, str(exc))
        return ImportState.FAILED
    except Exception as exc:
        _fail(import_id, attempt, f"the import stopped: {type(exc).__name__}: {exc}")
        raise
    return ImportState.DONE


def _record_progress(session: Session, found: ImportReport, through: int, *, import_id: int, attempt: int) -> None:
    """In a batch's transaction: add what its lines found to the import's counts."""
    kept = session.execute(select(SubscriberImport.problems).where(
        SubscriberImport.id == import_id, SubscriberImport.attempt == attempt).with_for_update()).scalar_one_or_none()
    if kept is None:
        raise ImportTakenOver(import_id)
    room = max(0, PROBLEMS_KEPT - len(kept))
    problems = kept + [{"line": p.line, "reason": p.reason} for p in found.problems[:room]]
    session.execute(update(SubscriberImport).where(SubscriberImport.id == import_id).values(
        through_line=through, rows=SubscriberImport.rows + found.rows,
        created=SubscriberImport.created + found.created, updated=SubscriberImport.updated + found.updated,
        unchanged=SubscriberImport.unchanged + found.unchanged,
        skipped=SubscriberImport.skipped + found.skipped, problems=problems))


def _finish(session: Session, import_id: int, attempt: int, state: ImportState, error: str | None = None) -> None:
    finished = session.execute(update(SubscriberImport).where(
        SubscriberImport.id == import_id, SubscriberImport.attempt == attempt, SubscriberImport.state.in_(UNFINISHED)
    ).values(state=state, error=error, finished_at=utcnow())).rowcount
    if not finished:
        raise ImportTakenOver(import_id)


def _fail(import_id: int, attempt: int, error: str) -> None:
    try:
        with unit_of_work() as session:
            _finish(session, import_id, attempt, ImportState.FAILED, error[:2000])
    except ImportTakenOver:
        pass


def import_progress(session: Session, import_id: int) -> dict:
    """Where an import stands: what the page, the API and the CLI show."""
    row = session.execute(select(
        SubscriberImport.id, SubscriberImport.what, SubscriberImport.state, SubscriberImport.lines,
        SubscriberImport.through_line, SubscriberImport.rows, SubscriberImport.created, SubscriberImport.updated,
        SubscriberImport.unchanged, SubscriberImport.skipped, SubscriberImport.problems, SubscriberImport.error,
        SubscriberImport.created_at, SubscriberImport.finished_at).where(SubscriberImport.id == import_id)).one_or_none()
    if row is None:
        raise NotFound(f"import {import_id} does not exist")
    finished = row.state in (ImportState.DONE, ImportState.FAILED)
    return {"id": row.id, "file": row.what, "state": row.state.value, "finished": finished,
            "lines": row.lines, "lines_done": row.lines if row.state == ImportState.DONE else row.through_line,
            "rows": row.rows, "created": row.created, "updated": row.updated, "unchanged": row.unchanged,
            "skipped": row.skipped, "problems": sorted(row.problems, key=lambda p: p["line"]),
            "problems_not_listed": row.skipped - len(row.problems), "error": row.error,
            "queued_at": row.created_at.isoformat(),
            "finished_at": row.finished_at.isoformat() if row.finished_at else None}


def recent_imports(session: Session, limit: int = 5) -> list[dict]:
    """The latest imports, newest first: what the subscribers page links to."""
    rows = session.execute(select(SubscriberImport.id, SubscriberImport.what, SubscriberImport.state,
                                  SubscriberImport.created_at)
                           .order_by(SubscriberImport.id.desc()).limit(limit)).all()
    return [{"id": r.id, "file": r.what, "state": r.state.value, "queued_at": r.created_at} for r in rows]
