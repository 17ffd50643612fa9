"""Editor accounts: people who preview and approve editions. Passwords are kept as argon2 hashes."""

import datetime as dt
import hashlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import and_, case, delete, func, literal, or_, select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.errors import Conflict, InputError, NotFound, UserError
from digest.store.models import AuditEntry, Editor, UTCDateTime
from digest.addresses import normalize_email

ROLES = ("editor", "publisher")
MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()


def add_editor(session: Session, email: str, password: str, role: str = "editor") -> Editor:
    address = normalize_email(email, what="editor email")
    if role not in ROLES:
        raise InputError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(Editor.id).where(Editor.email == address)) is not None:
        raise Conflict(f"editor {address} already exists")
    editor = Editor(email=address, password_hash=_hasher.hash(password), role=role)
    session.add(editor)
    session.flush()
    return editor


class LoginRefused(InputError):
    """Wrong address or password, or a locked account; the message never says which."""


class LoginsBusy(UserError):
    """LOGIN_CONCURRENT_CHECKS password checks were running and none ended within
    CHECK_WAIT_SECONDS; nothing was checked. Ask again after `retry_after` seconds."""

    retry_after = 5


# How long a login waits for a password check's turn. Short: a waiting login holds one of the
# web process's threads, which every other page needs too.
CHECK_WAIT_SECONDS = 2.0


@lru_cache
def _check_slots(size: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(size)


@contextmanager
def _password_check() -> Iterator[None]:
    """A turn to check a password: each takes argon2's 64 MiB while it runs, so a crowd of logins
    is let through LOGIN_CONCURRENT_CHECKS at a time, not all at once."""
    slots = _check_slots(get_settings().LOGIN_CONCURRENT_CHECKS)
    if not slots.acquire(timeout=CHECK_WAIT_SECONDS):
        raise LoginsBusy("too many logins at once; please try again in a moment")
    try:
        yield
    finally:
        slots.release()


# Verified against when the address is unknown, so both answers take the same time.
_DUMMY_HASH = _hasher.hash("not a real password, only a timing guard")


def authenticate(session: Session, email: str, password: str, now: dt.datetime | None = None) -> Editor:
    """The editor with these credentials; LoginRefused otherwise. LOGIN_MAX_FAILURES refusals
    within LOGIN_LOCKOUT_MINUTES lock the account for LOGIN_LOCKOUT_MINUTES, even to the right
    password. Every answer costs exactly one password hash check, whatever the reason, so the
    time taken tells nothing about the account. LoginsBusy when no check could start."""
    with _password_check():
        return _authenticate(session, email, password, now or utcnow())


def _authenticate(session: Session, email: str, password: str, now: dt.datetime) -> Editor:
    refused = LoginRefused("that email and password do not match an editor account, or the account "
                           "is locked for a while after repeated failures")
    try:
        address = normalize_email(email, what="email")
    except InputError:
        _verify(_DUMMY_HASH, password)
        raise refused from None
    editor = session.scalar(select(Editor).where(Editor.email == address))
    if editor is None:
        _verify(_DUMMY_HASH, password)
        raise refused
    if _verify(editor.password_hash, password) and _clear_failures(session, editor.id, now):
        session.refresh(editor)
        if _hasher.check_needs_rehash(editor.password_hash):
            editor.password_hash = _hasher.hash(password)
        return editor
    _count_failure(session, editor.id, now)
    raise refused


def _unlocked(now: dt.datetime):
    return or_(Editor.locked_until.is_(None), Editor.locked_until <= now)


def _clear_failures(session: Session, editor_id: int, now: dt.datetime) -> bool:
    """Let the right password in unless a lock stands, in one UPDATE: a lock set by a parallel
    wrong guess a moment ago is seen, never overwritten."""
    cleared = session.execute(update(Editor).where(Editor.id == editor_id, _unlocked(now))
                              .values(failed_logins=0, failures_since=None, locked_until=None)
                              .execution_options(synchronize_session=False))
    return cleared.rowcount == 1


def _count_failure(session: Session, editor_id: int, now: dt.datetime) -> None:
    """Count a refusal and lock the account at the limit, in one UPDATE (no read-modify-write
    that parallel guesses could race). SET expressions see the row as it was, so `count` is the
    new count. A refusal while locked counts but never extends the lock."""
    settings = get_settings()
    window = dt.timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    started, lock_end = literal(now, UTCDateTime()), literal(now + window, UTCDateTime())
    in_window = and_(Editor.failures_since.is_not(None), Editor.failures_since > now - window)
    count = case((in_window, Editor.failed_logins + 1), else_=1)
    session.execute(update(Editor).where(Editor.id == editor_id).values(
        failed_logins=count,
        failures_since=case((in_window, Editor.failures_since), else_=started),
        locked_until=case((and_(_unlocked(now), count >= settings.LOGIN_MAX_FAILURES), lock_end),
                          else_=Editor.locked_until),
    ).execution_options(synchronize_session=False))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def issue_api_token(session: Session, email: str, *, by: str | None = None, source: str = "cli") -> str:
    """A new API token for the editor (replacing any earlier one); shown once, stored hashed.
    Audited when `by` names who asked for it."""
    address = normalize_email(email, what="editor email")
    editor = session.scalar(select(Editor).where(Editor.email == address))
    if editor is None:
        raise NotFound(f"editor {address} does not exist")
    token = "dgt_" + secrets.token_urlsafe(32)
    editor.api_token_hash = token_hash(token)
    if by is not None:
        _audit(session, "token", editor, by=by, source=source)
    return token


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def editor_for_token(session: Session, token: str) -> Editor | None:
    return session.scalar(select(Editor).where(Editor.api_token_hash == token_hash(token)))


def end_sessions(session: Session, editor_id: int) -> None:
    """End every session of the editor, on every browser: their cookies' signatures carry the
    old generation. One UPDATE, so two logouts at once both count."""
    session.execute(update(Editor).where(Editor.id == editor_id)
                    .values(session_generation=Editor.session_generation + 1)
                    .execution_options(synchronize_session=False))


def list_editors(session: Session) -> list[Editor]:
    return list(session.scalars(select(Editor).order_by(Editor.email)))


def get_editor(session: Session, email: str) -> Editor:
    address = normalize_email(email, what="editor email")
    editor = session.scalar(select(Editor).where(Editor.email == address))
    if editor is None:
        raise NotFound(f"editor {address} does not exist")
    return editor


def set_password(session: Session, email: str, password: str, *, by: str, source: str) -> Editor:
    """A new password (which ends the editor's sessions: their signature covers the hash) and
    a lifted lock-out."""
    editor = get_editor(session, email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    editor.password_hash = _hasher.hash(password)
    editor.failed_logins, editor.failures_since, editor.locked_until = 0, None, None
    editor.session_generation += 1
    _audit(session, "passwd", editor, by=by, source=source)
    return editor


def remove_editor(session: Session, email: str, *, by: str, source: str) -> None:
    """Remove an account (its sessions and API token die with it); the last publisher stays, or
    nobody could approve an edition or manage accounts from the web again. Two publishers
    removing each other at once: one removal wins, the other finds one publisher left."""
    editor = get_editor(session, email)
    if editor.role == "publisher":
        _lock_publishers(session)
    others = select(func.count()).select_from(Editor).where(Editor.role == "publisher", Editor.id != editor.id)
    # The count and the removal in one statement: on SQLite a writing statement holds the
    # database's write lock from its start, so no other removal commits in between.
    removed = session.execute(delete(Editor).where(Editor.id == editor.id,
                                                   or_(Editor.role != "publisher", others.scalar_subquery() > 0))
                              .execution_options(synchronize_session=False)).rowcount
    if not removed:
        raise Conflict(f"{editor.email} is the last publisher; add another publisher first")
    session.expunge(editor)  # its row is gone; the session must not look it up again
    _audit(session, "remove", editor, by=by, source=source)
    session.flush()


def _lock_publishers(session: Session) -> None:
    """PostgreSQL: lock every publisher's row, in id order, until the transaction ends. Under
    READ COMMITTED, two removals counting at once would each see the other publisher; the
    second now waits here for the first to commit, and then counts what is left. (SQLite
    ignores FOR UPDATE: its writers never overlap.)"""
    session.execute(select(Editor.id).where(Editor.role == "publisher").order_by(Editor.id).with_for_update())


def revoke_api_token(session: Session, email: str, *, by: str, source: str) -> bool:
    """Revoke the editor's API token; False when there was none (nothing changes, still audited)."""
    editor = get_editor(session, email)
    had_token = editor.api_token_hash is not None
    editor.api_token_hash = None
    _audit(session, "revoke_token", editor, by=by, source=source, had_token=had_token)
    return had_token


def _audit(session: Session, action: str, editor: Editor, *, by: str, source: str, **details) -> None:
    # The audit log of subscribers and operators' actions; `editors:` rows are about accounts.
    session.add(AuditEntry(at=utcnow(), action=f"editors:{action}", source=source,
                           details={"editor": editor.email, "by": by, **details}))


def account_actions(session: Session, limit: int = 20) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action.startswith("editors:"))
                                .order_by(AuditEntry.id.desc()).limit(limit)))
