"""An edition whose articles link to pages of a local server the test controls, a Redis without
checklist results from an earlier test (each test's editions restart at id 1), and email
templates with the unsubscribe link edited out."""

from __future__ import annotations

import shutil

import pytest
from jinja2 import FileSystemLoader
from sqlalchemy import update

from digest.clock import utcnow
from digest.editions.templates import email_environment
from digest.resources import resource_dir
from digest.store.db import unit_of_work
from digest.store.models import Article
from tests.factories import draft_edition, stored_articles
from tests.servers import Route

LEAD = "<p>Ports on both shores of the Caspian are expanding, and the corridor's pace now depends on ferries.</p>"


@pytest.fixture(autouse=True)
def no_checklist_results(redis_client):
    def clear() -> None:
        for key in redis_client.scan_iter("digest:checklist:*"):
            redis_client.delete(key)

    clear()
    yield
    clear()


def edition_linking_to(server, *paths: str, answers: dict[str, int] | None = None, **article) -> int:
    """A draft edition of one article per path, each linking to that path on `server`, which
    answers it with 200 (or the status in `answers`), its byline read (an author, today's issue).
    Returns the edition id."""
    ids = stored_articles(*(utcnow() for _ in paths), prefix="Corridor report")
    with unit_of_work() as session:
        for article_id, path in zip(ids, paths):
            values = {"url": server.url(path), "summary_html": LEAD, "issue_date": utcnow().date(),
                      "structure": {"byline": "By A. Writer"}, **article}
            session.execute(update(Article).where(Article.id == article_id).values(**values))
            status = (answers or {}).get(path, 200)
            server.routes[path] = Route(status, b"<html><body>An article page</body></html>",
                                        {"Content-Type": "text/html"})
    return draft_edition()


@pytest.fixture
def templates_without_unsubscribe(tmp_path):
    """The email templates as someone might edit them: the footer's unsubscribe link gone."""
    copy = tmp_path / "email"
    shutil.copytree(resource_dir("templates") / "email", copy)
    for name in ("body.html", "body.txt"):
        path = copy / "edition" / name
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(line.replace('<a href="{{ reader.unsubscribe_url }}">Unsubscribe</a> &middot;', "")
                                for line in lines if not line.startswith("Unsubscribe: ")))
    environment = email_environment()
    original = environment.loader
    environment.loader = FileSystemLoader(copy)
    yield copy
    environment.loader = original
