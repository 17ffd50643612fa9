"""Bylines and leads as the journal's editors type them, with random names, places and dates, and
lines that are anything at all: a byline in a known shape is read exactly; any other line gives
a byline of bounded fields or none; the lead is bounded, whole paragraphs first, never mid-word."""

from __future__ import annotations

import datetime as dt

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from digest.feeds.byline import read_byline
from digest.feeds.lead import LEAD_WORDS, bounded_paragraphs, lead_html
from tests.fuzz.strategies import budget, hostile_text

# A name: two or three capitalized words of letters, as the journal prints them.
name_word = st.builds(lambda first, rest: first + rest, st.sampled_from("ABCDEGHIKLMNOPRSTVZ"),
                      st.text("abcdefghijklmnopqrstuvwyzäöüéşğ", min_size=2, max_size=10))
names = st.lists(name_word, min_size=2, max_size=3).map(" ".join)
places = st.sampled_from(["Kazakhstan", "Tbilisi", "Baku", "Almaty", "Bishkek", "Dushanbe"])
issues = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 12, 31))


@settings(max_examples=budget(200))
@given(st.lists(names, min_size=1, max_size=2, unique=True), st.one_of(st.none(), places), issues,
       st.sampled_from(["By ", "by ", ""]), st.booleans(), st.booleans())
def test_an_issue_byline_is_read_exactly(authors, place, issue, by, padded, the):
    day = f"{issue.month:02}/{issue.day:02}" if padded else f"{issue.month}/{issue.day}"
    who = " and ".join(authors) + (f", {place}" if place else "")
    line = f"{by}{who} ({'the ' if the else ''}{day}/{issue.year} issue of the CACI Analyst)"
    found = read_byline([line, "The lead."])
    assert found is not None, line
    assert (found.authors, found.place, found.issue_date, found.lines) == (authors, place, issue, 1)


@settings(max_examples=budget(200))
@given(names, issues, st.sampled_from(["th", "", ","]), st.booleans())
def test_a_byline_with_a_date_line_is_read_exactly(author, issue, suffix, journal):
    month = issue.strftime("%B")
    date_line = (f"{month} {issue.day}{suffix if suffix != ',' else ''}, {issue.year}"
                 + (", the CACI Analyst" if journal else ""))
    found = read_byline([f"By {author}", date_line, "The lead."])
    assert found is not None and (found.authors, found.issue_date, found.lines) == ([author], issue, 2), date_line


lines = st.one_of(
    hostile_text,
    st.builds("By {} ({}/{}/{} issue of the CACI Analyst)".format, hostile_text, st.integers(-1, 99),
              st.integers(-1, 99), st.integers(0, 99999)),
    st.builds("{} {}, {}".format, st.sampled_from(["February", "November", "Smarch"]), st.integers(0, 40),
              st.integers(0, 99999)),
    st.builds("By {}".format, hostile_text),
    st.text(min_size=200, max_size=600),
)


@settings(max_examples=budget(300))
@given(st.lists(lines, min_size=1, max_size=3).map(lambda found: [" ".join(line.split()) for line in found]),
       st.one_of(st.none(), st.dates()))
def test_any_first_lines_give_a_bounded_byline_or_none(first_lines, published):
    found = read_byline(first_lines, published)
    if found is None:
        return
    assert 1 <= found.lines <= min(2, len(first_lines))
    assert len(found.text) <= 2 * 250 + 3
    assert all(isinstance(name, str) and name and len(name) <= 200 for name in found.authors)
    assert found.place is None or 0 < len(found.place) <= 200
    assert found.issue_date is None or isinstance(found.issue_date, dt.date)


paragraphs = st.lists(st.one_of(hostile_text, st.text(" .!?”abcdefgh ABC U.S. Dr. Mr.", max_size=900)),
                      max_size=6)


@settings(max_examples=budget(300))
@given(paragraphs, st.integers(1, 200))
def test_a_lead_is_bounded_and_keeps_whole_paragraphs_first(texts, limit):
    kept = bounded_paragraphs(texts, limit)
    normalized = [" ".join(text.split()) for text in texts if text.split()]
    assert sum(len(paragraph.split()) for paragraph in kept) <= limit
    assert kept[:-1] == normalized[:len(kept) - 1], "whole paragraphs come first"
    if kept:
        last = kept[-1].removesuffix("…")
        source = normalized[len(kept) - 1]
        assert source.startswith(last), "the last paragraph is cut, not changed"
        assert len(last) == len(source) or not source[len(last)].isalnum() or kept[-1].endswith("…"), \
            "cut at a sentence end, never inside a word"
    if normalized and len(normalized[0].split()) <= limit:
        assert kept[0] == normalized[0], "a first paragraph that fits is shown whole"


@settings(max_examples=budget(200))
@given(paragraphs)
def test_a_lead_as_html_is_escaped_text(texts):
    html = lead_html(texts)
    assume(html)
    inner = html.removeprefix("<p>").removesuffix("</p>").split("</p><p>")
    assert all("<" not in part and ">" not in part for part in inner)
    assert len(" ".join(inner).split()) <= LEAD_WORDS
