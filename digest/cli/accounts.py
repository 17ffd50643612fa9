"""Editor accounts for the web app: `digest editors add|token|passwd|remove|revoke-token|list`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from digest.cli.common import console, editors_app, local_time, transaction, who_runs_it
from digest.cli.listing import print_json
from digest.clock import utcnow


@editors_app.command("add")
def editors_add(email: str,
                role: Annotated[str, typer.Option(help="editor or publisher")] = "editor",
                password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input")] = False) -> None:
    """Create an editor account (asks for the password; without a terminal, reads it from
    standard input)."""
    from digest.accounts import ROLES, add_editor
    from digest.errors import InputError
    from digest.addresses import normalize_email

    # Everything that can be refused is refused before anyone types a password.
    normalize_email(email, what="editor email")
    if role not in ROLES:
        raise InputError(f"--role {role!r} must be one of: {', '.join(ROLES)}")
    password = _read_password(password_stdin, "Password")
    with transaction() as session:
        editor = add_editor(session, email, password, role)
        console.print(f"editor {editor.email} added ({editor.role})")


@editors_app.command("token")
def editors_token(email: str) -> None:
    """Issue a new API token for an editor (replaces the old one); shown once. Audited."""
    from digest.accounts import issue_api_token

    with transaction() as session:
        token = issue_api_token(session, email, **who_runs_it())
    console.print(f"API token for {email} (send as 'Authorization: Bearer <token>'; shown once):")
    sys.stdout.write(token + "\n")


def _read_password(password_stdin: bool, prompt: str = "New password") -> str:
    # Never from argv: a command line is visible to every user of the machine (ps) and in history.
    # Without a terminal (a pipe, a script) there is nothing to prompt on: read the piped line,
    # rather than let getpass warn that it cannot hide what is typed.
    if password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt(prompt, hide_input=True, confirmation_prompt=True)


@editors_app.command("passwd")
def editors_passwd(email: str,
                   password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input")] = False) -> None:
    """Set an editor's password (asks for it); ends their sessions and lifts a lock-out. Audited."""
    from digest.accounts import get_editor, set_password

    with transaction() as session:
        get_editor(session, email)  # complain before asking for a password
    password = _read_password(password_stdin)
    with transaction() as session:
        editor = set_password(session, email, password, **who_runs_it())
        console.print(f"password of {editor.email} changed; their sessions have ended")


@editors_app.command("remove")
def editors_remove(email: str,
                   yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False) -> None:
    """Remove an editor account (its sessions and API token stop working). Audited."""
    from digest.accounts import get_editor, remove_editor

    with transaction() as session:
        address = get_editor(session, email).email
    if not yes:
        typer.confirm(f"Remove the editor account {address}?", abort=True)
    with transaction() as session:
        remove_editor(session, address, **who_runs_it())
    console.print(f"editor {address} removed")


@editors_app.command("revoke-token")
def editors_revoke_token(email: str) -> None:
    """Revoke an editor's API token at once. Audited."""
    from digest.accounts import revoke_api_token

    with transaction() as session:
        had_token = revoke_api_token(session, email, **who_runs_it())
    console.print(f"API token of {email} revoked" if had_token else f"{email} had no API token; nothing to revoke")


@editors_app.command("list")
def editors_list(as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON")] = False) -> None:
    """Editor accounts: address, role, lock-out, API token."""
    from digest.accounts import list_editors

    now = utcnow()
    with transaction() as session:
        rows = [{"email": editor.email, "role": editor.role,
                 "locked_until": editor.locked_until if editor.locked_until and editor.locked_until > now else None,
                 "api_token": bool(editor.api_token_hash)} for editor in list_editors(session)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no editor yet: add one with `digest editors add EMAIL --role publisher`", highlight=False)
    for row in rows:
        locked = f"locked until {local_time(row['locked_until'])}" if row["locked_until"] else ""
        console.print("  ".join(filter(None, [row["email"], row["role"], locked, "API token" if row["api_token"] else ""])),
                      highlight=False, markup=False)
