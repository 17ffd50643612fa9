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
            f'<div class="K2FeedIntroText"><p>{item.lead}</p></div>'
            f'<div class="K2FeedFullText">{item.body}</div>'
        )
        entries.append(
            f"<item><title>{escape(item.title)}</title><link>{link}</link>"
            f'<guid isPermaLink="true">{link}</guid>'
            f"<description><![CDATA[{description}]]></description>"
            f"<author>no-reply@example.org ({escape(item.author)})</author>"
            f"<category>{escape(item.section)}</category>"
            f"<pubDate>{format_datetime(item.published)}</pubDate></item>"
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
