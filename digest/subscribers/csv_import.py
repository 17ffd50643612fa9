"""Import subscribers from CSV in batches of 10,000: one SELECT of the batch's existing rows and
one of its suppressions, the new rows in one statement (on PostgreSQL by COPY, with their audit
entries), one bulk UPDATE; the next batch is read while one is written. 100k rows take seconds.

Columns: `email` (required), `name`, `sections` (names from SECTION_ORDER separated by `;`,
empty for all), `confirmed_at` (ISO 8601; naive times are UTC; empty imports the row as pending,
and no confirmation is mailed), `source` (default `import`). Any other column is kept in the
subscriber's attributes; the state columns that an export adds are ignored, so an export
imports back unchanged.

Never re-activates anyone: a suppressed or unsubscribed address is skipped and reported. An
existing subscriber keeps what they chose (sections, format, pause); an import only adds a
missing name, merges attributes, and confirms a pending row that has a `confirmed_at`. Running
the same file twice changes nothing the second time. Every bad row is reported with its line
number and reason, and the import goes on; so is a cell longer than its column could take
(MAX_CELL characters for most), however long. Each batch is committed, with the import's progress
when a worker runs it (subscribers/imports.py): an interrupted import is finished by running it again.
"""

from __future__ import annotations

import contextvars
import csv
import datetime as dt
import gc
import io
import json
import re
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _json_string
from typing import BinaryIO

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.errors import InputError
from digest.store.models import AuditEntry, Subscriber, SubscriberFormat, SubscriberStatus, Suppression
from digest.store.bulk import copies, copy_lines, copy_text, write_rows
from digest.store.upsert import among_strings, insert_ignoring_duplicates
from digest.addresses import address_hasher, normalize_email
from digest.subscribers.lifecycle import clean_name, refuse_control_characters

IMPORT_COLUMNS = ("email", "name", "sections", "confirmed_at", "source")
# What csv_export writes besides the import columns; read back, they mean nothing.
STATE_COLUMNS = ("status", "format", "paused", "suppressed", "unsubscribed_at", "created_at")
# Columns that are not attributes ("" is a header cell left empty).
_NOT_ATTRIBUTES = frozenset(IMPORT_COLUMNS + STATE_COLUMNS + ("",))
BATCH_SIZE = 10_000
# Seconds a thread may hold the GIL while another waits for it, during an import (Python's
# default is 5 ms): see _ImportSettings.
SWITCH_INTERVAL = 0.0005
MAX_SOURCE = 100
# The longest cell an import reads, for a column not in _CELL_LIMITS (a name is folded and then
# held to MAX_NAME; an attribute is kept as it came). A longer cell refuses its row, unquoted.
MAX_CELL = 10_000
_CELL_LIMITS = {"email": Subscriber.__table__.c.email.type.length, "confirmed_at": 100}
_SHORTEST_LIMIT = min(MAX_CELL, *_CELL_LIMITS.values())
_SECTION_CHOICES = 1_000
# A cell an export had to guard against spreadsheet formulas starts with this quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RowProblem:
    line: int
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.problems)

    def add(self, batch: ImportReport) -> None:
        """Count in what a batch's lines found."""
        self.rows += batch.rows
        self.created += batch.created
        self.updated += batch.updated
        self.unchanged += batch.unchanged
        self.problems += batch.problems


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made
# building the rows a tenth of the time spent reading a file.
@dataclass(slots=True)
class _Row:
    line: int
    address: str
    email_hash: str  # address_hash(address), worked out as the row is read, not while a batch is written
    name: str | None
    sections: list[str]
    confirmed_at: dt.datetime | None
    source: str
    attributes: dict[str, str]
    # PostgreSQL: the row as a line of _STAGING's COPY text, written by the thread reading the file
    # while the database works, so that writing a batch costs the database's time only.
    staged: str | None = None


@dataclass(frozen=True)
class _Rules:
    """What every row is checked against, worked out once per import, not once per row."""
    now: dt.datetime
    sections: dict[str, str]  # a section's name in lower case: its name, in SECTION_ORDER
    address_hash: Callable[[str], str]
    copies: bool  # whether new rows are COPYed (PostgreSQL), and so each row's `staged` is wanted
    # A `sections` cell already read: the sections it names. A file repeats a few choices on
    # every row; at most _SECTION_CHOICES of them are kept, with their JSON's COPY text.
    chosen: dict[str, list[str]] = field(default_factory=dict)
    chosen_json: dict[tuple[str, ...], str] = field(default_factory=dict)

    @classmethod
    def of(cls, now: dt.datetime, order: list[str], *, copies: bool) -> _Rules:
        return cls(now, {name.lower(): name for name in order}, address_hasher(), copies)

    def sections_of(self, raw: str) -> list[str]:
        """The sections a `sections` cell names, in SECTION_ORDER; InputError naming one unknown."""
        if (known := self.chosen.get(raw)) is not None:
            return known
        chosen = set()
        for part in filter(None, (p.strip() for p in raw.split(";"))):
            if (name := self.sections.get(part.lower())) is None:
                raise InputError(f"section {part!r} is not one of: {', '.join(self.sections.values())}")
            chosen.add(name)
        sections = [name for name in self.sections.values() if name in chosen]
        if len(self.chosen) < _SECTION_CHOICES:
            self.chosen[raw] = sections
        return sections

    def staged(self, row: _Row) -> str:
        """The row as a line of COPY text, its fields in _STAGING's order."""
        if (sections := self.chosen_json.get(chosen := tuple(row.sections))) is None:
            sections = copy_text(json.dumps(row.sections))
            if len(self.chosen_json) < _SECTION_CHOICES:
                self.chosen_json[chosen] = sections
        return "\t".join((
            str(row.line), row.email_hash, copy_text(row.address), copy_text(row.name),
            copy_text(row.confirmed_at and row.confirmed_at.isoformat()), copy_text(row.source),
            sections, copy_text(_json_strings(row.attributes)),
            _PENDING if row.confirmed_at is None else _CONFIRMED)) + "\n"


_PENDING, _CONFIRMED = SubscriberStatus.PENDING.value, SubscriberStatus.CONFIRMED.value


def _json_strings(strings: dict[str, str]) -> str:
    """json.dumps(strings) for a dict of strings, the same text in less than half the time:
    json.dumps sets up an encoder on every call, a row's attributes take two or three strings."""
    return "{" + ", ".join([f"{_json_string(key)}: {_json_string(value)}" for key, value in strings.items()]) + "}"


def unguard(cell: str) -> str:
    """Undo csv_export's guard against formulas: a quote before =, +, -, @."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in FORMULA_START else cell


# What a spreadsheet's "Unicode text" or an old export writes instead of UTF-8.
_UTF16_BOMS = {b"\xff\xfe": "FF FE", b"\xfe\xff": "FE FF"}
_SAVE_AS_UTF8 = 'save it as "CSV UTF-8" and import it again'
_LATIN1 = f"the file looks like Latin-1 or Windows-1252; {_SAVE_AS_UTF8}"
# A byte that was not UTF-8, as surrogateescape keeps it.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def _refuse_other_encodings(stream: io.BufferedReader, what: str) -> None:
    """UTF-16 (with or without a byte order mark) is refused whole, with the reason: read as
    UTF-8, every row of it would be garbage."""
    head = stream.peek(4096)[:4096]
    bom = _UTF16_BOMS.get(head[:2])
    if bom:
        raise InputError(f"{what} is not UTF-8: it is UTF-16 (it starts with the byte order mark {bom}); "
                         f"{_SAVE_AS_UTF8}")
    # UTF-16 without a mark: every other byte of Latin text is NUL. One stray NUL is a bad cell,
    # refused with its row.
    if head and head.count(0) * 4 >= len(head):
        raise InputError(f"{what} is not UTF-8: a quarter or more of its bytes are NUL, as in UTF-16 "
                         f"text (or it is not a text file at all); {_SAVE_AS_UTF8}")


def _not_utf8(text: str) -> str | None:
    """The first byte that was not UTF-8, as surrogateescape kept it (U+DC80..U+DCFF)."""
    found = _ESCAPED_BYTE.search(text)
    return None if found is None else f"0x{ord(found.group()) - 0xDC00:02X}"


def _column_names(cells: list[str], what: str) -> list[str]:
    header = [unguard(h.strip()).lower() for h in cells]
    for name in header:
        if byte := _not_utf8(name):
            raise InputError(f"{what}, line 1: the column names are not valid UTF-8 (byte {byte}); {_LATIN1}")
        try:
            refuse_control_characters(name, f"column name {name!r}")
        except InputError as exc:
            raise InputError(f"{what}, line 1: {exc}") from None
    return header


def _records(stream: BinaryIO, what: str) -> Iterator[tuple[int, dict[str, str] | InputError]]:
    """(first line of the record, cells by column) for every non-empty record; in place of the
    cells, what is wrong with a record that has not as many fields as the header, or a cell
    longer than the csv module reads."""
    buffered = io.BufferedReader(stream)
    _refuse_other_encodings(buffered, what)
    # utf-8-sig drops a byte order mark; newline="" lets csv handle \r\n inside and between rows;
    # bytes that are not UTF-8 are kept as surrogates, so that the row, not the whole file, is
    # refused, and the message can name the byte.
    text = io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    try:
        header = _column_names(next(reader, []), what)
    except csv.Error:
        raise InputError(f"{what}, line 1: a column name is longer than {csv.field_size_limit()} characters") from None
    if "email" not in header:
        raise InputError(f"{what} has no email column (its columns: {', '.join(header) or 'none'})")
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise InputError(f"{what} has the column {duplicates[0]!r} more than once")
    line = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error:
            # With `strict` off, only a field over the reader's limit raises; the reader drops
            # the rest of that line and goes on with the next.
            start, line = line + 1, reader.line_num
            yield start, InputError(f"has a cell longer than {csv.field_size_limit()} characters "
                                    f"(no column takes more than {MAX_CELL})")
            continue
        start, line = line + 1, reader.line_num
        if not cells or cells == [""]:
            continue
        if len(cells) != len(header):
            yield start, InputError(f"has {len(cells)} fields where the header has {len(header)}")
            continue
        # Few cells start with an export's guard quote: one search of the joined cells finds
        # whether any might, rather than a call of unguard per cell.
        if "'" in "".join(cells):
            cells = [unguard(c) for c in cells]
        yield start, dict(zip(header, cells, strict=True))


def _parse(line: int, cells: dict[str, str] | InputError, rules: _Rules) -> _Row:
    if isinstance(cells, InputError):
        raise cells
    # Most rows' cells are all short: one pass in C finds whether any needs a closer look.
    if max(map(len, cells.values())) > _SHORTEST_LIMIT:
        _refuse_long_cells(cells)
    # A byte that was not UTF-8 is kept as a (non-ASCII) surrogate: most rows are all ASCII,
    # and one test of the joined cells is cheaper than a regex search (or a test) per cell.
    if not "".join(cells.values()).isascii():
        for column, value in cells.items():
            if byte := _not_utf8(value):
                raise InputError(f"is not valid UTF-8 (byte {byte} in column {column!r}): {_LATIN1}")
    address = normalize_email(cells["email"], what="email")
    sections = rules.sections_of(raw) if (raw := cells.get("sections", "").strip()) else []
    confirmed_at = None
    if raw := cells.get("confirmed_at", "").strip():
        try:
            confirmed_at = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise InputError(f"confirmed_at {raw!r} is not an ISO 8601 date or time") from None
        confirmed_at = confirmed_at.replace(tzinfo=dt.UTC) if confirmed_at.tzinfo is None else confirmed_at
        if confirmed_at > rules.now:
            raise InputError(f"confirmed_at {raw!r} is in the future")
    source = cells.get("source", "").strip() or "import"
    if len(source) > MAX_SOURCE:
        raise InputError(f"source is longer than {MAX_SOURCE} characters")
    refuse_control_characters(source, "source")
    attributes = {key: value for key, value in cells.items() if value != "" and key not in _NOT_ATTRIBUTES}
    for key, value in attributes.items():
        refuse_control_characters(value, key)
    row = _Row(line, address, rules.address_hash(address), clean_name(cells.get("name"), address), sections,
               confirmed_at, source, attributes)
    if rules.copies:
        row.staged = rules.staged(row)
    return row


def _refuse_long_cells(cells: dict[str, str]) -> None:
    """Before anything reads a cell, or a message quotes it."""
    for column, value in cells.items():
        if len(value) > (limit := _CELL_LIMITS.get(column, MAX_CELL)):
            raise InputError(f"{column} is longer than {limit} characters")


# Called in each batch's transaction, before it commits: what the batch's lines found (rows
# read, counts, problems) and the last line it covers.
RecordProgress = Callable[[Session, "ImportReport", int], None]


def import_subscribers(session: Session, stream: BinaryIO, *, what: str = "the CSV file",
                       actor: str = "cli", now: dt.datetime | None = None, after_line: int = 0,
                       record: RecordProgress | None = None) -> ImportReport:
    """Import the CSV read from `stream` (bytes); `what` names the file in messages.

    Lines up to `after_line` were imported by an earlier run: they are read only so that a later
    repeat of one of their addresses is still reported as a repeat, and are not counted again.
    `record` writes each batch's progress in that batch's transaction (subscribers/imports.py).

    Batches are written by a thread of their own, one at a time: the database writes one batch
    while this thread reads and checks the next, so on two cores an import takes about the longer
    of the two rather than their sum. Only that thread uses the session until the import returns."""
    now = now or utcnow()
    rules = _Rules.of(now, get_settings().SECTION_ORDER, copies=copies(session))
    report = ImportReport()
    seen: dict[str, int] = {}
    batch: list[_Row] = []
    found = ImportReport()  # what the lines read since the last batch left found: written with the next
    last_line = after_line
    with _import_settings.applied(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-import") as writer:
        writing: Future[ImportReport] | None = None
        for line, cells in _records(stream, what):
            last_line = max(last_line, line)
            try:
                row = _parse(line, cells, rules)
            except InputError as exc:
                if line > after_line:
                    found.rows += 1
                    found.problems.append(RowProblem(line, str(exc)))
                continue
            if line <= after_line:
                seen.setdefault(row.address, line)
                continue
            found.rows += 1
            if row.address in seen:
                found.problems.append(RowProblem(line, f"{row.address} repeats line {seen[row.address]}; skipped"))
                continue
            seen[row.address] = line
            batch.append(row)
            if len(batch) >= BATCH_SIZE:
                # At most one batch is held besides the one being read; a failed write stops the import here.
                if writing:
                    report.add(writing.result())
                writing = _write(writer, session, batch, found, line, what, actor, now, record)
                batch, found = [], ImportReport()
        if writing:
            report.add(writing.result())
        if batch or found.rows:
            report.add(_write(writer, session, batch, found, last_line, what, actor, now, record).result())
    report.problems.sort(key=lambda p: p.line)
    return report


def _write(writer: ThreadPoolExecutor, session: Session, batch: list[_Row], found: ImportReport, through: int,
           what: str, actor: str, now: dt.datetime, record: RecordProgress | None) -> Future[ImportReport]:
    # In the caller's context: what it bound (the ids its log lines carry) holds for the writes.
    return writer.submit(contextvars.copy_context().run, _apply, session, batch, found, through, what, actor, now,
                         record)


class _ImportSettings:
    """What the process is set to while any import runs, put back when the last one ends (imports
    may overlap, in threads of one process): Python's cycle collector off, and a shorter switch
    interval for the GIL. Imports run in a worker's pool process (task `import_subscribers`),
    which runs one task at a time: the setting lasts as long as the import and reaches no other
    task, and never the web server. Measured on 100k rows (bench/import_subscribers.py, two
    runs each): a first import on SQLite 5.1-5.2 s with it, 6.7-7.2 s without; on PostgreSQL
    2.9-3.5 s against 3.3-3.6 s.

    The collector: the rows of a batch live until it is written, and it would go over them (and
    every other object of the process) again and again, a fifth of the import's CPU, to find no
    cycle; reference counting still frees every row. The switch interval: the writing thread
    waits on the database some thirty times a batch (each statement, each block of COPY data),
    and each time it has the answer it must take the GIL back from the reading thread, which
    never lets go of it by itself: with Python's 5 ms those waits were a third of the import's
    time, the database idle through them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._collector_was_on = True
        self._switch_interval = 0.0

    @contextmanager
    def applied(self) -> Iterator[None]:
        with self._lock:
            if not self._running:
                self._collector_was_on, self._switch_interval = gc.isenabled(), sys.getswitchinterval()
                gc.disable()
                sys.setswitchinterval(min(self._switch_interval, SWITCH_INTERVAL))
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if not self._running:
                    sys.setswitchinterval(self._switch_interval)
                    if self._collector_was_on:
                        gc.enable()


_import_settings = _ImportSettings()


def _apply(session: Session, batch: list[_Row], found: ImportReport, through: int, what: str, actor: str,
           now: dt.datetime, record: RecordProgress | None) -> ImportReport:
    """Write one batch and commit it, with its progress; what its lines found (`found`: what
    reading them found, and what writing them adds)."""
    report = found
    if batch:
        _write_batch(session, batch, report, what, actor, now)
    if record is not None:
        record(session, report, through)
    session.commit()
    return report


def _write_batch(session: Session, batch: list[_Row], report: ImportReport, what: str, actor: str,
                 now: dt.datetime) -> None:
    suppressed = dict(session.execute(
        select(Suppression.email_hash, Suppression.reason)
        .where(among_strings(session, Suppression.email_hash, [row.email_hash for row in batch]))
    ).all())
    existing = {r.email: r for r in session.execute(
        select(Subscriber.id, Subscriber.email, Subscriber.status, Subscriber.name, Subscriber.attributes,
               Subscriber.confirmed_at).where(among_strings(session, Subscriber.email, [row.address for row in batch]))
    )}
    new, updates, audits = [], [], []
    for row in batch:
        reason = suppressed.get(row.email_hash)
        old = existing.get(row.address)
        if reason is not None:
            report.problems.append(RowProblem(row.line, f"{row.address} is suppressed ({reason.value}); not imported"))
        elif old is not None and old.status == SubscriberStatus.UNSUBSCRIBED:
            report.problems.append(RowProblem(row.line, f"{row.address} has unsubscribed; not imported"))
        elif old is None:
            new.append(row)
        else:
            change = _changes(old, row)
            if change:
                updates.append({"id": old.id, **change})
                audits.append(_audit_row(old.id, row, actor, what, now, "updated", sorted(change)))
            else:
                report.unchanged += 1
    if new:
        created = (_copy_created if copies(session) else _insert_created)(session, new, what, actor, now)
        report.created += created
        report.unchanged += len(new) - created  # added meanwhile by a sign-up
    if updates:
        session.execute(update(Subscriber), updates)
        report.updated += len(updates)
    if audits:
        _write_audits(session, audits)


def _status(row: _Row) -> SubscriberStatus:
    return SubscriberStatus.PENDING if row.confirmed_at is None else SubscriberStatus.CONFIRMED


# PostgreSQL: a batch's new rows are COPYed here (each as _Rules.staged wrote it), with the line
# and the address's hash that their audit entries need. Temporary: each connection has its own,
# gone when the batch commits.
_STAGING = Table(
    "import_staging", MetaData(),
    Column("line", Integer), Column("email_hash", String(64)),
    *(Column(name, Subscriber.__table__.c[name].type) for name in ("email", "name", "confirmed_at", "source")),
    # JSON and the state as text, which the INSERT casts.
    Column("sections", Text), Column("attributes", Text), Column("status", String(20)),
    prefixes=["TEMPORARY"], postgresql_on_commit="DROP")

# Inserts the staged rows with the ids it draws for them, and writes each one's audit entry from
# the same ids, in one statement: no ids travel back to Python and no audit rows are built there.
# A plain INSERT, as the rows were found missing just before: ON CONFLICT's speculative insertion
# cost a seventh of the batch's time. A sign-up that added one of the addresses meanwhile makes
# it fail; _CREATE_STAGED_SKIPPING then writes the batch instead.
_CREATE_STAGED = text("""
WITH staged AS MATERIALIZED (
    SELECT nextval('subscribers_id_seq') AS id, *
    FROM (SELECT * FROM import_staging ORDER BY line) AS in_file_order),
created AS (
    INSERT INTO subscribers (id, email, name, sections, attributes, status, confirmed_at, source,
                             signup_at, format, paused, soft_bounces, created_at)
    SELECT id, email, name, CAST(sections AS json), CAST(attributes AS json), status, confirmed_at, source,
           :now, :format, false, 0, :now
    FROM staged)
INSERT INTO audit_log (at, action, subscriber_id, email_hash, source, ip, details)
SELECT :now, 'import', id, email_hash, :actor, NULL,
       json_build_object('file', CAST(:what AS text), 'line', line, 'outcome', 'created')
FROM staged
ORDER BY line""")

# The same, but skipping an address that a sign-up added meanwhile: the audit entries are written
# for the rows inserted only.
_CREATE_STAGED_SKIPPING = text("""
WITH created AS (
    INSERT INTO subscribers (email, name, sections, attributes, status, confirmed_at, source,
                             signup_at, format, paused, soft_bounces, created_at)
    SELECT email, name, CAST(sections AS json), CAST(attributes AS json), status, confirmed_at, source,
           :now, :format, false, 0, :now
    FROM import_staging
    ORDER BY line
    ON CONFLICT DO NOTHING
    RETURNING id, email)
INSERT INTO audit_log (at, action, subscriber_id, email_hash, source, ip, details)
SELECT :now, 'import', created.id, staged.email_hash, :actor, NULL,
       json_build_object('file', CAST(:what AS text), 'line', staged.line, 'outcome', 'created')
FROM created JOIN import_staging AS staged USING (email)
ORDER BY staged.line""")


def _copy_created(session: Session, rows: list[_Row], what: str, actor: str, now: dt.datetime) -> int:
    """PostgreSQL: COPY the new rows into the staging table, then insert them with their audit
    entries; how many were created."""
    _STAGING.create(session.connection())
    copy_lines(session, _STAGING, [column.name for column in _STAGING.c], "".join(row.staged for row in rows))
    parameters = {"now": now, "format": SubscriberFormat.HTML.value, "actor": actor, "what": what}
    try:
        with session.begin_nested():
            return session.execute(_CREATE_STAGED, parameters).rowcount
    except IntegrityError:
        # Rolled back to before the INSERT; the staged rows are still there.
        return session.execute(_CREATE_STAGED_SKIPPING, parameters).rowcount


def _insert_created(session: Session, rows: list[_Row], what: str, actor: str, now: dt.datetime) -> int:
    """SQLite: one executemany that skips an address a sign-up added meanwhile, then the audit
    entries of the rows it inserted; how many were created."""
    subscribers = Subscriber.__table__
    session.execute(insert_ignoring_duplicates(session, subscribers), [{
        "email": row.address, "name": row.name, "sections": row.sections, "attributes": row.attributes,
        "status": _status(row), "confirmed_at": row.confirmed_at, "source": row.source, "signup_at": now,
        "format": SubscriberFormat.HTML, "paused": False, "soft_bounces": 0, "created_at": now,
    } for row in rows])
    # The rows this import made carry its time.
    created = session.execute(select(subscribers.c.id, subscribers.c.email).where(
        subscribers.c.email.in_([row.address for row in rows]), subscribers.c.created_at == now)).all()
    by_address = {row.address: row for row in rows}
    if created:
        _write_audits(session, [_audit_row(i, by_address[email], actor, what, now, "created")
                                for i, email in created])
    return len(created)


def _write_audits(session: Session, audits: list[dict]) -> None:
    columns = list(audits[0])
    write_rows(session, AuditEntry.__table__, columns, ([a[column] for column in columns] for a in audits))


def _changes(old, row: _Row) -> dict:
    """What an import may change on an existing subscriber (never what they chose themselves)."""
    change = {}
    if row.name and not old.name:
        change["name"] = row.name
    merged = {**(old.attributes or {}), **row.attributes}
    if merged != (old.attributes or {}):
        change["attributes"] = merged
    if row.confirmed_at is not None and old.status == SubscriberStatus.PENDING:
        change["status"] = SubscriberStatus.CONFIRMED
        change["confirmed_at"] = row.confirmed_at
    return change


def _audit_row(subscriber_id: int, row: _Row, actor: str, what: str, now: dt.datetime,
               outcome: str, fields: list[str] | None = None) -> dict:
    details = {"file": what, "line": row.line, "outcome": outcome}
    if fields:
        details["fields"] = fields
    return {"at": now, "action": "import", "subscriber_id": subscriber_id,
            "email_hash": row.email_hash, "source": actor, "ip": None, "details": details}
