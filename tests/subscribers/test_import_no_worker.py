"""`digest subscribers import` with no worker to take the import: it says so, and stops waiting."""

from __future__ import annotations

from tests.cli import digest

CSV = b"email\nana@example.org\n"


def test_the_cli_only_queues_with_no_wait_and_says_when_no_worker_takes_it(settings, tmp_path, monkeypatch):
    from digest.cli import import_progress as follow

    path = tmp_path / "readers.csv"
    path.write_bytes(CSV)
    queued = digest("subscribers", "import", "--no-wait", str(path))
    assert queued.returncode == 0 and "queued" in queued.stdout
    monkeypatch.setattr(follow, "NO_WORKER_AFTER_SECONDS", 0.5)
    monkeypatch.setattr(follow, "_worker_online", lambda queue: False)  # no worker in this test's Redis database
    waiting = digest("subscribers", "import", str(path))
    assert waiting.returncode == 3 and "No worker is running for the editions queue" in waiting.stderr
