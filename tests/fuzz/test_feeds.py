"""Feed bytes from anyone's server, through parsing, identity, sanitizing and the Analyst's structure:
RSS, Atom and K2-like documents written from hostile text, odd dates, nested markup and bad links,
those documents with bytes broken, and raw random bytes. Whatever comes, the parser refuses the
document with ParseError or returns entries that keep its promises: links absolute http(s), HTML
sanitized, the lead bounded, the byline's fields bounded, every text storable."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime
from html import escape
from html.parser import HTMLParser
from urllib.parse import urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from digest.feeds.extract import extract_from_page
from digest.feeds.lead import LEAD_WORDS
from digest.feeds.parse import Entry, ParseError, parse_feed
from digest.feeds.sanitize import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, html_to_text
from tests.fuzz.strategies import budget, hostile_text, words

FEED_URL = "https://www.cacianalyst.org/publications/analytical-articles.feed"

# Links a feed may give: the journal's own, relative ones, hostile schemes and hosts.
links = st.one_of(
    st.builds(lambda item, alias: f"https://www.cacianalyst.org/publications/item/{item}-{alias}.html",
              st.integers(0, 10**30), st.from_regex(r"[a-z-]{0,20}", fullmatch=True)),
    st.sampled_from(["javascript:alert(1)", " JaVaScRiPt:alert(1)", "java\tscript:x", "data:text/html,x",
                     "vbscript:x", "//evil.example/x", "/relative/path", "?q=1", "#top", "http://",
                     "http://[::1", "http://a:b/", "http://0177.0.0.1:8742/x", "http://xn--a.com/",
                     "https://\uff21.com/", "http://example.org:99999/", "mailto:a@b", ""]),
    st.builds("{}://{}/{}".format, st.sampled_from(["http", "https", "HTTP", "ftp", "file"]),
              st.one_of(words.map(lambda w: w.replace(" ", ".")), hostile_text), hostile_text),
    hostile_text,
)
# Dates as feeds write them: RFC 822 and ISO 8601 of any year, and what is neither.
dates = st.one_of(
    st.datetimes(timezones=st.just(dt.UTC)).map(format_datetime),
    st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
    st.sampled_from(["Mon, 31 Feb 2023 25:61:00 +9999", "0000-00-00T00:00:00Z", "9999-12-31T23:59:59Z",
                     "Tue, 01 Jan 0001 00:00:00 GMT", "1e99", "-1", "yesterday", ""]),
    hostile_text,
)
ATTRIBUTES = st.sampled_from([
    ' onclick="alert(1)"', " onerror=alert(1)", ' style="background:url(javascript:x)"',
    ' href="javascript:alert(1)"', ' src="data:image/png;base64,AAAA"', ' href="/relative"',
    ' href="https://example.org/a"', ' class="K2FeedIntroText"', ' class="K2FeedFullText"',
    ' class="K2FeedTags"', " lang=en", ' srcset="x 1x"', ' formaction="javascript:x"', ""])
TAGS = st.sampled_from(["p", "div", "span", "a", "img", "script", "style", "iframe", "svg", "math",
                        "table", "td", "li", "ul", "strong", "br", "object", "form", "noscript", "template"])


def _element(tag: str, attributes: list[str], children: list[str]) -> str:
    return f"<{tag}{''.join(attributes)}>{''.join(children)}</{tag}>"


# Nested markup: text and known labels at the leaves, any tag with any attribute around them.
markup = st.recursive(
    st.one_of(hostile_text.map(escape), hostile_text, words,
              st.sampled_from(["BACKGROUND:", "<strong>CONCLUSIONS:</strong>", "AUTHOR’S BIO:",
                               "Read 4821 times", "By Anna Petrova (03/20/2013 issue of the CACI Analyst)",
                               "yes\">", "mso-spacerun: yes;", "#Tag_One #Tag_Two"])),
    lambda children: st.builds(_element, TAGS, st.lists(ATTRIBUTES, max_size=3),
                               st.lists(children, max_size=3)),
    max_leaves=12)


@st.composite
def k2_description(draw) -> str:
    """A K2 item's description: intro (byline and lead), full text, tags; any part may be odd."""
    byline = draw(st.one_of(st.builds("By {} ({}/{}/{} issue of the CACI Analyst)".format, words,
                                      st.integers(0, 13), st.integers(0, 32), st.integers(0, 99999)),
                            st.builds("By {}, {}".format, words, dates), hostile_text))
    intro = f'<div class="K2FeedIntroText"><p>{escape(byline)}</p>{draw(markup)}</div>'
    full = draw(st.one_of(st.just(""), markup.map(lambda body: f'<div class="K2FeedFullText">{body}</div>')))
    tags = draw(st.one_of(st.just(""), markup.map(lambda body: f'<div class="K2FeedTags">{body}</div>')))
    return intro + full + tags


def _text_node(value: str, how: str) -> str:
    """`value` as an XML element's content: escaped, in CDATA, or raw (breaking the document)."""
    return {"escaped": escape(value, quote=False), "cdata": f"<![CDATA[{value}]]>", "raw": value}[how]


bodies = st.one_of(markup, k2_description(), hostile_text)
how = st.sampled_from(["escaped", "escaped", "cdata", "raw"])


@st.composite
def rss_item(draw) -> str:
    fields = [
        f"<title>{_text_node(draw(st.one_of(words, hostile_text)), draw(how))}</title>",
        f"<link>{_text_node(draw(links), draw(how))}</link>",
        f'<guid isPermaLink="{draw(st.sampled_from(["true", "false"]))}">{_text_node(draw(links), draw(how))}</guid>',
        f"<pubDate>{_text_node(draw(dates), draw(how))}</pubDate>",
        f"<description>{_text_node(draw(bodies), draw(how))}</description>",
        f"<category>{_text_node(draw(st.one_of(words, hostile_text)), draw(how))}</category>",
        f"<author>{_text_node(draw(st.one_of(words, hostile_text)), draw(how))}</author>",
    ]
    return "<item>" + "".join(draw(st.permutations(fields))[:draw(st.integers(0, len(fields)))]) + "</item>"


@st.composite
def atom_entry(draw) -> str:
    title_type = draw(st.sampled_from(["text", "html", "xhtml"]))
    content_type = draw(st.sampled_from(["text", "html", "xhtml"]))
    content = draw(bodies)
    if content_type != "xhtml":
        content = _text_node(content, draw(how))
    else:
        content = f'<div xmlns="http://www.w3.org/1999/xhtml">{content}</div>'
    return (f'<entry><title type="{title_type}">{_text_node(draw(st.one_of(words, hostile_text)), draw(how))}</title>'
            f'<link rel="alternate" href="{escape(draw(links))}"/><id>{_text_node(draw(links), draw(how))}</id>'
            f"<updated>{_text_node(draw(dates), draw(how))}</updated>"
            f'<author><name>{_text_node(draw(st.one_of(words, hostile_text)), draw(how))}</name></author>'
            f'<category term="{escape(draw(words))}"/>'
            f'<summary type="{draw(st.sampled_from(["text", "html"]))}">{_text_node(draw(bodies), draw(how))}</summary>'
            f'<content type="{content_type}">{content}</content></entry>')


@st.composite
def feed_documents(draw) -> bytes:
    kind = draw(st.sampled_from(["rss2", "rss1", "atom"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "iso-8859-1", "windows-1251", "utf-16", "bogus"]))
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>\n'
    if kind == "atom":
        entries = "".join(draw(st.lists(atom_entry(), min_size=1, max_size=3)))
        text = f'{declaration}<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>{entries}</feed>'
    else:
        items = "".join(draw(st.lists(rss_item(), min_size=1, max_size=3)))
        root = ('<rss version="2.0">' if kind == "rss2" else
                '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">')
        text = f"{declaration}{root}<channel><title>T</title>{items}</channel>{'</rss>' if kind == 'rss2' else '</rdf:RDF>'}"
    try:
        return text.encode("utf-8" if encoding == "bogus" else encoding, errors="replace")
    except UnicodeEncodeError:
        return text.encode("utf-8")


@st.composite
def broken(draw, documents) -> bytes:
    """A document with a few bytes changed, cut short or spliced with random bytes."""
    data = bytearray(draw(documents))
    for _ in range(draw(st.integers(1, 5))):
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        edit = draw(st.sampled_from(["flip", "cut", "insert"]))
        if edit == "flip" and data:
            data[position] = draw(st.integers(0, 255))
        elif edit == "cut":
            del data[position:position + draw(st.integers(1, 64))]
        else:
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


class _Markup(HTMLParser):
    """Every tag and attribute of an HTML string, as a browser's tokenizer sees them."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, attrs))


def assert_sanitized(html: str) -> None:
    """Only the allowed tags and attributes, no script, no event handler, only absolute http(s) links."""
    for tag, attributes in _Markup(html).found:
        assert tag in ALLOWED_TAGS, f"<{tag}> in {html!r}"
        allowed = ALLOWED_ATTRIBUTES.get(tag, set()) | ALLOWED_ATTRIBUTES["*"] | ({"rel"} if tag == "a" else set())
        for name, value in attributes:
            assert name in allowed, f"{name}= on <{tag}> in {html!r}"
            if name in ("href", "src"):
                assert_http_url(value or "")


def assert_http_url(url: str) -> None:
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https") and parts.hostname, f"{url!r} is not an absolute http(s) URL"


def assert_storable(value: str, what: str) -> None:
    """Text either database stores: UTF-8 without NUL (PostgreSQL refuses NUL in text and JSON)."""
    assert "\x00" not in value, f"{what} holds a NUL: {value!r}"
    value.encode("utf-8")


def assert_keeps_promises(entry: Entry) -> None:
    if entry.url:
        assert_http_url(entry.url)
    assert entry.key and len(entry.key) <= 500, entry.key
    assert entry.title
    assert entry.published_at is None or entry.published_at.tzinfo is not None
    for html in (entry.summary_html, entry.content_html,
                 *(value for part, value in entry.structure.items() if part not in ("byline", "place"))):
        assert_sanitized(html)
    assert len(html_to_text(entry.summary_html).split()) <= LEAD_WORDS, entry.summary_html
    assert len(entry.structure.get("byline", "")) <= 2 * 250 + 3
    assert len(entry.structure.get("place", "")) <= 200  # (a feed's own author field is cut when stored)
    for text in (entry.key, entry.url, entry.title, entry.authors or "", entry.section or "",
                 entry.summary_html, entry.content_html, *entry.tags, *entry.structure.values()):
        assert_storable(text, "an entry's text")
    assert entry.content_hash


def assert_parses_or_refuses(document: bytes, content_type: str | None = None) -> None:
    try:
        parsed = parse_feed(document, url=FEED_URL, content_type=content_type)
    except ParseError:
        return
    for entry in parsed.entries:
        assert_keeps_promises(entry)


@settings(max_examples=budget(150))
@given(feed_documents(), st.sampled_from([None, "application/rss+xml", "text/html; charset=koi8-r",
                                          "application/atom+xml; charset=utf-16", "text/xml; charset=nonsense"]))
def test_a_generated_feed_parses_to_entries_that_keep_their_promises(document, content_type):
    assert_parses_or_refuses(document, content_type)


@settings(max_examples=budget(100))
@given(broken(feed_documents()))
def test_a_feed_with_broken_bytes_is_refused_or_parsed_safely(document):
    assert_parses_or_refuses(document)


@settings(max_examples=budget(100))
@given(st.binary(max_size=4096))
def test_random_bytes_are_refused_or_parsed_safely(document):
    assert_parses_or_refuses(document)


@st.composite
def article_pages(draw) -> str:
    """An article page: K2's item layout around generated markup, or any markup at all."""
    body = draw(markup)
    if draw(st.booleans()):
        return draw(hostile_text) + body
    return (f'<html><head><title>{draw(hostile_text)}</title><script>x</script></head><body>'
            f'<div class="itemView"><h2 class="itemTitle">{draw(hostile_text)}</h2>'
            f'<span class="itemDateCreated">{escape(draw(dates))}</span>'
            f'<div class="itemCategory">Published in {draw(words)}</div>'
            f'<div class="itemIntroText">{body}</div><div class="itemFullText">{draw(markup)}</div>'
            f'<div class="itemTags"><a href="/t">{draw(hostile_text)}</a></div></div></body></html>')


@settings(max_examples=budget(100))
@given(st.one_of(article_pages(), hostile_text))
def test_an_article_page_gives_a_sanitized_structure(page):
    found = extract_from_page(page, "https://www.cacianalyst.org/publications/item/1-a.html")
    for html in (found.lead_html, found.body_html, *found.parts.values()):
        assert_sanitized(html)
    assert len(html_to_text(found.lead_html).split()) <= LEAD_WORDS
    assert all(name and len(name) <= 200 for name in found.authors)
