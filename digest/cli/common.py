"""The `digest` command's shared parts: the Typer apps, consoles, and helpers for its commands."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console

from digest.config import get_settings

app = typer.Typer(help="Analyst Digest: the CACI Analyst's newsletter service.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
feeds_app = typer.Typer(help="Feeds the poller reads.", no_args_is_help=True)
editions_app = typer.Typer(help="Biweekly editions: compose, preview, approve, send.", no_args_is_help=True)
subscribers_app = typer.Typer(help="People who receive the digest.", no_args_is_help=True)
editors_app = typer.Typer(help="Editor accounts for the web app.", no_args_is_help=True)
sample_app = typer.Typer(help="The bundled sample feed.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts: new articles on followed topics, held, then sent.", no_args_is_help=True)
topics_app = typer.Typer(help="Topics readers follow: the sections, tags and authors articles name.",
                         no_args_is_help=True)
ops_app = typer.Typer(help="Operations: health of queues, workers, sends; actions on them.", no_args_is_help=True)
events_app = typer.Typer(help="SendGrid's events as kept: who made the opens and clicks.", no_args_is_help=True)
for name, sub in [("db", db_app), ("feeds", feeds_app), ("editions", editions_app),
                  ("subscribers", subscribers_app), ("editors", editors_app), ("sample", sample_app),
                  ("alerts", alerts_app), ("topics", topics_app), ("ops", ops_app), ("events", events_app)]:
    app.add_typer(sub, name=name)

console = Console()
err = Console(stderr=True)


def _print_version(asked: bool) -> None:
    if asked:
        from digest.release import release

        console.print(f"digest {release()}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option(
        "--version", help="Print the release and exit.", callback=_print_version, is_eager=True)] = False) -> None:
    # Typer runs this before any command; the one option it holds acts in its callback.
    pass


def _row_id(what: str):
    """The parser of an id on the command line: a number no row can have (0, or past the database's
    integer) names nothing, and is refused before a query, which the database would fail with a
    traceback (PostgreSQL: "integer out of range")."""
    def parse(value: str | int) -> int:
        from digest.store.models import MAX_ID

        try:
            number = int(value)
        except ValueError:
            raise typer.BadParameter(f"{what} id {value!r} is not a whole number") from None
        if not 1 <= number <= MAX_ID:
            raise typer.BadParameter(f"{what} {value} does not exist (ids run from 1 to {MAX_ID})")
        return number
    return parse


# Every command taking an id takes it as one of these.
EditionId = Annotated[int, typer.Argument(metavar="ID", parser=_row_id("edition"))]
ArticleId = Annotated[int, typer.Argument(metavar="ARTICLE", parser=_row_id("article"))]
FeedId = Annotated[int, typer.Argument(metavar="ID", parser=_row_id("feed"))]
EditionOption = Annotated[Optional[int], typer.Option("--edition", metavar="ID", help="Only this edition",
                                                     parser=_row_id("edition"))]
FeedOption = Annotated[Optional[int], typer.Option("--feed", help="Poll only this feed id", parser=_row_id("feed"))]


def transaction():
    from digest.store.db import unit_of_work

    return unit_of_work()


def who_runs_it() -> dict:
    """Who runs an audited command from a shell."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container user with no name
        user = "unknown"
    return {"by": user, "source": "cli"}


def send_action(edition_id: int, action: str):
    """A send action (pause, resume, cancel, retry-failed, discard-failed) through the one command
    layer, audited as the CLI's; batches it makes pending are enqueued once it commits."""
    from workers.tasks import run_send_action  # the CLI enqueues; digest proper never does

    with transaction() as session:
        return run_send_action(session, edition_id, action, **who_runs_it())


def local_time(moment) -> str:
    return moment.astimezone(get_settings().tz).strftime("%Y-%m-%d %H:%M %Z") if moment else "-"
