"""Editor accounts: people who preview and approve editions. Passwords are kept as argon2 hashes."""

import datetime as dt
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.errors import Conflict, InputError, NotFound
from digest.store.models import Editor
from digest.subscribers.addresses import normalize_email

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


# Verified against when the address is unknown, so both answers take the same time.
_DUMMY_HASH = _hasher.hash("not a real password, only a timing guard")


def authenticate(session: Session, email: str, password: str, now: dt.datetime | None = None) -> Editor:
    """The editor with these credentials; LoginRefused otherwise. Failures in a row past
    LOGIN_MAX_FAILURES lock the account for LOGIN_LOCKOUT_MINUTES, even to the right password."""
    settings = get_settings()
    now = now or utcnow()
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
    if editor.locked_until and editor.locked_until > now:
        raise refused
    if not _verify(editor.password_hash, password):
        editor.failed_logins += 1
        if editor.failed_logins >= settings.LOGIN_MAX_FAILURES:
            editor.locked_until = now + dt.timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
            editor.failed_logins = 0
        raise refused
    editor.failed_logins = 0
    editor.locked_until = None
    if _hasher.check_needs_rehash(editor.password_hash):
        editor.password_hash = _hasher.hash(password)
    return editor


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def issue_api_token(session: Session, email: str) -> str:
    """A new API token for the editor (replacing any earlier one); shown once, stored hashed."""
    address = normalize_email(email, what="editor email")
    editor = session.scalar(select(Editor).where(Editor.email == address))
    if editor is None:
        raise NotFound(f"editor {address} does not exist")
    token = "dgt_" + secrets.token_urlsafe(32)
    editor.api_token_hash = token_hash(token)
    return token


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def editor_for_token(session: Session, token: str) -> Editor | None:
    return session.scalar(select(Editor).where(Editor.api_token_hash == token_hash(token)))
