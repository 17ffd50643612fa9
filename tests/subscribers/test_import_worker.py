"""CSV imports run by a real worker process: the page and the CLI queue them, the worker records
its progress, the page and the CLI show it; a redelivered or interrupted import counts each row
once; a huge upload, NULs and enormous cells, and two imports at once."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from digest.store.db import unit_of_work
from digest.store.models import AuditEntry, ImportState, Subscriber, SubscriberImport
from digest.subscribers import csv_import
from digest.subscribers.imports import claim_import, import_progress, keep_upload, run_import
from digest.web.app import app
from tests.cli import digest
from tests.conftest import wait_for
from tests.web.editor_helpers import csrf, logged_in

CSV = b"email,name\r\nana@example.org,Ana\r\nnot-an-address,Nobody\r\nbek@example.org,Bek\r\nana@example.org,Again\r\n"


@pytest.fixture
def worker(settings, celery_worker):
    return celery_worker


def _finished(import_id: int) -> dict:
    def done():
        with unit_of_work() as session:
            progress = import_progress(session, import_id)
        return progress if progress["finished"] else None
    return wait_for(done, timeout=60, what=f"import {import_id} to finish")


def _count(model) -> int:
    with unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_the_page_queues_the_import_and_its_page_follows_it_to_the_result(worker):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        logged_in(client)
        token = csrf(client, "/subscribers")
        answer = client.post("/subscribers/import", data={"csrf_token": token},
                             files={"file": ("readers.csv", CSV, "text/csv")})
        assert answer.status_code == 303
        status_page = answer.headers["location"]
        import_id = int(status_page.rsplit("/", 1)[1])
        progress = _finished(import_id)
        assert (progress["state"], progress["rows"], progress["created"], progress["skipped"]) == ("done", 4, 2, 2)
        shown = client.get(status_page)
        assert shown.status_code == 200 and "Import finished" in shown.text and "4 rows: 2 new" in shown.text
        assert "Line 3:" in shown.text and "Line 5: ana@example.org repeats line 2" in shown.text
        assert 'http-equiv="refresh"' not in shown.text  # a finished import's page stays still
        assert f'href="{status_page}">readers.csv</a> · done' in client.get("/subscribers").text
        as_json = client.get(f"/api/subscribers/imports/{import_id}").json()
        assert [p["line"] for p in as_json["problems"]] == [3, 5]


def test_a_queued_import_s_page_refreshes_itself_without_script(settings):
    with unit_of_work() as session:
        import_id = keep_upload(session, CSV, what="readers.csv", actor="test")
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        logged_in(client)
        shown = client.get(f"/subscribers/imports/{import_id}").text
    assert 'http-equiv="refresh" content="2"' in shown and "Waiting for a worker" in shown


def test_the_cli_follows_the_worker_and_exits_1_listing_the_bad_lines(worker, tmp_path):
    path = tmp_path / "readers.csv"
    path.write_bytes(CSV)
    result = digest("subscribers", "import", str(path))
    assert result.returncode == 1, result.stderr
    assert "line 3: email 'not-an-address' is not valid" in result.stdout
    assert "line 5: ana@example.org repeats line 2; skipped" in result.stdout
    assert "4 rows: 2 created, 0 updated, 0 unchanged, 2 skipped" in result.stdout
    clean = tmp_path / "clean.csv"
    clean.write_bytes(b"email\ncyrus@example.org\n")
    again = digest("subscribers", "import", str(clean))
    assert again.returncode == 0 and "1 rows: 1 created" in again.stdout


def test_a_file_refused_whole_fails_the_import_and_exits_2(worker, tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("name,source\nAna,web\n")
    refused = digest("subscribers", "import", str(path))
    assert refused.returncode == 2 and "has no email column (its columns: name, source)" in refused.stderr
    missing = digest("subscribers", "import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_a_file_over_the_upload_limit_is_refused_before_anything_is_kept(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("IMPORT_MAX_BYTES", "2048")
    from tests.conftest import reset_caches
    reset_caches()
    path = tmp_path / "huge.csv"
    path.write_bytes(b"email\n" + b"".join(b"reader%d@example.org\n" % i for i in range(200)))
    refused = digest("subscribers", "import", str(path))
    assert refused.returncode == 2 and "larger than an import takes (2048 bytes)" in refused.stderr
    assert _count(SubscriberImport) == 0


def test_nuls_and_an_enormous_cell_are_bad_rows_by_line_through_the_worker(worker, tmp_path):
    path = tmp_path / "debris.csv"
    path.write_bytes(b"email,name\nana@example.org,A\x00na\n" + b"bek@example.org," + b"x" * 300_000
                     + b"\ncyrus@example.org,Cyrus\n")
    result = digest("subscribers", "import", str(path))
    assert result.returncode == 1, result.stderr
    lines = [line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("line ")]
    assert lines == ["line 2", "line 3"]
    assert "3 rows: 1 created" in result.stdout


def test_the_same_import_delivered_twice_counts_each_row_once(worker):
    from workers.tasks import import_subscribers

    with unit_of_work() as session:
        import_id = keep_upload(session, CSV, what="readers.csv", actor="test")
    import_subscribers.delay(import_id)
    import_subscribers.delay(import_id)
    progress = _finished(import_id)
    wait_for(lambda: _attempts(import_id) >= 1, what="the import to be claimed")
    assert (progress["rows"], progress["created"], progress["skipped"]) == (4, 2, 2)
    assert _count(AuditEntry) == 2


def _attempts(import_id: int) -> int:
    with unit_of_work() as session:
        return session.get(SubscriberImport, import_id).attempt


def test_a_run_stopped_after_a_batch_is_resumed_and_counts_each_row_once(settings, monkeypatch):
    """A worker killed mid-import: its message is delivered again, and the new run goes on after
    the last batch it committed, its counts exact; the killed run, if it were still going, could
    write no batch more."""
    monkeypatch.setattr(csv_import, "BATCH_SIZE", 2)
    rows = b"email\n" + b"".join(b"reader%d@example.org\n" % i for i in range(7)) + b"reader0@example.org\n"
    with unit_of_work() as session:
        import_id = keep_upload(session, rows, what="readers.csv", actor="test")
    real_write = csv_import._write_batch
    written = []

    def killed_on_the_second_batch(session, batch, *args):
        if len(written) == 1:
            raise KeyboardInterrupt("worker killed")
        written.append(batch)
        return real_write(session, batch, *args)
    monkeypatch.setattr(csv_import, "_write_batch", killed_on_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        run_import(import_id)
    monkeypatch.setattr(csv_import, "_write_batch", real_write)
    with unit_of_work() as session:
        stopped = session.get(SubscriberImport, import_id)
        assert (stopped.state, stopped.through_line, stopped.created) == (ImportState.RUNNING, 3, 2)
    assert run_import(import_id) == ImportState.DONE
    with unit_of_work() as session:
        progress = import_progress(session, import_id)
    assert (progress["rows"], progress["created"], progress["skipped"]) == (8, 7, 1)
    assert progress["problems"] == [{"line": 9, "reason": "reader0@example.org repeats line 2; skipped"}]
    assert _count(Subscriber) == 7 and _count(AuditEntry) == 7


def test_an_import_left_running_by_a_dead_run_is_finished_by_the_next_delivery(settings):
    with unit_of_work() as session:
        import_id = keep_upload(session, CSV, what="readers.csv", actor="test")
        claim_import(session, import_id)  # the first delivery, its worker killed before a batch
    assert run_import(import_id) == ImportState.DONE
    assert run_import(import_id) is None  # finished: a late delivery changes nothing
    with unit_of_work() as session:
        assert import_progress(session, import_id)["created"] == 2


def test_two_imports_at_once_each_count_their_own_rows(worker):
    from workers.tasks import import_subscribers

    with unit_of_work() as session:
        first = keep_upload(session, b"email\na@example.org\nb@example.org\n", what="first.csv", actor="test")
        second = keep_upload(session, b"email\nb@example.org\nc@example.org\n", what="second.csv", actor="test")
    import_subscribers.delay(first)
    import_subscribers.delay(second)
    results = [_finished(first), _finished(second)]
    assert sorted(r["created"] for r in results) == [1, 2] and sum(r["unchanged"] for r in results) == 1
    assert _count(Subscriber) == 3
