"""Feed documents for tests, written for this project in the shape of the Analyst's K2 feeds."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.utils import format_datetime
from html import escape


@dataclass(frozen=True)
class Item:
    item_id: int
    title: str
    author: str
    published: dt.datetime
    lead: str
    body: str = "<p>BACKGROUND: A paragraph of context.</p><p>CONCLUSIONS: A closing paragraph.</p>"
    section: str = "Analytical Articles"
    byline: str | None = None  # the first paragraph of K2's intro text, as the Analyst writes it
    full_text: bool = True  # False: the feed carries only the intro (K2's "intro only" setting)
    tags: tuple[str, ...] = ()  # K2's tags, as the item's further <category> elements

    def link(self, base: str) -> str:
        alias = "-".join("".join(c if c.isalnum() else " " for c in self.title.lower()).split())[:60]
        return f"{base}/publications/analytical-articles/item/{self.item_id}-{alias}.html"


def k2_rss(base: str, items: list[Item], title: str = "Analytical Articles") -> bytes:
    """An RSS 2.0 document as Joomla K2 writes it: CDATA description with intro and full text."""
    entries = []
    for item in items:
        link = escape(item.link(base))
        description = (
            f'<div class="K2FeedImage"><img src="/media/k2/items/cache/{item.item_id:x}_S.jpg" '
            f'alt="{escape(item.title)}" /></div>'
            f'<div class="K2FeedIntroText">{_byline(item)}<p>{item.lead}</p></div>'
            + (f'<div class="K2FeedFullText">{item.body}</div>' if item.full_text else "")
        )
        entries.append(
            f"<item><title>{escape(item.title)}</title><link>{link}</link>"
            f'<guid isPermaLink="true">{link}</guid>'
            f"<description><![CDATA[{description}]]></description>"
            f"<author>no-reply@example.org ({escape(item.author)})</author>"
            f"<category>{escape(item.section)}</category>"
            + "".join(f"<category>{escape(tag)}</category>" for tag in item.tags)
            + f"<pubDate>{format_datetime(item.published)}</pubDate></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>{base}/publications/analytical-articles.html</link>"
        f"<description>Test feed</description>{''.join(entries)}</channel></rss>"
    ).encode()


def recent_items(count: int = 4, now: dt.datetime | None = None) -> list[Item]:
    """`count` articles published over the last days (dates relative to now, so tests age well)."""
    now = now or dt.datetime.now(dt.UTC)
    topics = [
        ("Port Capacity Shapes the Middle Corridor", "Anna Keller"),
        ("Reservoir Rules and the Downstream Harvest", "Bakhyt Orlov"),
        ("Committee Hearings Test a New Oversight Law", "Clara Ivers"),
        ("Gas Contracts Meet a Shrinking Horizon", "Davit Ruhl"),
        ("Border Markets Reopen Along the Fergana Valley", "Eldar Moss"),
    ]
    return [
        Item(
            item_id=20001 + index,
            title=topics[index % len(topics)][0] + (f" ({index})" if index >= len(topics) else ""),
            author=topics[index % len(topics)][1],
            published=(now - dt.timedelta(days=1 + index, hours=3)).replace(microsecond=0),
            lead=f"Lead paragraph {index}: what changed, why it matters, and what to watch next.",
        )
        for index in range(count)
    ]


def _byline(item: Item) -> str:
    return f"<p>{escape(item.byline)}</p>" if item.byline else ""


# An article written for these tests in the Analyst's structure (no sentence is the journal's).
ANALYST_LEAD = ("Riparian states of the Amu Darya have agreed to resume seasonal talks on water "
                "releases after two dry summers. The agreement is modest, yet it reopens a channel "
                "that had been closed since the last dispute over reservoir schedules.")
ANALYST_BODY = (
    "<p><strong>BACKGROUND:</strong> Upstream reservoirs fill in winter, when downstream farms "
    "need little water, and release in summer only if agreements hold. Two dry years strained "
    "that arrangement and left irrigation districts short during the cotton season.</p>"
    "<p>Earlier rounds produced schedules that no party enforced.</p>"
    "<p><strong>IMPLICATIONS:</strong> A working channel lowers the risk that a shortage turns "
    "into a border incident. It also gives lenders a reason to finance canal repairs.</p>"
    "<p><strong>CONCLUSIONS:</strong> The talks are a beginning rather than a settlement; their "
    "test comes with next summer's releases.</p>"
    "<p>AUTHOR’S BIO: Mira Castellan is a researcher on water governance in Central Asia.</p>"
)
# What the site appends after the article, inside and outside the item's body.
HITS_BLOCK = ('<div class="itemHitsBlock"><span class="itemHits">Read <b>4821</b> times</span>'
              '<span class="itemDateModified">Last modified on Tuesday, 14 May 2024</span></div>')
SITE_BOILERPLATE = (
    '<div class="moduletable"><h3>Visit also</h3><ul><li><a href="/silk-road-papers">Papers</a></li></ul></div>'
    '<div class="moduletable"><h3>Staff Publications</h3><p>Oped: An example staff piece, 2024.</p></div>'
    '<div class="moduletable"><p>The Central Asia-Caucasus Analyst is a biweekly publication of a '
    "research center; it offers analysis of the region for practitioners.</p></div>"
    "<div><p>Sign up for upcoming events, latest news and articles from the CACI Analyst</p></div>"
)


def k2_item_page(item: Item, *, date_line: str, byline: str, tags: list[str], lead: str = ANALYST_LEAD,
                 body: str = ANALYST_BODY, intro: str | None = None) -> bytes:
    """An article page as Joomla K2 renders an item: header, intro text, full text, tags, and
    the site's boilerplate after it. `intro` (markup) replaces the byline and lead paragraphs."""
    tag_links = "".join(f'<li><a href="/publications/itemlist/tag/{escape(t)}">{escape(t)}</a></li>' for t in tags)
    return (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>" + escape(item.title) + " - CACI Analyst</title>"
        "<script>var tracker = 1;</script><style>.itemView{color:red}</style></head><body>"
        '<div id="k2Container" class="itemView">'
        f'<div class="itemHeader"><span class="itemDateCreated">{escape(date_line)}</span>'
        f'<h2 class="itemTitle">{escape(item.title)}</h2>'
        f'<div class="itemCategory"><span>Published in</span> <a href="/publications/analytical-articles">{escape(item.section)}</a></div></div>'
        '<div class="itemBody">'
        f'<div class="itemIntroText">{intro or f"<p>{escape(byline)}</p><p>{escape(lead)}</p>"}</div>'
        f'<div class="itemFullText">{body}{HITS_BLOCK}</div>'
        f'<div class="itemTagsBlock"><span>Tagged under</span><ul class="itemTags">{tag_links}</ul></div>'
        "</div></div>"
        f"{SITE_BOILERPLATE}</body></html>"
    ).encode()


def rss_document(version: str, base: str, items: list[Item]) -> bytes:
    """The same items as RSS 0.91, 0.92, 1.0 (RDF) or 2.0 without K2's markup."""
    def item_xml(item: Item) -> str:
        link = escape(item.link(base))
        date = f"<pubDate>{format_datetime(item.published)}</pubDate>" if version != "0.91" else ""
        dc = f"<dc:date>{item.published.isoformat()}</dc:date><dc:creator>{escape(item.author)}</dc:creator>"
        about = f' rdf:about="{link}"' if version == "1.0" else ""
        return (f"<item{about}><title>{escape(item.title)}</title><link>{link}</link>"
                f"<description>{escape('<p>' + item.lead + '</p>')}</description>"
                + (dc if version == "1.0" else date) + "</item>")
    items_xml = "".join(item_xml(item) for item in items)
    if version == "1.0":
        return ('<?xml version="1.0" encoding="utf-8"?>'
                '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" '
                'xmlns:dc="http://purl.org/dc/elements/1.1/">'
                f'<channel rdf:about="{base}/"><title>Field Reports</title><link>{base}/</link>'
                f"<description>Test</description></channel>{items_xml}</rdf:RDF>").encode()
    return ('<?xml version="1.0" encoding="utf-8"?>'
            f'<rss version="{version}"><channel><title>Field Reports</title><link>{base}/</link>'
            f"<description>Test</description><language>en</language>{items_xml}</channel></rss>").encode()


def atom_document(base: str, items: list[Item]) -> bytes:
    entries = "".join(
        f"<entry><title>{escape(item.title)}</title><link rel=\"alternate\" href=\"{escape(item.link(base))}\"/>"
        f"<id>tag:example.org,2026:{item.item_id}</id><updated>{item.published.isoformat()}</updated>"
        f"<author><name>{escape(item.author)}</name></author>"
        f'<category term="{escape(item.section)}"/><category term="Energy"/>'
        f'<summary type="html">{escape("<p>" + item.lead + "</p>")}</summary></entry>'
        for item in items
    )
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f'<title>News Digest</title><id>{base}/atom</id><updated>2026-01-01T00:00:00Z</updated>'
            f"{entries}</feed>").encode()
