"""The lead an email shows: the intro's first paragraph(s), no image, no label, no Word debris,
about 90 words cut at a sentence end; and the same bound for any feed that carries whole posts."""

from __future__ import annotations

import dataclasses
from html import escape

from digest.feeds.extract import extract_from_feed_html
from digest.feeds.lead import LEAD_WORDS, bounded_paragraphs
from digest.feeds.sanitize import html_to_paragraphs, html_to_text
from tests.factories import articles, poll_url, serve_feed
from tests.feed_documents import recent_items
from tests.servers import Route

BASE = "https://www.cacianalyst.org/publications/field-reports/item/7-a.html"
SENTENCE = "The ministry published its annual water balance for the southern provinces last week. "  # 13 words


def _words(html: str) -> list[str]:
    return html_to_text(html).split()


def test_a_long_intro_is_cut_at_the_last_sentence_end_within_the_bound():
    intro = "<p>" + SENTENCE * 10 + "</p>"  # 130 words
    found = extract_from_feed_html(intro, "", BASE)
    words = _words(found.lead_html)
    assert len(words) == 6 * 13 <= LEAD_WORDS  # six whole sentences; a seventh would pass 90
    assert html_to_text(found.lead_html).endswith("last week.")
    # Nothing is lost: the paragraph the lead cut stays whole in the article's body.
    assert html_to_text(found.body_html) == (SENTENCE * 10).strip()


def test_initials_and_titles_are_not_sentence_ends():
    text = "Talks between the U.S. Department of Energy and Dr. Arslan Beg of the ministry resumed. " + "More words follow here. " * 30
    [kept] = bounded_paragraphs([text], 16)
    assert kept == "Talks between the U.S. Department of Energy and Dr. Arslan Beg of the ministry resumed."
    # Within ten words only "U.S." and "Dr." end in a full stop: neither is a sentence end.
    assert bounded_paragraphs([text], 10) == ["Talks between the U.S. Department of Energy and Dr. Arslan…"]


def test_a_first_sentence_longer_than_the_bound_is_cut_between_words():
    sentence = " ".join(f"word{n}" for n in range(200)) + "."
    [kept] = bounded_paragraphs([sentence])
    assert kept.endswith("word89…") and len(kept.split()) == LEAD_WORDS


def test_images_labels_and_word_debris_never_reach_the_lead():
    intro = ('<p><img src="/images/map.jpg" alt="Map of the valley"> Farmers in the valley '
             '<span style="mso-bidi-font-family: Calibri"></span>planted early this year.'
             ' yes"> The district\\\'s canals were cleaned in March.</p>')
    full = ('<p><img src="/images/dam.jpg" alt="A dam"><strong>BACKGROUND:</strong> The canals date from the 1960s.</p>'
            "<p>p.MsoNormal, li.MsoNormal {mso-style-parent:\"\"; margin:0in;} Repairs were funded locally.</p>")
    found = extract_from_feed_html(intro, full, BASE)
    assert html_to_text(found.lead_html) == (
        "Farmers in the valley planted early this year. The district's canals were cleaned in March.")
    assert "<img" not in found.lead_html and "Map of the valley" not in found.lead_html
    # The image before BACKGROUND: stays with its part; the label does not.
    background = found.parts["background"]
    assert background.startswith('<p><img src="https://www.cacianalyst.org/images/dam.jpg"')
    assert "BACKGROUND" not in background and "The canals date from the 1960s." in background
    assert "mso-" not in found.body_html and "Repairs were funded locally." in found.body_html


def test_an_article_that_opens_with_background_leads_with_it_unlabelled():
    found = extract_from_feed_html("<p>By Nadia Orr</p>", "<p>BACKGROUND: The strait reopened in May.</p>", BASE)
    assert found.lead_html == "<p>The strait reopened in May.</p>"


def test_an_older_field_report_that_repeats_its_first_paragraph_shows_it_once():
    first = "Shopkeepers at the border market reopened their stalls on Monday."
    found = extract_from_feed_html(f"<p>By Lev Aron</p><p>{first}</p>",
                                   f"<p>{first}</p><p>Customs officers worked late into the night.</p>", BASE)
    assert found.lead_html == f"<p>{first}</p>"
    assert first not in found.body_html and "Customs officers" in found.body_html


def test_the_text_part_keeps_paragraphs_apart_and_never_glues_words():
    html = "<p>November 16th, 2015, The CACI Analyst</p><p>Last month the talks resumed.</p><ul><li>one</li><li>two</li></ul>a<br>b"
    assert html_to_paragraphs(html) == (
        "November 16th, 2015, The CACI Analyst\n\nLast month the talks resumed.\n\none\n\ntwo\n\na b")
    assert html_to_text(html) == "November 16th, 2015, The CACI Analyst Last month the talks resumed. one two a b"


def test_a_full_content_feed_keeps_the_post_but_leads_with_about_90_words(settings, feed_server):
    paragraph = "<p>" + SENTENCE * 8 + "</p>"
    post = paragraph * 35  # about 24.6 KB, as the blog that filled an edition with 561 KB
    assert 24_000 < len(post) < 25_500
    document = ('<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
                "<channel><title>A blog</title><link>https://blog.example.org/</link><item><title>A long post</title>"
                "<link>https://blog.example.org/long-post</link><pubDate>" + _recent_date() + "</pubDate>"
                f"<description>{escape(post)}</description></item></channel></rss>").encode()
    feed_server.routes["/blog.xml"] = Route(200, document, {"Content-Type": "application/rss+xml"})
    poll_url(feed_server.url("/blog.xml"))
    [article] = articles()
    assert 0 < len(_words(article.summary_html)) <= LEAD_WORDS
    assert len(article.summary_html) < 1000
    assert html_to_text(article.content_html) == html_to_text(post)  # the whole post is kept, not mailed


def test_an_analyst_intro_longer_than_the_bound_is_cut_in_the_stored_lead(settings, feed_server):
    item = dataclasses.replace(recent_items(1)[0], byline="By Ona Reyes",
                               lead=(SENTENCE * 9).strip() + "</p><p>A second paragraph that never shows.")
    poll_url(serve_feed(feed_server, [item]))
    [article] = articles()
    assert len(_words(article.summary_html)) == 6 * 13
    assert "never shows" not in article.summary_html and "never shows" in article.content_html


def _recent_date() -> str:
    from email.utils import format_datetime

    return format_datetime(recent_items(1)[0].published)
