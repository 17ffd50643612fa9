"""Feed documents of every format and of every kind of damage, served locally and polled."""

from __future__ import annotations

import resource
import time

import pytest

from tests.factories import articles, feed_at, poll_url, serve_feed
from tests.feed_documents import Item, atom_document, k2_rss, recent_items, rss_document
from tests.servers import Route

TITLE = "Tbilisi’s Ağa Bridge – Qazaqstan’s café"


def _serve(feed_server, path: str, body: bytes, content_type: str = "application/rss+xml") -> str:
    feed_server.routes[path] = Route(200, body, {"Content-Type": content_type})
    return feed_server.url(path)


@pytest.mark.parametrize("version", ["0.91", "0.92", "1.0", "2.0"])
def test_it_reads_every_rss_version(settings, feed_server, version):
    items = recent_items(3)
    url = _serve(feed_server, "/rss.xml", rss_document(version, feed_server.base, items))
    result = poll_url(url)
    assert (result.new, result.error) == (3, None)
    stored = {a.title: a for a in articles()}
    assert set(stored) == {item.title for item in items}
    first = stored[items[0].title]
    assert first.url == items[0].link(feed_server.base)
    assert first.summary_html == f"<p>{items[0].lead}</p>"
    if version != "0.91":  # 0.91 has no item dates; the poll's time stands in
        assert first.published_at == items[0].published


def test_it_reads_atom(settings, feed_server):
    items = recent_items(2)
    url = _serve(feed_server, "/atom.xml", atom_document(feed_server.base, items), "application/atom+xml")
    assert poll_url(url).new == 2
    first = {a.title: a for a in articles()}[items[0].title]
    assert (first.authors, first.section, first.tags) == (items[0].author, "Analytical Articles", ["Energy"])
    assert first.published_at == items[0].published
    # The link is a K2 item URL: that, not the Atom id, is the Analyst's identity.
    assert first.entry_key == f"k2:127.0.0.1:{items[0].item_id}"


def _titled_feed(encoding_declaration: str = "") -> str:
    return (f'<?xml version="1.0"{encoding_declaration}?><rss version="2.0"><channel><title>t</title>'
            f"<item><title>{TITLE}</title><link>http://127.0.0.1/item/1-a.html</link></item></channel></rss>")


@pytest.mark.parametrize("body, content_type", [
    # UTF-8 labelled ISO-8859-1 by the server, and by the document itself.
    (_titled_feed().encode(), "application/rss+xml; charset=iso-8859-1"),
    (_titled_feed(' encoding="iso-8859-1"').encode(), "application/rss+xml"),
    # Windows-1252 with no charset anywhere, and under text/xml (which RFC 3023 calls ASCII).
    (_titled_feed().replace("ğ", "g").encode("cp1252"), "application/rss+xml"),
    (_titled_feed().replace("ğ", "g").encode("cp1252"), "text/xml"),
    # Declared correctly, in a charset that is not UTF-8.
    (_titled_feed(' encoding="windows-1252"').replace("ğ", "g").encode("cp1252"), "text/xml"),
    (_titled_feed(' encoding="utf-16"').encode("utf-16"), "application/xml"),
], ids=["utf8-header-says-latin1", "utf8-declared-latin1", "cp1252-undeclared",
        "cp1252-text-xml", "cp1252-declared", "utf16-bom"])
def test_wrong_and_missing_charsets_still_read_right(settings, feed_server, body, content_type):
    url = _serve(feed_server, "/charset.xml", body, content_type)
    assert poll_url(url).error is None
    expected = TITLE if "ğ".encode("utf-8") in body or body.startswith(b"\xff\xfe") else TITLE.replace("ğ", "g")
    assert [a.title for a in articles()] == [expected]


def test_an_html_page_is_an_error_not_a_feed(settings, feed_server):
    page = b"<!DOCTYPE html><html><head><title>Analyst</title></head><body><p>Welcome</p></body></html>"
    url = _serve(feed_server, "/publications.html", page, "text/html")
    result = poll_url(url)
    assert "is an HTML page, not an RSS or Atom feed" in result.error
    assert feed_at(url).consecutive_failures == 1 and articles() == []


def test_malformed_xml_with_entries_keeps_them_and_records_a_warning(settings, feed_server):
    document = k2_rss(feed_server.base, recent_items(2)).replace(b"</channel>", b"<item><title>Cut off")
    document = document.replace(b"<title>Analytical Articles</title>", b"<title>Analytical & Articles</title>")
    url = _serve(feed_server, "/malformed.feed", document)
    result = poll_url(url)
    assert result.new == 2 and result.error is None
    feed = feed_at(url)
    assert feed.last_error is None and feed.last_warning.startswith("parsed with errors")


def test_xml_that_is_not_a_feed_records_an_error(settings, feed_server):
    url = _serve(feed_server, "/odd.xml", b"<?xml version='1.0'?><catalog><book>x</book></catalog>", "text/xml")
    assert "holds no feed entries" in poll_url(url).error


def _billion_laughs(levels: int = 10) -> bytes:
    entities = '<!ENTITY lol0 "lollollollollollollollollollol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, levels))
    return (f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]><rss version="2.0"><channel>'
            f"<title>&lol{levels - 1};</title><item><title>&lol{levels - 1};</title>"
            "<link>http://127.0.0.1/item/1-a.html</link></item></channel></rss>").encode()


def test_an_entity_expansion_attack_is_refused_without_expanding(settings, feed_server):
    url = _serve(feed_server, "/laughs.feed", _billion_laughs())
    good = serve_feed(feed_server)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.process_time()
    result = poll_url(url)
    assert "declares XML entities" in result.error
    # Expanded, the title alone would be 30 GB; refused, it costs nothing measurable.
    assert time.process_time() - started < 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 50 * 1024
    assert articles() == [] and poll_url(good).new == 4


def test_external_entities_are_refused_too(settings, feed_server):
    document = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                b'<rss version="2.0"><channel><title>t</title><item><title>&xxe;</title>'
                b"<link>http://127.0.0.1/item/2-b.html</link></item></channel></rss>")
    url = _serve(feed_server, "/xxe.feed", document)
    assert "declares XML entities" in poll_url(url).error


def test_an_entry_without_a_date_keeps_its_first_seen_date(settings, feed_server):
    item = Item(7, "Undated Note", "A. Writer", recent_items(1)[0].published, "Lead.")
    url = _serve(feed_server, "/undated.xml", rss_document("0.91", feed_server.base, [item]))
    poll_url(url)
    first = articles()[0].published_at
    assert poll_url(url).updated == 0 and articles()[0].published_at == first


def test_characters_xml_cannot_hold_are_dropped_and_the_items_kept(settings, feed_server):
    """A control character raw or as a reference (`&#1;`, `&#0;`, `&#xD800;`, `&#99999999;`)
    made lxml or feedparser raise, and the poll with it: each item is kept, without them."""
    items = recent_items(4)
    document = rss_document("2.0", feed_server.base, items)
    document = document.replace(f"<title>{items[0].title}".encode(), f"<title>{items[0].title}&#xD800;".encode())
    document = document.replace(f"{items[1].lead}".encode(), f"&amp;#1;{items[1].lead}\x01".encode())
    document = document.replace(f"<title>{items[2].title}".encode(), f"<title>\x00{items[2].title}&#0;".encode())
    document = document.replace(f"<title>{items[3].title}".encode(), f"<title>{items[3].title}&#99999999;".encode())
    result = poll_url(_serve(feed_server, "/controls.xml", document))
    assert (result.new, result.error) == (4, None)
    stored = {a.url: a for a in articles()}
    assert stored[items[0].link(feed_server.base)].title == items[0].title + "\ufffd"
    assert stored[items[1].link(feed_server.base)].summary_html == f"<p>\ufffd{items[1].lead}</p>"
    assert stored[items[2].link(feed_server.base)].title == items[2].title + "\ufffd"
    assert stored[items[3].link(feed_server.base)].title == items[3].title + "\ufffd"


def test_a_guid_no_url_parser_reads_and_a_huge_k2_id_keep_their_items(settings, feed_server):
    """A guid like `http://[::1` made urljoin raise ValueError, an item id of 5,000 digits made int()
    raise: each failed the whole poll. The first is an opaque guid, the second no K2 item id (its
    key is its link's)."""
    items = recent_items(2)
    document = k2_rss(feed_server.base, items)
    document = document.replace(f'<guid isPermaLink="true">{items[0].link(feed_server.base)}</guid>'.encode(),
                                b"<guid>http://[::1</guid>")
    huge = f"{feed_server.base}/publications/item/{'9' * 5000}-a.html"
    document = document.replace(items[1].link(feed_server.base).encode(), huge.encode())
    result = poll_url(_serve(feed_server, "/guids.xml", document))
    assert (result.new, result.error) == (2, None)
    keys = {a.title: a.entry_key for a in articles()}
    assert keys[items[0].title] == f"k2:127.0.0.1:{items[0].item_id}"  # its link's K2 id, as before
    assert keys[items[1].title] == huge[:500]


def test_a_namespace_with_a_no_break_space_is_an_error_recorded_on_the_feed(settings, feed_server):
    """Python's SAX reader split the namespace URI at the no-break space and feedparser raised
    ValueError ("too many values to unpack"): the poll crashed and nothing was recorded."""
    document = ('<?xml version="1.0" encoding="utf-8"?><rdf:RDF xmlns:rdf="h\u00a0ttp://www.w3.org/1999/02/'
                '22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><channel><title>T</title><item></item>'
                "</channel></rdf:RDF>").encode()
    url = _serve(feed_server, "/namespace.xml", document)
    assert "could not be parsed: too many values to unpack" in poll_url(url).error
    assert feed_at(url).consecutive_failures == 1 and articles() == []
