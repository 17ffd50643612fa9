"""Topics: `digest topics ...`: the sections, tags and authors articles name, and an editor's
rename, merge and hide (audited as the CLI's)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from digest.cli.common import console, topics_app, transaction, who_runs_it
from digest.cli.listing import Column, print_list
from digest.store.models import TopicKind

Kind = Annotated[TopicKind, typer.Argument(metavar="KIND", help="section, tag or author")]
Name = Annotated[str, typer.Argument(metavar="NAME", help="The topic's name, in any spelling articles use")]

TOPIC_COLUMNS = [
    Column("kind", "kind"), Column("name", "name", wraps=True), Column("articles", "articles"),
    Column("followers", "followers"),
    Column("hidden", "hidden", show=lambda hidden: "hidden" if hidden else "", optional=True),
    Column("id", "id", optional=True),
]


def _say(text: str) -> None:
    # A topic's name is the journal's text: never read as markup.
    console.print(text, markup=False, highlight=False, soft_wrap=True)


@topics_app.command("list")
def topics_list(as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON")] = False,
                kind: Annotated[Optional[TopicKind], typer.Option(help="Only this kind")] = None,
                hidden: Annotated[bool, typer.Option("--hidden", help="Hidden topics too")] = False) -> None:
    """Topics with how many articles name them and how many readers follow them."""
    from digest.topics.admin import list_topics

    with transaction() as session:
        rows = [{"id": row.id, "kind": row.kind.value, "name": row.name, "articles": row.articles,
                 "followers": row.followers, "hidden": row.hidden}
                for row in list_topics(session, kind, include_hidden=hidden)]
    print_list(rows, TOPIC_COLUMNS, as_json=as_json,
               empty="no topic yet: topics come from the articles polled (`digest topics refile` files older ones)")


@topics_app.command("rename")
def topics_rename(kind: Kind, name: Name, new_name: Annotated[str, typer.Argument(metavar="NEW_NAME")]) -> None:
    """Show a topic under another name (articles spelling the old one are still filed under it)."""
    from digest.topics.admin import rename
    from digest.topics.keys import find_topic

    with transaction() as session:
        topic = find_topic(session, kind, name)
        old = topic.name
        rename(session, topic.id, new_name, **who_runs_it())
        _say(f"{kind.value} {old!r} renamed {topic.name!r}")


@topics_app.command("merge")
def topics_merge(kind: Kind, source: Name, target: Annotated[str, typer.Argument(metavar="TARGET")]) -> None:
    """Merge SOURCE into TARGET: its followers follow TARGET (once each; alert if either follow
    was), its articles are filed there, and articles naming it later too."""
    from digest.topics.admin import merge
    from digest.topics.keys import find_topic

    with transaction() as session:
        merged, into = find_topic(session, kind, source), find_topic(session, kind, target)
        merged_name = merged.name
        merge(session, merged.id, into.id, **who_runs_it())
        _say(f"{kind.value} {merged_name!r} merged into {into.name!r}")


@topics_app.command("hide")
def topics_hide(kind: Kind, name: Name,
                unhide: Annotated[bool, typer.Option("--unhide", help="Offer it to readers again")] = False) -> None:
    """Stop offering a topic to readers (its followers keep it), or offer it again."""
    from digest.topics.admin import hide
    from digest.topics.keys import find_topic

    with transaction() as session:
        topic = hide(session, find_topic(session, kind, name).id, not unhide, **who_runs_it())
        _say(f"{kind.value} {topic.name!r} {'offered to readers again' if unhide else 'hidden from readers'}")


@topics_app.command("refile")
def topics_refile() -> None:
    """File every stored article under its topics (a database from before topics existed)."""
    from digest.topics.filing import file_every_article

    with transaction() as session:
        count = file_every_article(session)
    _say(f"{count} articles filed under their topics")


FOLLOWER_COLUMNS = [Column("email", "email"), Column("pace", "pace"), Column("status", "status", optional=True)]


@topics_app.command("followers")
def topics_followers(kind: Kind, name: Name,
                     as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON")] = False) -> None:
    """The readers who follow a topic, with their pace."""
    from digest.topics.admin import topic_followers
    from digest.topics.keys import find_topic

    with transaction() as session:
        topic = find_topic(session, kind, name)
        _, followers = topic_followers(session, topic.id, limit=None)
        rows = [{"email": subscriber.email, "pace": pace.value, "status": subscriber.status.value}
                for subscriber, pace in followers]
    print_list(rows, FOLLOWER_COLUMNS, as_json=as_json, empty=f"nobody follows {kind.value} {topic.name!r}")
