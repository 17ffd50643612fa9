"""A reader's "For you": the edition's articles on the topics they follow, listed by title with the
names of those topics at the top of their digest, before the sections that hold the articles.

It is one placeholder value per reader (`for_you` in placeholders), made when their batch is
handed over, not a variant: a variant per combination of followed articles cost 740 renders and
4,482 requests instead of 110 for 100,000 readers (bench/follow_variants.py), while the list is a
few hundred bytes in each reader's personalization. One statement per batch reads the follows of
its readers on the edition's articles. The list's pieces (its heading, a line per article and
its topics) are rendered and inlined with the email's own CSS once per batch, and a reader's list
is their pieces joined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import css_inline
from sqlalchemy import any_, bindparam, select
from sqlalchemy.orm import Session

from digest.editions.lookup import EditionRow
from digest.editions.render import DEFAULT_VARIANT, Variant, wrap_text
from digest.editions.templates import email_environment
from digest.resources import resource_dir
from digest.store.models import Article, ArticleTopic, Edition, EditionItem, Follow, IdArray, Topic

# What one reader's list may weigh (its HTML and text together). SendGrid's mail/send reference
# caps a personalization's substitutions at 10,000 bytes; names and links take about 1,000.
MAX_BYTES = 6000
# A list longer than this says how many more there are instead.
MAX_ARTICLES = 8


@dataclass(frozen=True)
class ForYou:
    text: str
    html: str


NOTHING = ForYou("", "")
# An article as a reader's list shows it: (title, url, names of the reader's topics it is on).
Line = tuple[str, str, tuple[str, ...]]


def for_you_of_batch(session: Session, edition: Edition | EditionRow, variant_key: str,
                     subscriber_ids: list[int]) -> dict[int, ForYou]:
    """Each reader of the batch who follows a topic of an article their variant shows in its
    sections (not one an alert already brought them): their list. Readers without one are absent."""
    variant = Variant.from_key(variant_key)
    if variant.articles or not subscriber_ids:  # an alert's variant: it is the reader's articles already
        return {}
    # Ids only (a batch's readers follow about 3,000 (article, topic) pairs): the few articles'
    # and topics' texts are read once, below, if anyone follows anything.
    postgresql = session.get_bind().dialect.name == "postgresql"
    rows = session.connection().execute(_follows_statement(postgresql),
                                        {"edition_id": edition.id, "ids": list(subscriber_ids)}).all()
    if not rows:
        return {}
    articles, topics = _texts(session, edition, variant)
    followed: dict[int, dict[int, list[int]]] = {}
    for subscriber_id, article_id, topic_id in rows:
        if article_id in articles:
            followed.setdefault(subscriber_id, {}).setdefault(article_id, []).append(topic_id)
    pieces = Pieces(variant.text_only)
    made: dict[tuple, ForYou] = {}
    lists = {}
    for subscriber_id, listed in followed.items():
        key = tuple((article_id, *topic_ids) for article_id, topic_ids in listed.items())
        if key not in made:
            made[key] = pieces.list_of(tuple(
                (*articles[article_id], tuple(sorted(topics[topic_id] for topic_id in topic_ids)))
                for article_id, topic_ids in listed.items()))
        lists[subscriber_id] = made[key]
    return lists


def run_against_nothing(session: Session, nothing: EditionRow) -> None:
    """for_you_of_batch's statements run once for an edition that does not exist (part of
    send.py's prepare_statements)."""
    for_you_of_batch(session, nothing, DEFAULT_VARIANT.key, [0])
    _texts(session, nothing, DEFAULT_VARIANT)


@lru_cache(maxsize=2)
def _follows_statement(postgresql: bool):
    """for_you_of_batch's statement, made once (building it cost a batch about half a
    millisecond): the edition and the readers' ids are its parameters."""
    if postgresql:
        # One array's text (IdArray): psycopg writes an int[] parameter element by element in
        # Python, 0.7 ms a batch.
        among_readers = Follow.subscriber_id == any_(bindparam("ids", type_=IdArray()))
    else:
        among_readers = Follow.subscriber_id.in_(bindparam("ids", expanding=True))
    return (select(Follow.subscriber_id, ArticleTopic.article_id, Follow.topic_id)
            .join(ArticleTopic, ArticleTopic.topic_id == Follow.topic_id)
            .join(EditionItem, EditionItem.article_id == ArticleTopic.article_id)
            .where(EditionItem.edition_id == bindparam("edition_id"), among_readers)
            .order_by(Follow.subscriber_id, EditionItem.position, Follow.topic_id))


def _texts(session: Session, edition: Edition | EditionRow, variant: Variant) -> tuple[dict[int, tuple[str, str]], dict[int, str]]:
    """The titles and links of the edition's articles the variant shows in its sections (not those
    already sent), and the names of their topics."""
    already_sent = {article_id for article_id, _ in variant.already_sent}
    rows = session.connection().execute(
        select(Article.id, Article.title, Article.url, Article.section, Topic.id, Topic.name)
        .join(EditionItem, EditionItem.article_id == Article.id)
        .join(ArticleTopic, ArticleTopic.article_id == Article.id)
        .join(Topic, Topic.id == ArticleTopic.topic_id)
        .where(EditionItem.edition_id == edition.id)
    ).all()
    articles, topics = {}, {}
    for article_id, title, url, section, topic_id, name in rows:
        topics[topic_id] = name
        if article_id not in already_sent and (not variant.sections or (section or "Articles") in variant.sections):
            articles[article_id] = (title, url)
    return articles, topics


class Pieces:
    """The parts of the lists of one batch, each rendered once: the heading and the end, and a
    line per (article, topics) as each part writes it."""

    def __init__(self, text_only: bool):
        self.text_only = text_only
        self.lines: dict[Line, tuple[str, str]] = {}

    def line(self, line: Line) -> tuple[str, str]:
        if line not in self.lines:
            title, url, topics = line
            article = {"title": title, "url": url, "topics": topics}
            self.lines[line] = (wrap_text(_macro("txt", "line")(article)),
                                "" if self.text_only else _inlined(str(_macro("html", "line")(article))).strip() + "\n")
        return self.lines[line]

    def list_of(self, lines: tuple[Line, ...]) -> ForYou:
        """The list as both parts write it, cut to MAX_ARTICLES and MAX_BYTES ("and 3 more")."""
        shown = len(lines) if len(lines) <= MAX_ARTICLES else MAX_ARTICLES - 1
        while True:
            made = self._joined([self.line(line) for line in lines[:shown]], len(lines) - shown)
            if shown == 0 or len(made.text.encode()) + len(made.html.encode()) <= MAX_BYTES:
                return made
            shown -= 1

    def _joined(self, lines: list[tuple[str, str]], more: int) -> ForYou:
        end = (more, not lines)
        text = "".join([_text_piece("head"), *(text for text, _ in lines), _text_piece("end", *end)])
        if self.text_only:
            return ForYou(text, "")
        before, after = _html_frame(*end)
        return ForYou(text, "".join([before, *(html for _, html in lines), after]))


@lru_cache(maxsize=16)
def _text_piece(name: str, more: int = 0, alone: bool = False) -> str:
    if name == "head":
        return wrap_text(str(_macro("txt", "head")())) + "\n"
    if not more:
        return "\n"  # the blank line before the first section's heading
    return wrap_text(str(_macro("txt", "end")(more=more, alone=alone))) + "\n"


# Where the frame's lines go: inlined whole (a fragment with its table open would be closed by
# the parser), then cut there.
LINES = "@@LINES@@"


@lru_cache(maxsize=16)
def _html_frame(more: int, alone: bool) -> tuple[str, str]:
    before, after = _inlined(str(_macro("html", "frame")(more=more, alone=alone))).split(LINES)
    return before.strip() + "\n", after.strip() + "\n"


def _macro(part: str, name: str):
    return getattr(email_environment().get_template(f"edition/_for_you.{part}").module, name)


def _inlined(fragment: str) -> str:
    """The fragment with the email's own rules inlined, as the rest of the email is (its classes
    stay, for the dark-mode rules the email keeps in its <style>)."""
    return css_inline.inline_fragment(fragment, _email_css(), load_remote_stylesheets=False)


@lru_cache(maxsize=1)
def _email_css() -> str:
    base = (resource_dir("templates") / "email" / "_base" / "body.html").read_text()
    return re.search(r"<style>(.*?)</style>", base, re.S).group(1)
