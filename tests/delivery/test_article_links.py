"""Article links as the journal's site writes them, with non-ASCII characters in Joomla's item
aliases ("kazakhstan’s-..."): stored as the feed gave them, written everywhere as URIs (RFC 3987's
mapping: UTF-8, then %XX), since mail clients cut a link at the first character they do not
expect. Checked on every message the service sends (tests/emails.py), the click-tracked links and
the archive page (the checklist's link check: tests/checklist/test_links.py)."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

import lxml.html
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from digest.feeds.links import as_uri, rendered_url
from digest.store.db import unit_of_work
from digest.store.models import Article, Edition, EditionKind, EditionLink
from digest.web.app import app
from tests.emails import html_part

ALIAS = "13807-kazakhstan’s-grain-exporters-look-south-to-new-rail-routes.html"
ENCODED = "13807-kazakhstan%E2%80%99s-grain-exporters-look-south-to-new-rail-routes.html"


def _text_part(raw: bytes) -> str:
    return message_from_bytes(raw, policy=policy.default).get_body(preferencelist=("plain",)).get_content()


def _hrefs(html: str) -> list[str]:
    return [element.get("href") for element in lxml.html.fromstring(html).xpath("//a[@href]")]


def test_every_link_written_is_ascii_and_the_stored_link_keeps_the_feeds_form(every_message):
    with unit_of_work() as session:
        stored = session.scalar(select(Article.url).where(Article.title.startswith("Kazakhstan’s Grain")))
        edition = session.scalar(select(Edition).where(Edition.kind == EditionKind.DIGEST))
        tracked = session.scalars(select(EditionLink.url).where(EditionLink.edition_id == edition.id)).all()
        edition_id = edition.id
    assert stored.endswith("/item/" + ALIAS)

    carried = []
    for label, raw in every_message.items():
        html, text = html_part(raw), _text_part(raw)
        links = _hrefs(html) if html else []
        links += re.findall(r"https?://\S+", text)
        assert all(link.isascii() for link in links), (label, [link for link in links if not link.isascii()])
        if any(link.endswith("/item/" + ENCODED) for link in links):
            carried.append(label)
            assert (html is None or stored.replace(ALIAS, ENCODED) in _hrefs(html)) and \
                stored.replace(ALIAS, ENCODED) in text, label
    assert {"all sections", "text only", "test"} <= set(carried), carried

    # The click-tracked links (what SendGrid's click events report) are the same URIs.
    assert stored.replace(ALIAS, ENCODED) in tracked and all(url.isascii() for url in tracked)

    # The archive page's email.
    with TestClient(app, base_url="https://testserver") as client:
        archived = client.get(f"/archive/{edition_id}/email")
    assert archived.status_code == 200
    assert stored.replace(ALIAS, ENCODED) in _hrefs(archived.text) and ALIAS not in archived.text
    # ... with the line under the title as the email has it: author, affiliation, place, issue.
    lines = [p.text_content() for p in lxml.html.fromstring(archived.text).xpath("//p[contains(@class,'article-meta')]")]
    assert any(line.startswith("Aigerim Tolen (researcher, Institute for Regional Studies)\xa0· Almaty\xa0· ")
               and line.endswith(" issue") for line in lines), lines


@pytest.mark.parametrize("iri, uri", [
    # Non-ASCII in path, query and fragment: UTF-8 bytes as %XX; existing escapes and reserved kept.
    ("https://www.cacianalyst.org/publications/analytical-articles/item/13314-kazakhstan’s-bid.html",
     "https://www.cacianalyst.org/publications/analytical-articles/item/13314-kazakhstan%E2%80%99s-bid.html"),
    ("https://example.org/a%20b/é?q=ü&x=%E2%80%99;y=1#§2", "https://example.org/a%20b/%C3%A9?q=%C3%BC&x=%E2%80%99;y=1#%C2%A72"),
    # A non-ASCII host name in IDNA (an emoji as browsers still take it), the port kept.
    ("https://editor@bücher.example:8443/x", "https://editor@xn--bcher-kva.example:8443/x"),
    ("https://\u2615.example./x", "https://xn--53h.example./x"),
    ("https://example.org/already/ascii?x=1", "https://example.org/already/ascii?x=1"),
    # What http_url always encoded, still encoded (a space, brackets that could make a placeholder).
    ("https://example.org/a b/[%x%]", "https://example.org/a%20b/%5B%x%%5D"),
])
def test_an_iri_is_written_as_a_uri_and_writing_it_again_changes_nothing(iri, uri):
    assert rendered_url(iri) == uri
    assert rendered_url(uri) == uri


def test_a_link_that_cannot_be_written_as_a_uri_is_no_link():
    # A joiner outside its context (IDNA 2003 would drop it: another host), user information
    # whose %XX would put a '%' in the host part.
    for iri in ("https://a\u200db.example/x", "https://j\u00fcrgen@example.org/x"):
        assert as_uri(iri) is None and rendered_url(iri) == ""
