"""Subscriber CSV files as anyone might upload them, through the real import on SQLite and
PostgreSQL: every row is imported, or reported with its line number; a file refused whole
(InputError: not UTF-8, no email column, a repeated column) writes nothing."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from digest.addresses import normalize_email
from digest.errors import InputError
from digest.store.db import unit_of_work
from digest.store.models import Subscriber
from digest.subscribers.csv_import import import_subscribers, unguard
from tests.conftest import _empty_tables
from tests.fuzz.strategies import budget, hostile_text

addresses = st.one_of(
    st.emails(),
    st.builds("{}@{}.example.org".format, st.from_regex(r"[a-z0-9._+-]{1,20}", fullmatch=True),
              st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True)),
    st.sampled_from(["", " ", "no-at-sign", "a@", "@b", "a@b@c", "=cmd|' /C calc'!A0@example.org",
                     "a" * 300 + "@example.org", "ANA@Example.ORG", "ana@example.org\x00", "ana@bücher.de"]),
    hostile_text,
)
cells = {
    "name": st.one_of(st.just(""), hostile_text, st.sampled_from(["=1+1", "'=1+1", "@sum(1)"])),
    "sections": st.one_of(st.just(""), st.sampled_from(["Analytical Articles", "field reports; News Digest",
                                                        "Sports", ";;"]), hostile_text),
    "confirmed_at": st.one_of(st.just(""), st.sampled_from(["2024-01-01", "2024-01-01T10:00:00+05:00", "2999-01-01",
                                                            "yesterday", "2024-02-30", "0001-01-01"]), hostile_text),
    "source": st.one_of(st.just(""), hostile_text, st.just("x" * 101)),
    "city": hostile_text,
}


@st.composite
def csv_files(draw) -> tuple[bytes, list[tuple[int, str]]]:
    """A CSV file and, for each record, the line it starts on and its email cell."""
    columns = ["email", *draw(st.lists(st.sampled_from(sorted(cells)), unique=True))]
    columns = draw(st.permutations(columns))
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(columns)
    records = []
    for _ in range(draw(st.integers(0, 8))):
        row = {column: draw(addresses if column == "email" else cells[column]) for column in columns}
        start = _lines(out.getvalue()) + 1
        if draw(st.integers(0, 9)) == 0:  # a row of the wrong width
            writer.writerow([*row.values(), "extra"])
        else:
            writer.writerow(row.values())
            if list(row.values()) != [""]:  # a record of one empty cell is a blank line, skipped
                records.append((start, row["email"]))
    return out.getvalue().encode("utf-8"), records


def _lines(text: str) -> int:
    """Lines as the import counts them (csv's line_num: \\n, \\r and \\r\\n each end one)."""
    return len(io.StringIO(text, newline="").readlines())


def _count() -> int:
    with unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(Subscriber))


def _stored(address: str) -> bool:
    with unit_of_work() as session:
        return session.scalar(select(Subscriber.id).where(Subscriber.email == address)) is not None


def _import(data: bytes):
    with unit_of_work() as session:
        return import_subscribers(session, io.BytesIO(data))


def assert_imported_or_reported(report, records: list[tuple[int, str]], last_line: int) -> None:
    reported = {problem.line for problem in report.problems}
    assert all(1 < line <= last_line for line in reported), report.problems
    for line, email in records:
        if line not in reported:
            # (A quote before =, +, - or @ is an export's guard against formulas, undone on import.)
            assert _stored(normalize_email(unguard(email))), f"line {line} ({email!r}) neither imported nor reported"


@settings(max_examples=budget(25), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(csv_files())
def test_every_row_is_imported_or_reported_by_line(settings, generated):
    data, records = generated
    _empty_tables(settings.DATABASE_URL)  # each example on its own, so that a failure reproduces
    before = _count()
    try:
        report = _import(data)
    except InputError:
        assert _count() == before, "a refused file wrote nothing"
        return
    assert report.rows >= len(records)
    assert_imported_or_reported(report, records, _lines(data.decode("utf-8", "replace")))


@settings(max_examples=budget(25), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=2000), csv_files().map(lambda generated: generated[0]).flatmap(
    lambda data: st.binary(max_size=16).flatmap(lambda noise: st.integers(0, len(data)).map(
        lambda at: data[:at] + noise + data[at:])))))
def test_any_bytes_are_imported_reported_or_refused_whole(settings, data):
    _empty_tables(settings.DATABASE_URL)
    before = _count()
    try:
        report = _import(data)
    except InputError as exc:
        assert str(exc).startswith("the CSV file"), exc
        assert _count() == before, "a refused file wrote nothing"
        return
    assert report.created <= _count() - before
    assert all(problem.line > 1 and problem.reason for problem in report.problems)
