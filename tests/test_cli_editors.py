"""`digest editors passwd|remove|revoke-token|list` as an operator runs them (tests/cli.py),
passwords never on the command line, each change audited."""

from __future__ import annotations

from sqlalchemy import select

from digest.accounts import add_editor, authenticate
from digest.store.db import unit_of_work
from digest.store.models import AuditEntry, Editor
from tests.cli import digest

PASSWORD = "a long and careful password"


def _add(email: str, role: str = "editor") -> None:
    with unit_of_work() as session:
        add_editor(session, email, PASSWORD, role)


def _actions() -> list[tuple[str, str, str]]:
    with unit_of_work() as session:
        return [(e.action, e.details["editor"], e.source)
                for e in session.scalars(select(AuditEntry).where(AuditEntry.action.startswith("editors:"))
                                         .order_by(AuditEntry.id))]


def test_passwd_reads_the_password_from_stdin_never_argv(settings):
    _add("ed@example.org")
    in_argv = digest("editors", "passwd", "ed@example.org", "a password on the command line")
    assert in_argv.returncode == 2 and "Traceback" not in in_argv.stderr
    short = digest("editors", "passwd", "ed@example.org", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    changed = digest("editors", "passwd", "ED@example.org", "--password-stdin", stdin="a brand new password\n")
    assert changed.returncode == 0, changed.stderr
    with unit_of_work() as session:
        assert authenticate(session, "ed@example.org", "a brand new password").email == "ed@example.org"
    assert _actions() == [("editors:passwd", "ed@example.org", "cli")]


def test_remove_and_revoke_token_are_audited_and_name_a_missing_editor(settings):
    _add("ed@example.org")
    _add("pub@example.org", "publisher")
    issued = digest("editors", "token", "ed@example.org")
    assert issued.returncode == 0 and "dgt_" in issued.stdout
    for args in (("passwd", "--password-stdin"), ("remove", "--yes"), ("revoke-token",)):
        missing = digest("editors", args[0], "nobody@example.org", *args[1:], stdin="a brand new password\n")
        assert missing.returncode == 2 and "editor nobody@example.org does not exist" in missing.stderr, args
    revoked = digest("editors", "revoke-token", "ed@example.org")
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    with unit_of_work() as session:
        assert session.scalar(select(Editor.api_token_hash).where(Editor.email == "ed@example.org")) is None
    listing = digest("editors", "list")
    assert "ed@example.org" in listing.stdout and "pub@example.org  publisher" in listing.stdout
    last = digest("editors", "remove", "pub@example.org", "--yes")
    assert last.returncode == 2 and "last publisher" in last.stderr
    declined = digest("editors", "remove", "ed@example.org", stdin="n\n")
    assert declined.returncode != 0
    removed = digest("editors", "remove", "ed@example.org", "--yes")
    assert removed.returncode == 0, removed.stderr
    with unit_of_work() as session:
        assert session.scalars(select(Editor.email)).all() == ["pub@example.org"]
    assert _actions() == [("editors:token", "ed@example.org", "cli"),
                          ("editors:revoke_token", "ed@example.org", "cli"),
                          ("editors:remove", "ed@example.org", "cli")]
