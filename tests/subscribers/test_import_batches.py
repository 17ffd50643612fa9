"""A CSV import written batch by batch, each batch by a thread of its own while the next is read:
what each new reader's audit entry says, a sign-up that lands between a batch's lookup and its
insert, a batch that fails (the batches before it stay, nothing of it is written), and cells
that COPY's text format would otherwise read as escapes."""

from __future__ import annotations

import csv
import gc
import io
import sys

import pytest
from sqlalchemy import func, select

from digest.addresses import address_hash
from digest.store.db import unit_of_work
from digest.store.models import AuditEntry, Subscriber, SubscriberStatus
from digest.subscribers import csv_import
from digest.subscribers.csv_import import import_subscribers
from digest.subscribers.lifecycle import add_subscriber

# Seven good rows, a bad one and a repeat: with batches of two, four batches and a bit.
CSV = ("email,name,confirmed_at,organisation\r\n"
       "a@example.org,Ana,2025-01-01,Forum\r\n"
       "b@example.org,Bek,,\r\n"
       "not-an-email,Bad,,\r\n"
       "c@example.org,Cyrus,2025-02-01,Institute\r\n"
       "d@example.org,Dina,,\r\n"
       "A@example.org,Ana again,,\r\n"
       "e@example.org,Emil,,\r\n"
       "f@example.org,Farida,,\r\n"
       "g@example.org,Gul,,\r\n").encode()
LINES = {"a@example.org": 2, "b@example.org": 3, "c@example.org": 5, "d@example.org": 6, "e@example.org": 8,
         "f@example.org": 9, "g@example.org": 10}


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(csv_import, "BATCH_SIZE", 2)


def _import(actor: str = "cli"):
    with unit_of_work() as session:
        return import_subscribers(session, io.BytesIO(CSV), what="readers.csv", actor=actor)


def _emails() -> set[str]:
    with unit_of_work() as session:
        return set(session.scalars(select(Subscriber.email)))


def test_every_new_reader_gets_an_audit_entry_naming_file_and_line(settings, small_batches, monkeypatch):
    switch_interval, apply, while_writing = sys.getswitchinterval(), csv_import._apply, set()

    def noting_the_switch_interval(*args):
        while_writing.add(sys.getswitchinterval())
        return apply(*args)

    monkeypatch.setattr(csv_import, "_apply", noting_the_switch_interval)
    report = _import(actor="editor:7")
    assert while_writing == {csv_import.SWITCH_INTERVAL}, "the threads take turns often while the import runs"
    assert (report.rows, report.created, report.updated, report.unchanged) == (9, 7, 0, 0)
    assert [(p.line, p.reason.split(" ")[0]) for p in report.problems] == [(4, "email"), (7, "a@example.org")]
    with unit_of_work() as session:
        ids = dict(session.execute(select(Subscriber.email, Subscriber.id)).all())
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        statuses = dict(session.execute(select(Subscriber.email, Subscriber.status)).all())
    assert [(e.action, e.source, e.ip, e.subscriber_id, e.email_hash, e.details) for e in entries] == [
        ("import", "editor:7", None, ids[email], address_hash(email),
         {"file": "readers.csv", "line": line, "outcome": "created"}) for email, line in LINES.items()]
    assert len({entry.at for entry in entries}) == 1, "one import, one time"
    assert statuses["a@example.org"] == SubscriberStatus.CONFIRMED and statuses["b@example.org"] == SubscriberStatus.PENDING
    assert gc.isenabled(), "the cycle collector is on again"
    assert sys.getswitchinterval() == switch_interval, "the GIL's switch interval is put back"


@pytest.mark.postgresql_only  # on SQLite a write after another writer's commit fails the batch (WAL snapshot)
def test_a_sign_up_between_lookup_and_insert_is_left_alone(settings, small_batches, monkeypatch):
    """The batch's lookup found nobody; someone signs up before its insert: their row stays as
    they made it, counted unchanged, with no import entry in the audit log."""
    create = csv_import._copy_created

    def sign_up_first(session, rows, *args):
        if rows[0].address == "c@example.org":
            with unit_of_work() as other:
                add_subscriber(other, "d@example.org", name="Dina herself", source="web")
        return create(session, rows, *args)

    monkeypatch.setattr(csv_import, "_copy_created", sign_up_first)
    report = _import()
    assert (report.created, report.unchanged) == (6, 1)
    with unit_of_work() as session:
        dina = session.scalar(select(Subscriber).where(Subscriber.email == "d@example.org"))
        imported = session.scalars(select(AuditEntry.subscriber_id).where(AuditEntry.action == "import")).all()
    assert (dina.name, dina.source) == ("Dina herself", "web")
    assert len(imported) == 6 and dina.id not in imported


def test_a_batch_that_fails_leaves_the_batches_before_it_and_nothing_of_itself(settings, small_batches,
                                                                                monkeypatch):
    name = "_copy_created" if settings.DATABASE_URL.startswith("postgresql") else "_insert_created"
    create = getattr(csv_import, name)

    def fail_after_inserting(session, rows, *args):
        created = create(session, rows, *args)
        if rows[0].address == "c@example.org":
            raise RuntimeError("the database went away")
        return created

    monkeypatch.setattr(csv_import, name, fail_after_inserting)
    switch_interval = sys.getswitchinterval()
    with pytest.raises(RuntimeError, match="went away"):
        _import()
    assert _emails() == {"a@example.org", "b@example.org"}
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 2
    assert gc.isenabled(), "the cycle collector is on again"
    assert sys.getswitchinterval() == switch_interval, "the GIL's switch interval is put back"
    # Running it again finishes the import.
    monkeypatch.setattr(csv_import, name, create)
    again = _import()
    assert (again.created, again.unchanged) == (5, 2)
    assert _emails() == set(LINES)


def test_cells_with_copy_s_special_characters_are_stored_as_written(settings):
    """On PostgreSQL the rows travel as COPY text, where a backslash, tab, newline and carriage
    return are escapes and \\N is NULL: each such cell is stored as the file has it."""
    name = r"Back\slash \N \. O'Brien"
    source = "a\tb a\\tb c\\N"
    attributes = {"note": "line one\r\nline two\twith a tab \\ and \\N", "city": "Tbilisi, თბილისი",
                  "quote": '"quoted"'}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "name", "source", *attributes])
    writer.writerow(["escapes@example.org", name, source, *attributes.values()])
    writer.writerow(["plain@example.org", "", "", "", "", ""])
    with unit_of_work() as session:
        report = import_subscribers(session, io.BytesIO(out.getvalue().encode()))
    assert (report.created, report.problems) == (2, [])
    with unit_of_work() as session:
        people = {s.email: s for s in session.scalars(select(Subscriber))}
    escaped, plain = people["escapes@example.org"], people["plain@example.org"]
    assert (escaped.name, escaped.source, escaped.attributes) == (name, source, attributes)
    assert list(escaped.attributes) == list(attributes), "the file's column order"
    assert (plain.name, plain.source, plain.attributes, plain.sections) == (None, "import", {}, [])
    assert escaped.id < plain.id, "ids in the file's order"


@pytest.mark.parametrize("last", ["first", "second"])
def test_imports_that_overlap_leave_the_process_as_it_was_whichever_ends_last(last):
    """Two imports in threads of one process: the settings hold while either runs, and the
    process is as before once both have ended, in either order."""
    switch_interval, collector = sys.getswitchinterval(), gc.isenabled()
    settings = csv_import._ImportSettings()
    first, second = settings.applied(), settings.applied()
    first.__enter__()
    second.__enter__()
    (second if last == "first" else first).__exit__(None, None, None)
    assert sys.getswitchinterval() == csv_import.SWITCH_INTERVAL and not gc.isenabled(), "one still runs"
    (first if last == "first" else second).__exit__(None, None, None)
    assert (sys.getswitchinterval(), gc.isenabled()) == (switch_interval, collector)
