"""The Analyst's byline: the first line(s) of an article's intro, typed by its editors in the shapes
the journal has used since 2002. A table of line shapes says which sequences are bylines; what
each line holds (authors, place, issue date) is read from the shape that matched."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

_MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December")
# "November 16th, 2015", "January 19th 2017", "April 19, 2021", "November 19th" (no year).
_MONTH_DAY = rf"(?P<month>{_MONTHS})\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?:\s*,?\s*(?P<year>\d{{4}}))?"
_JOURNAL = r"(?:\s*,?\s*(?:the\s+)?(?:CACI|Central\s+Asia-Caucasus)\s+Analyst)?"
# People: no digits, no brackets, no sentence end inside (a word of 3+ letters then ". ").
_WHO = r"(?P<who>(?:(?![a-z]{3}\.\s)[^()\d:]){3,200}?)"
_BY = r"by\s*:?\s+"

LINE_SHAPES: dict[str, re.Pattern[str]] = {
    # By Anna Petrova, Kazakhstan (3/13/2002 issue of the CACI Analyst); Anna Petrova (the 02/10/2013 issue ...)
    "author_and_issue": re.compile(
        rf"^(?:{_BY})?{_WHO}\s*\(\s*(?:the\s+)?(?P<numeric>\d{{1,2}}/\d{{1,2}}/\d{{4}})\s+issue\b[^)]*\)\s*\.?$", re.I),
    # By Anna Petrova, March 20, 2025[, the CACI Analyst]
    "author_and_date": re.compile(rf"^{_BY}{_WHO}\s*,\s*{_MONTH_DAY}{_JOURNAL}\s*\.?$", re.I),
    # November 16th, 2015, The CACI Analyst | March 20, 2025 | November 19th, the CACI Analyst
    "date": re.compile(rf"^{_MONTH_DAY}{_JOURNAL}\s*\.?$", re.I),
    # By Anna Petrova | By: Anna Petrova | BY ANNA PETROVA and JOHN DOE
    "by_author": re.compile(rf"^{_BY}{_WHO}\s*\.?$", re.I),
    # Tbilisi (a Field Report's place on a line of its own, between the author and the date line)
    "place": re.compile(r"^(?P<place>[A-ZÀ-Þ][\w’'.-]*(?:,?\s+[A-ZÀ-Þ][\w’'.-]*){0,2})$"),
    # Anna Petrova and John Doe (a feature article's byline: only with a date line after it)
    "author": re.compile(r"^(?P<who>[A-Z][\w’'.-]*(?:\s+(?:[A-Z][\w’'.-]*|and|&|de|van|von|der|al|el|bin|ibn|,)){1,11})$"),
}

# Which sequences of lines are a byline, tried in order; the first that matches wins.
BYLINE_SHAPES: tuple[tuple[str, ...], ...] = (
    ("author_and_issue",),
    ("author_and_date",),
    ("by_author", "date"),
    ("by_author", "place", "date"),
    ("author", "date"),
    ("date",),
    ("by_author",),
)

# A first line that is plainly a byline though no shape reads it: kept as the byline, not the lead.
# ("By" and a capital: "By then the border had reopened" is not one.)
_BYLINE_LIKE = re.compile(r"^(?:[Bb][Yy]\s*:?\s+[A-ZÀ-Þ]|.*\b(?i:CACI\s+Analyst|issue\s+of\s+the)\b)")
_MAX_BYLINE_WORDS = 25
MAX_BYLINE_LINES = max(len(shape) for shape in BYLINE_SHAPES)
# The site's placeholder author on old News Digest items ("By empty (2/4/2004 issue ...)").
_PLACEHOLDER_AUTHORS = frozenset({"empty"})
# A comma part of an older byline that starts the author's affiliation rather than naming a
# person: a lowercase role ("student, American University in Kyrgyzstan") or an institution.
_AFFILIATION_START = re.compile(
    r"^(?:[a-z]|.*\b(?:University|Institute|Academy|College|Cent(?:er|re)|Foundation|School|Ministry)\b)")
MAX_AFFILIATION = 200
# The longest place kept ("Bishkek", "Nagorno-Karabakh, Azerbaijan"): a place is a few words.
MAX_PLACE = 80
# A numeric issue date is never weeks after its item's publication, nor months before it.
_ISSUE_AFTER_ITEM = dt.timedelta(days=14)
_ISSUE_BEFORE_ITEM = dt.timedelta(days=62)
_SENTENCE_END = re.compile(r"""[.!?][”"’')\]]*$""")


@dataclass
class Byline:
    text: str  # the byline's lines, as the editors typed them (joined by " / ")
    lines: int  # how many of the given lines it took
    authors: list[str] = field(default_factory=list)
    place: str | None = None
    issue_date: dt.date | None = None
    affiliation: str | None = None  # "student, American University in Kyrgyzstan"
    placeholder_author: bool = False  # "By empty": no author, and none to take from elsewhere


def read_byline(lines: list[str], published: dt.date | None = None) -> Byline | None:
    """The byline at the start of `lines` (already whitespace-normalized text), or None when the
    first line is the article itself. `published` (the item's date) gives a year to a date line
    without one and picks the order of a numeric date's day and month when both could be either."""
    for shape in BYLINE_SHAPES:
        if len(lines) < len(shape):
            continue
        matches = [LINE_SHAPES[name].match(line) for name, line in zip(shape, lines)]
        if all(matches) and all(len(line) <= 250 for line in lines[:len(shape)]):
            found = _byline(lines[:len(shape)], matches, published)
            if all(_looks_like_a_name(name) for name in found.authors):
                return found
    first = lines[0] if lines else ""
    if first and len(first.split()) <= _MAX_BYLINE_WORDS and _BYLINE_LIKE.match(first) \
            and not _SENTENCE_END.search(first):
        return Byline(text=first, lines=1)
    return None


def _looks_like_a_name(name: str) -> bool:
    """A person (or an institution): a few words, mostly capitalized; "By most accounts the
    talks went well" is a lead, not a byline."""
    words = name.split()
    capitalized = sum(1 for word in words if word[:1].isupper())
    return 1 <= len(words) <= 6 and capitalized * 2 > len(words)


def _byline(lines: list[str], matches: list[re.Match], published: dt.date | None) -> Byline:
    found = Byline(text=" / ".join(lines), lines=len(lines))
    for match in matches:
        groups = match.groupdict()
        if groups.get("who"):
            found.authors, found.place, found.affiliation = people_and_place(groups["who"])
            named = [name for name in found.authors if name.lower() not in _PLACEHOLDER_AUTHORS]
            found.placeholder_author = not named and bool(found.authors)
            found.authors = named
        if groups.get("place"):
            found.place = groups["place"]
        if groups.get("numeric"):
            found.issue_date = numeric_date(groups["numeric"], published)
        elif groups.get("month"):
            found.issue_date = _month_date(groups["month"], groups["day"], groups.get("year"), published)
    found.place = found.place[:MAX_PLACE] if found.place else None
    return found


def people_and_place(who: str) -> tuple[list[str], str | None, str | None]:
    """'A and B, Tbilisi' -> ([A, B], 'Tbilisi', None). A last comma part without 'and', of at
    most three words and not an institution is a place, as in the Analyst's older bylines. The
    comma parts from the first that reads as an affiliation (a lowercase role, an institution)
    up to the place are the author's affiliation:
    'A, student, X University, Bishkek' -> ([A], 'Bishkek', 'student, X University')."""
    who = who.strip(" ,")
    place = None
    head, comma, tail = who.rpartition(",")
    if comma and not re.search(r"\band\b|&", tail) and len(tail.split()) <= 3 \
            and not _AFFILIATION_START.match(tail.strip()):
        who, place = head, tail.strip()
    parts = [part.strip() for part in who.split(",")]
    starts = [index for index, part in enumerate(parts) if index and _AFFILIATION_START.match(part)]
    affiliation = None
    if starts:
        parts, rest = parts[:starts[0]], parts[starts[0]:]
        affiliation = ", ".join(part for part in rest if part)[:MAX_AFFILIATION] or None
    names = re.split(r"\s*(?:,|\band\b|&)\s*", ", ".join(parts))
    return [name.strip() for name in names if name.strip()], place, affiliation


def numeric_date(value: str, published: dt.date | None) -> dt.date | None:
    """The Analyst wrote month first, except for a while in 2013 day first ("the 18/09/2013
    issue"). A part over 12 decides; else the reading that falls where an issue date can fall
    from the item's date (the nearer when both do), and month first when neither does."""
    first, second, year = (int(part) for part in value.split("/"))
    readings = [day for day in (_date(year, first, second), _date(year, second, first)) if day]
    if published:
        plausible = [day for day in readings
                     if published - _ISSUE_BEFORE_ITEM <= day <= published + _ISSUE_AFTER_ITEM]
        if plausible:
            return min(plausible, key=lambda day: abs(day - published))
    return readings[0] if readings else None


def _date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _month_date(month: str, day: str, year: str | None, published: dt.date | None) -> dt.date | None:
    """The date a date line names. Without a year: the item's year, or the one before when that
    would put the issue after the item (never a date in the future)."""
    reference = published or dt.datetime.now(dt.UTC).date()
    try:
        if year:
            return dt.datetime.strptime(f"{month} {day} {year}", "%B %d %Y").date()
        named = dt.datetime.strptime(f"{month} {day} {reference.year}", "%B %d %Y").date()
        return named if named <= reference else named.replace(year=reference.year - 1)
    except ValueError:  # February 30th, or February 29th of a year without one
        return None
