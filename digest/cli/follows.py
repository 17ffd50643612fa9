"""A reader's follows, pace and pause, set by an operator: `digest subscribers follow|unfollow|
pause|resume|digest-only ...`. Each change is audited as the CLI's."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from digest.cli.common import console, transaction, subscribers_app
from digest.errors import InputError, NotFound

TagOption = Annotated[Optional[str], typer.Option("--tag", help="A tag: a country, a region, a theme")]
AuthorOption = Annotated[Optional[str], typer.Option("--author", help="A name in the byline")]
SectionOption = Annotated[Optional[str], typer.Option("--section", help="A section of the journal")]


def _reader(session, email: str) -> int:
    from digest.addresses import normalize_email
    from digest.subscribers.lifecycle import find_subscriber

    subscriber = find_subscriber(session, normalize_email(email))
    if subscriber is None:
        raise NotFound(f"no subscriber {email[:200]}")
    return subscriber.id


def _topic(session, tag: str | None, author: str | None, section: str | None):
    from digest.store.models import TopicKind
    from digest.topics.keys import find_topic

    named = [(kind, name) for kind, name in ((TopicKind.TAG, tag), (TopicKind.AUTHOR, author),
                                              (TopicKind.SECTION, section)) if name is not None]
    if len(named) != 1:
        raise InputError("name one topic: --tag NAME, --author NAME or --section NAME")
    return find_topic(session, *named[0])


@subscribers_app.command("follow")
def subscribers_follow(email: str, tag: TagOption = None, author: AuthorOption = None, section: SectionOption = None,
                       pace: Annotated[str, typer.Option(help="digest (in the edition) or alert (soon after an article)")] = "digest") -> None:
    """Follow a topic for a reader, at a pace (following again changes the pace)."""
    from digest.subscribers.follows import follow

    with transaction() as session:
        topic = _topic(session, tag, author, section)
        changed = follow(session, _reader(session, email), topic.id, pace, source="cli")
    console.print(f"{email} follows {topic.kind.value} {topic.name!r} ({pace})" + ("" if changed else ": unchanged"),
                  markup=False, highlight=False)


@subscribers_app.command("unfollow")
def subscribers_unfollow(email: str, tag: TagOption = None, author: AuthorOption = None,
                         section: SectionOption = None) -> None:
    """Stop following a topic for a reader."""
    from digest.subscribers.follows import unfollow

    with transaction() as session:
        topic = _topic(session, tag, author, section)
        removed = unfollow(session, _reader(session, email), topic.id, source="cli")
    console.print(f"{email} " + ("no longer follows" if removed else "did not follow") +
                  f" {topic.kind.value} {topic.name!r}", markup=False, highlight=False)


@subscribers_app.command("pause")
def subscribers_pause(email: str,
                      until: Annotated[Optional[str], typer.Option(help="The date they receive again (YYYY-MM-DD)")] = None,
                      weeks: Annotated[Optional[int], typer.Option(help="Pause for 1, 2 or 4 weeks")] = None) -> None:
    """Send a reader nothing until a date (at most a year ahead); they receive again on that date."""
    from digest.subscribers.follows import pause, pause_end

    if (until is None) == (weeks is None):
        raise InputError("give one of --until DATE or --weeks 1|2|4")
    with transaction() as session:
        end = pause_end(until=until, weeks=weeks)
        pause(session, _reader(session, email), end, source="cli")
    console.print(f"{email} paused until {_day(end)}", highlight=False)


@subscribers_app.command("resume")
def subscribers_resume(email: str) -> None:
    """End a reader's pause now."""
    from digest.subscribers.follows import resume

    with transaction() as session:
        resume(session, _reader(session, email), source="cli")
    console.print(f"{email} receives the digest again", highlight=False)


@subscribers_app.command("digest-only")
def subscribers_digest_only(email: str, off: Annotated[bool, typer.Option("--off", help="Turn alerts back on")] = False) -> None:
    """Turn every alert off for a reader (the follows keep their pace for --off)."""
    from digest.subscribers.follows import set_digest_only

    with transaction() as session:
        set_digest_only(session, _reader(session, email), not off, source="cli")
    console.print(f"{email}: " + ("alerts on again" if off else "digest only, every alert off"), highlight=False)


def _day(moment) -> str:
    """The local date a pause ends on, as the preference page says it: '20 December 2026'."""
    from digest.config import get_settings

    day = moment.astimezone(get_settings().tz).date()
    return f"{day.day} {day:%B %Y}"


def follows_lines(subscriber: dict, follows: list[dict]) -> list[str]:
    """What `subscribers show` prints of the reader's pause, "digest only" and follows."""
    from digest.clock import utcnow

    lines, until = [], subscriber.get("paused_until")
    if subscriber.get("paused") and until is None:
        lines.append("paused until they resume")
    elif subscriber.get("paused") and until > utcnow():
        lines.append(f"paused until {_day(until)}")
    if subscriber.get("digest_only"):
        lines.append("digest only: every alert off")
    lines += [f"follows {f['kind']} {f['name']!r} ({f['pace']})" for f in follows]
    return lines
