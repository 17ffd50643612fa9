"""A reader's "For you": the edition's articles on the topics they follow, listed by title with the
names of those topics at the top of their digest, before the sections that hold the articles.

It is one placeholder value per reader (`for_you` in placeholders), made when their batch is
handed over, not a variant: a variant per combination of followed articles cost 740 renders and
4,482 requests instead of 110 for 100,000 readers (bench/follow_variants.py), while the list is a
few hundred bytes in each reader's personalization. One statement per batch reads the follows
of its readers on the edition's articles; each distinct list is rendered once per batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.editions.render import Variant, wrap_text
from digest.editions.templates import email_environment
from digest.store.models import Article, ArticleTopic, Edition, EditionItem, Follow, Topic
from digest.store.upsert import among

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
# (article id, title, url, names of the reader's topics it is on), in edition order.
Listed = tuple[tuple[int, str, str, tuple[str, ...]], ...]


def for_you_of_batch(session: Session, edition: Edition, variant_key: str,
                     subscriber_ids: list[int]) -> dict[int, ForYou]:
    """Each reader of the batch who follows a topic of an article their variant shows in its
    sections (not one an alert already brought them): their list. Readers without one are absent."""
    variant = Variant.from_key(variant_key)
    if variant.articles or not subscriber_ids:  # an alert's variant: it is the reader's articles already
        return {}
    already_sent = {article_id for article_id, _ in variant.already_sent}
    rows = session.connection().execute(
        select(Follow.subscriber_id, Article.id, Article.title, Article.url, Article.section, Topic.name)
        .join(ArticleTopic, ArticleTopic.topic_id == Follow.topic_id)
        .join(EditionItem, EditionItem.article_id == ArticleTopic.article_id)
        .join(Article, Article.id == EditionItem.article_id)
        .join(Topic, Topic.id == Follow.topic_id)
        .where(EditionItem.edition_id == edition.id, among(session, Follow.subscriber_id, subscriber_ids))
        .order_by(Follow.subscriber_id, EditionItem.position, Topic.name)
    ).all()
    articles: dict[int, dict[int, tuple[str, str, list[str]]]] = {}
    for subscriber_id, article_id, title, url, section, topic in rows:
        if article_id in already_sent or (variant.sections and (section or "Articles") not in variant.sections):
            continue
        listed = articles.setdefault(subscriber_id, {})
        listed.setdefault(article_id, (title, url, []))[2].append(topic)
    made: dict[Listed, ForYou] = {}
    lists = {}
    for subscriber_id, listed in articles.items():
        key = tuple((article_id, title, url, tuple(topics)) for article_id, (title, url, topics) in listed.items())
        if key not in made:
            made[key] = for_you(key, variant.text_only)
        lists[subscriber_id] = made[key]
    return lists


def for_you(listed: Listed, text_only: bool = False) -> ForYou:
    """The list as both parts write it, cut to MAX_ARTICLES and MAX_BYTES ("and 3 more")."""
    shown = len(listed) if len(listed) <= MAX_ARTICLES else MAX_ARTICLES - 1
    while True:
        made = _render(listed[:shown], len(listed) - shown, text_only)
        if shown == 0 or len(made.text.encode()) + len(made.html.encode()) <= MAX_BYTES:
            return made
        shown -= 1


def _render(listed: Listed, more: int, text_only: bool) -> ForYou:
    env = email_environment()
    articles = [{"title": title, "url": url, "topics": topics} for _, title, url, topics in listed]
    text = wrap_text(env.get_template("edition/_for_you.txt").render(articles=articles, more=more))
    html = "" if text_only else env.get_template("edition/_for_you.html").render(articles=articles, more=more)
    return ForYou(text + "\n", html)
