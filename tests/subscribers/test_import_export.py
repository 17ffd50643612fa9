"""CSV import and export, from the command line and the JSON API: bad rows reported by line,
a BOM, Windows line endings, duplicates, suppressed and unsubscribed addresses, idempotence."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

import pytest
from sqlalchemy import select, update

from digest.store.db import unit_of_work
from digest.store.models import Subscriber, SubscriberStatus
from digest.subscribers.csv_export import export_subscribers
from digest.subscribers.csv_import import import_subscribers
from digest.subscribers.lifecycle import add_subscriber, sign_up, unsubscribe
from digest.subscribers.suppressions import record_bounce
from tests.factories import subscribers
from tests.cli import digest
from tests.conftest import wait_for


ROWS = [  # (line, text) of a file exported from a spreadsheet on Windows
    (1, "email,name,sections,confirmed_at,source,Organisation"),
    (2, "ana@example.org,Ana Kvaratskhelia,Analytical Articles;field reports,2025-11-02T10:00:00Z,conference,Policy Forum"),
    (3, "not-an-email,Bad Row,,,,"),
    (4, "BEK@Example.org,Bek Nurlanov,,,,"),
    (5, '"cyrus@example.org","Cyrus ""Cy"" Vale","",2025-10-01,,"First line'),
    (6, 'second line"'),
    (7, "bek@example.org,Bek Again,,,,"),
    (8, "dina@example.org,Dina,Poetry,,,"),
    (9, "emil@example.org,Emil,,yesterday,,"),
    (10, "farida@example.org,Farida,,2999-01-01,,"),
    (11, "legacy@example.org,Legacy,,2024-01-01,,"),
    (12, "left@example.org,Left,,2024-01-01,,"),
    (13, "bounced@example.org,Bounced,,2024-01-01,,"),
    (14, "too,many,fields,in,this,row,here"),
    (15, ""),
    (16, "hana@example.org,Hana \udcff,,,,"),
    (17, "waiting@example.org,Waiting Reader,,2025-06-01,,Institute"),
]
PROBLEMS = [
    (3, "email 'not-an-email' is not valid"),
    (7, "bek@example.org repeats line 4; skipped"),
    (8, "section 'Poetry' is not one of: Analytical Articles, Feature Articles, Field Reports, News Digest"),
    (9, "confirmed_at 'yesterday' is not an ISO 8601 date or time"),
    (10, "confirmed_at '2999-01-01' is in the future"),
    (11, "legacy@example.org has unsubscribed; not imported"),
    (12, "left@example.org is suppressed (unsubscribe); not imported"),
    (13, "bounced@example.org is suppressed (hard_bounce); not imported"),
    (14, "has 7 fields where the header has 6"),
    (16, "is not valid UTF-8"),
]


def _csv_bytes() -> bytes:
    text = "\r\n".join(line for _, line in ROWS) + "\r\n"
    return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogateescape")  # a BOM, and one byte that is not UTF-8


def _existing() -> None:
    """Someone who unsubscribed before suppressions existed, someone who unsubscribed since,
    a hard bounce, and a pending sign-up without a name."""
    [legacy, left] = subscribers("legacy@example.org", "left@example.org")
    with unit_of_work() as session:
        session.execute(update(Subscriber).where(Subscriber.id == legacy).values(status=SubscriberStatus.UNSUBSCRIBED))
        unsubscribe(session, left)
        record_bounce(session, "bounced@example.org", "hard")
        add_subscriber(session, "waiting@example.org")


def _people() -> dict[str, Subscriber]:
    with unit_of_work() as session:
        return {s.email: s for s in session.scalars(select(Subscriber))}


def _export(status=None) -> str:
    out = io.StringIO()
    with unit_of_work() as session:
        export_subscribers(session, out, status)
    return out.getvalue()


def _problems(stdout: str) -> list[tuple[int, str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("line ")]
    return [(int(line.split(":")[0].removeprefix("line ")), line.split(": ", 1)[1]) for line in lines]


def test_the_cli_imports_good_rows_and_reports_every_bad_one_by_line(worker, tmp_path):
    _existing()
    path = tmp_path / "subscribers.csv"
    path.write_bytes(_csv_bytes())
    result = digest("subscribers", "import", str(path))
    assert result.returncode == 1, result.stderr  # bad rows
    reported = _problems(result.stdout)
    assert [line for line, _ in reported] == [line for line, _ in PROBLEMS]
    for (_, reason), (_, expected) in zip(reported, PROBLEMS, strict=True):
        assert reason.startswith(expected), (reason, expected)
    assert "14 rows: 3 created, 1 updated, 0 unchanged, 10 skipped" in result.stdout

    people = _people()
    ana, bek, cyrus, waiting = (people[f"{n}@example.org"] for n in ("ana", "bek", "cyrus", "waiting"))
    assert (ana.status, ana.name, ana.sections, ana.source, ana.attributes) == (
        SubscriberStatus.CONFIRMED, "Ana Kvaratskhelia", ["Analytical Articles", "Field Reports"], "conference",
        {"organisation": "Policy Forum"})
    assert ana.confirmed_at.isoformat() == "2025-11-02T10:00:00+00:00"
    assert (bek.status, bek.name, bek.source) == (SubscriberStatus.PENDING, "Bek Nurlanov", "import")
    assert cyrus.name == 'Cyrus "Cy" Vale' and cyrus.attributes == {"organisation": "First line\r\nsecond line"}
    assert cyrus.confirmed_at.isoformat() == "2025-10-01T00:00:00+00:00"
    # An existing pending row is completed and confirmed; nobody who left comes back.
    assert (waiting.status, waiting.name, waiting.attributes) == (
        SubscriberStatus.CONFIRMED, "Waiting Reader", {"organisation": "Institute"})
    assert {people[a].status for a in ("legacy@example.org", "left@example.org")} == {SubscriberStatus.UNSUBSCRIBED}
    assert not {"bounced@example.org", "dina@example.org", "hana@example.org"} & set(people)

    # The same file again changes nothing and reports the same rows.
    before = _export()
    again = digest("subscribers", "import", str(path))
    assert "14 rows: 0 created, 0 updated, 4 unchanged, 10 skipped" in again.stdout
    assert _problems(again.stdout) == reported
    assert _export() == before


def test_a_missing_file_or_email_column_is_refused_whole(worker, tmp_path):
    missing = digest("subscribers", "import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    path = tmp_path / "names.csv"
    path.write_text("name,source\nAna,web\n")
    refused = digest("subscribers", "import", str(path))
    assert refused.returncode == 2 and "has no email column (its columns: name, source)" in refused.stderr
    assert _people() == {}


def test_an_export_imports_back_unchanged_and_guards_against_formulas(settings, rate_limits):
    _existing()
    with unit_of_work() as session:
        import_subscribers(session, io.BytesIO(_csv_bytes()))
        sign_up(session, "-trick@example.org", name='=HYPERLINK("http://evil.example")', source="web")
    exported = _export()
    rows = list(csv.DictReader(io.StringIO(exported)))
    tricky = next(r for r in rows if r["email"] == "'-trick@example.org")
    assert tricky["name"] == "'=HYPERLINK(\"http://evil.example\")", "a spreadsheet must not run it"
    with unit_of_work() as session:
        report = import_subscribers(session, io.BytesIO(exported.encode()))
    assert (report.created, report.updated) == (0, 0)
    assert [p.reason for p in report.problems] == [
        "legacy@example.org has unsubscribed; not imported",
        "left@example.org is suppressed (unsubscribe); not imported",
    ]
    assert _export() == exported
    assert _people()["-trick@example.org"].name == '=HYPERLINK("http://evil.example")'


def test_the_cli_exports_all_or_by_status(settings, tmp_path):
    subscribers("ana@example.org", "bek@example.org")
    subscribers("pending@example.org", confirmed=False)
    everyone = digest("subscribers", "export")
    assert everyone.returncode == 0
    assert [r["email"] for r in csv.DictReader(io.StringIO(everyone.stdout))] == \
        ["ana@example.org", "bek@example.org", "pending@example.org"]
    out = tmp_path / "confirmed.csv"
    written = digest("subscribers", "export", "--status", "confirmed", "--out", str(out))
    assert "2 subscribers written" in written.stdout
    rows = list(csv.DictReader(out.open(newline="")))
    assert [(r["email"], r["status"]) for r in rows] == [("ana@example.org", "confirmed"), ("bek@example.org", "confirmed")]
    bad = digest("subscribers", "export", "--status", "happy")
    assert bad.returncode == 2 and "--status 'happy' must be one of" in bad.stderr


@pytest.fixture
def api(client, worker):
    """The HTTP client and an editor's API token."""
    from digest.accounts import add_editor, issue_api_token

    with unit_of_work() as session:
        add_editor(session, "ed@example.org", "a long enough password")
        token = issue_api_token(session, "ed@example.org")
    return client, token


def test_the_api_imports_and_exports_for_an_editor(api):
    api, token = api
    _existing()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    answer = api.post("/api/subscribers/import", content=_csv_bytes(), headers=headers)
    assert answer.status_code == 202
    report = wait_for(lambda: (r := api.get(answer.json()["status_url"], headers=headers).json())["finished"] and r,
                      what="the import to finish")
    assert (report["rows"], report["created"], report["updated"], report["skipped"]) == (14, 3, 1, 10)
    assert [p["line"] for p in report["problems"]] == [line for line, _ in PROBLEMS]
    exported = api.get("/api/subscribers/export", params={"status": "pending"}, headers=headers)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert [r["email"] for r in csv.DictReader(io.StringIO(exported.text))] == ["bek@example.org"]
    bad = api.get("/api/subscribers/export", params={"status": "happy"}, headers=headers)
    assert bad.status_code == 400 and "status 'happy' must be one of" in bad.json()["error"]


def test_the_api_refuses_anyone_who_is_not_an_editor(api):
    api, token = api
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {token}"}):
        for answer in (api.get("/api/subscribers/export", headers=headers),
                       api.post("/api/subscribers/import", content=_csv_bytes(), headers=headers)):
            assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
    assert _people() == {}


def test_the_import_shows_a_progress_bar_on_a_terminal(worker, tmp_path):
    path = tmp_path / "few.csv"
    path.write_bytes(b"email\r\na@example.org\r\nb@example.org\r\n")
    # TTY_COMPATIBLE makes rich draw as on a terminal although stderr is a pipe here.
    result = subprocess.run([sys.executable, "-m", "digest", "subscribers", "import", str(path)],
                            capture_output=True, text=True, timeout=60, env=dict(os.environ, TTY_COMPATIBLE="1"))
    assert result.returncode == 0, result.stderr
    assert "importing few.csv" in result.stderr and "3/3\x1b[0m lines" in result.stderr
    assert "2 rows: 2 created" in result.stdout


def test_a_header_ending_in_an_empty_column_imports_its_rows(settings):
    """A spreadsheet's export with a trailing comma on every line: the unnamed column is no
    attribute, and a row with too few fields is still reported as such."""
    data = b"email,name,\r\nzara@example.org,Zara,\r\nyuri@example.org,Yuri\r\n"
    with unit_of_work() as session:
        report = import_subscribers(session, io.BytesIO(data))
    assert (report.created, [(p.line, p.reason) for p in report.problems]) == (
        1, [(3, "has 2 fields where the header has 3")])
    assert _people()["zara@example.org"].attributes == {}
