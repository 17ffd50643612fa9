"""Every byline shape the Analyst has used since 2002, typed as the editors type it: as separate
paragraphs or as one paragraph split by <br>, plain, with &nbsp; and extra spaces, or in <strong>.
Names and sentences are invented; the shapes are the journal's."""

from __future__ import annotations

import dataclasses
import datetime as dt
from html import escape

import pytest

from digest.feeds.byline import MAX_AFFILIATION
from digest.feeds.extract import extract_from_feed_html, extract_from_page
from tests.factories import articles, poll_url, serve_feed
from tests.feed_documents import k2_item_page, recent_items

BASE = "https://www.cacianalyst.org/publications/analytical-articles/item/1-a.html"
LEAD = "Officials in the capital announced a review of grain export quotas after a dry summer cut yields."
PUBLISHED = dt.date(2023, 12, 1)


@dataclasses.dataclass(frozen=True)
class Shape:
    name: str
    lines: tuple[str, ...]
    authors: list[str]
    place: str | None
    issue: dt.date | None
    published: dt.date = PUBLISHED
    affiliation: str | None = None


SHAPES = [
    Shape("issue-unpadded", ("By Dilara Senn (12/3/2003 issue of the CACI Analyst)",), ["Dilara Senn"], None, dt.date(2003, 12, 3)),
    Shape("issue-padded", ("by Dilara Senn (03/05/2008 issue of the CACI Analyst)",), ["Dilara Senn"], None, dt.date(2008, 3, 5)),
    Shape("issue-place", ("By Dilara Senn, Kazakhstan (3/13/2002 issue of the CACI Analyst)",), ["Dilara Senn"], "Kazakhstan", dt.date(2002, 3, 13)),
    Shape("issue-ampersand", ("By Dilara Senn & Owen Brak (4/9/2008 issue of the CACI Analyst)",), ["Dilara Senn", "Owen Brak"], None, dt.date(2008, 4, 9)),
    Shape("issue-and", ("By Dilara Senn and Owen Brak (4/9/2008 issue of the CACI Analyst)",), ["Dilara Senn", "Owen Brak"], None, dt.date(2008, 4, 9)),
    Shape("issue-no-by", ("Dilara Senn (the 02/10/2013 issue of the CACI Analyst)",), ["Dilara Senn"], None, dt.date(2013, 2, 10)),
    Shape("ordinal-comma-The", ("By Dilara Senn", "November 16th, 2015, The CACI Analyst"), ["Dilara Senn"], None, dt.date(2015, 11, 16)),
    Shape("ordinal-no-comma", ("By Dilara Senn", "January 19th 2017, the CACI Analyst"), ["Dilara Senn"], None, dt.date(2017, 1, 19)),
    Shape("plain-day-journal", ("By Dilara Senn", "April 19, 2021, the CACI Analyst"), ["Dilara Senn"], None, dt.date(2021, 4, 19)),
    Shape("plain-day", ("By Dilara Senn", "November 15, 2023"), ["Dilara Senn"], None, dt.date(2023, 11, 15)),
    Shape("feature", ("Dilara Senn", "March 20, 2025"), ["Dilara Senn"], None, dt.date(2025, 3, 20)),
    Shape("feature-coauthors", ("Dilara Senn and Owen Brak", "February 27, 2025"), ["Dilara Senn", "Owen Brak"], None, dt.date(2025, 2, 27)),
    Shape("no-year", ("By Dilara Senn", "November 19th, the CACI Analyst"), ["Dilara Senn"], None, dt.date(2023, 11, 19)),
    # No year, and the item is from early January: the issue was last November, not next.
    Shape("no-year-not-future", ("By Dilara Senn", "November 19th, the CACI Analyst"), ["Dilara Senn"], None,
          dt.date(2023, 11, 19), published=dt.date(2024, 1, 5)),
    # 2013 wrote both orders: a part over 12 decides; else the reading near the item's own date.
    Shape("issue-2013-month-first", ("By Dilara Senn (03/20/2013 issue of the CACI Analyst)",), ["Dilara Senn"], None,
          dt.date(2013, 3, 20), published=dt.date(2013, 3, 27)),
    Shape("issue-2013-day-first", ("Dilara Senn (the 18/09/2013 issue of the CACI Analyst)",), ["Dilara Senn"], None,
          dt.date(2013, 9, 18), published=dt.date(2013, 9, 19)),
    Shape("issue-2013-day-first-ambiguous", ("Dilara Senn (the 04/09/2013 issue of the CACI Analyst)",), ["Dilara Senn"],
          None, dt.date(2013, 9, 4), published=dt.date(2013, 9, 6)),
    Shape("issue-2013-month-first-ambiguous", ("Dilara Senn (the 03/05/2013 issue of the CACI Analyst)",), ["Dilara Senn"],
          None, dt.date(2013, 3, 5), published=dt.date(2013, 3, 11)),
    Shape("issue-affiliation", ("By Dilara Senn, student, American University in Kyrgyzstan, Bishkek "
                                "(12/19/2001 issue of the CACI Analyst)",), ["Dilara Senn"], "Bishkek",
          dt.date(2001, 12, 19), published=dt.date(2001, 12, 21), affiliation="student, American University in Kyrgyzstan"),
    Shape("issue-affiliation-institute", ("By Dilara Senn, Institute for Regional Studies, Almaty "
                                          "(5/7/2003 issue of the CACI Analyst)",), ["Dilara Senn"], "Almaty",
          dt.date(2003, 5, 7), published=dt.date(2003, 5, 9), affiliation="Institute for Regional Studies"),
    Shape("issue-affiliation-no-place", ("By Dilara Senn, Caspian University (6/2/2005 issue of the CACI Analyst)",),
          ["Dilara Senn"], None, dt.date(2005, 6, 2), published=dt.date(2005, 6, 3), affiliation="Caspian University"),
    # The site's placeholder author on old News Digest items: no author, the issue kept.
    Shape("issue-empty-author", ("By empty (2/4/2004 issue of the CACI Analyst)",), [], None,
          dt.date(2004, 2, 4), published=dt.date(2004, 2, 6)),
    Shape("place-line", ("By Dilara Senn", "Tbilisi", "April 8th, 2016, the CACI Analyst"), ["Dilara Senn"], "Tbilisi",
          dt.date(2016, 4, 8), published=dt.date(2016, 4, 9)),
    Shape("colon", ("By: Dilara Senn",), ["Dilara Senn"], None, None),
    Shape("by-only", ("By Dilara Senn",), ["Dilara Senn"], None, None),
]


def _decorate(line: str, decoration: str) -> str:
    text = escape(line, quote=False)
    if decoration == "nbsp":
        return "&nbsp;" + text.replace(" ", "&nbsp; ", 2) + "  "
    if decoration == "strong":
        return f"<strong>{text}</strong>"
    return text


def intro_html(lines: tuple[str, ...], markup: str, decoration: str = "plain") -> str:
    """The byline's lines and the lead in K2's intro text, in one of the editors' two markups."""
    decorated = [_decorate(line, decoration) for line in lines]
    if markup == "paragraphs":
        return "".join(f"<p>{line}</p>" for line in decorated) + f"<p>{LEAD}</p>"
    if len(lines) == 1:  # one line: the lead follows after a <br> in the same paragraph
        return f"<p>{decorated[0]}<br />{LEAD}</p>"
    return f"<p>{'<br>'.join(decorated)}</p><p>{LEAD}</p>"


@pytest.mark.parametrize("decoration", ["plain", "nbsp", "strong"])
@pytest.mark.parametrize("markup", ["paragraphs", "breaks"])
@pytest.mark.parametrize("shape", SHAPES, ids=[shape.name for shape in SHAPES])
def test_it_reads_every_byline_shape_in_both_markups(shape, markup, decoration):
    found = extract_from_feed_html(intro_html(shape.lines, markup, decoration), "", BASE, shape.published)
    _assert_reads(found, shape)


@pytest.mark.parametrize("decoration", ["plain", "nbsp", "strong"])
@pytest.mark.parametrize("markup", ["paragraphs", "breaks"])
@pytest.mark.parametrize("shape", SHAPES, ids=[shape.name for shape in SHAPES])
def test_it_reads_every_byline_shape_on_the_item_page(shape, markup, decoration):
    """The same shapes in a K2 item page's intro text, dated by the page's own date line."""
    item = dataclasses.replace(recent_items(1)[0], title="A page")
    date_line = shape.published.strftime("%A, %d %B %Y")
    page = k2_item_page(item, date_line=date_line, byline="", tags=[],
                        intro=intro_html(shape.lines, markup, decoration))
    found = extract_from_page(page.decode(), BASE)
    assert found.published_on == shape.published
    _assert_reads(found, shape)


def _assert_reads(found, shape: Shape) -> None:
    assert (found.authors, found.place, found.issue_date, found.affiliation) == (
        shape.authors, shape.place, shape.issue, shape.affiliation)
    assert found.byline == " / ".join(shape.lines)
    # Neither the byline nor its date (or place) line leaks into the lead.
    assert found.lead_html == f"<p>{LEAD}</p>"


@pytest.mark.parametrize("markup", ["paragraphs", "breaks"])
def test_an_unrecognized_byline_is_kept_as_a_byline_not_the_lead(markup):
    line = "By Dilara Senn (Spring issue, CACI Analyst)"
    found = extract_from_feed_html(intro_html((line,), markup), "", BASE, PUBLISHED)
    assert (found.byline, found.authors, found.issue_date) == (line, [], None)
    assert found.lead_html == f"<p>{LEAD}</p>"


def test_a_date_line_without_a_year_never_lands_in_the_future():
    found = extract_from_feed_html(intro_html(("By Dilara Senn", "December 30th, the CACI Analyst"), "breaks"),
                                   "", BASE, dt.date(2024, 12, 2))
    assert found.issue_date == dt.date(2023, 12, 30)


def test_the_corpus_of_every_shape_reads_right_through_a_real_poll(settings, feed_server):
    """Every shape, alternating markups and decorations, as items of one K2 feed served locally."""
    base_items = recent_items(len(SHAPES))
    decorations = ["plain", "nbsp", "strong"]
    items, expected = [], {}
    for index, (shape, item) in enumerate(zip(SHAPES, base_items)):
        markup = ("paragraphs", "breaks")[index % 2]
        published = dt.datetime.combine(shape.published, dt.time(12), dt.UTC)
        # The byline is the start of the intro: the whole intro goes in as the item's "lead".
        items.append(dataclasses.replace(
            item, title=f"Corpus {shape.name}", published=published,
            lead=intro_html(shape.lines, markup, decorations[index % 3]).removeprefix("<p>").removesuffix("</p>")))
        expected[f"Corpus {shape.name}"] = shape
    poll_url(serve_feed(feed_server, items))
    stored = {article.title: article for article in articles()}
    assert set(stored) == set(expected)
    for title, shape in expected.items():
        article = stored[title]
        assert article.authors == (", ".join(shape.authors) or None), title  # never the poster
        assert article.issue_date == shape.issue, title
        assert article.structure.get("place") == shape.place, title
        assert article.structure.get("affiliation") == shape.affiliation, title
        assert article.summary_html == f"<p>{LEAD}</p>", title


@pytest.mark.parametrize("first", [
    "By most accounts the talks went well.",
    "By then the border had reopened",
    "By 2030 the corridor may carry twice as much freight.",
])
def test_a_short_lead_that_starts_like_a_byline_stays_the_lead(first):
    found = extract_from_feed_html(f"<p>{first}</p><p>{LEAD}</p>", "", BASE, PUBLISHED)
    assert (found.byline, found.authors) == (None, [])
    assert found.lead_html == f"<p>{first}</p><p>{LEAD}</p>"


@pytest.mark.parametrize("repeats, read", [(16, True), (22, False)])
def test_an_affiliation_is_bounded_before_it_is_stored(repeats, read):
    """A byline line is read field by field only up to 250 characters, so an affiliation stays
    within its bound; a longer line is no byline the table reads."""
    affiliation = "research fellow, " + "Regional " * repeats + "Institute"
    line = f"By Dilara Senn, {affiliation}, Almaty (5/7/2003 issue of the CACI Analyst)"
    found = extract_from_feed_html(intro_html((line,), "paragraphs"), "", BASE, dt.date(2003, 5, 9))
    if read:
        assert (found.authors, found.place, found.affiliation) == (["Dilara Senn"], "Almaty", affiliation)
        assert len(found.affiliation) <= MAX_AFFILIATION
    else:
        assert len(line) > 250 and (found.authors, found.affiliation) == ([], None)
