"""Editor accounts: people who preview and approve editions. Passwords are kept as argon2 hashes."""

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.errors import Conflict, InputError
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
