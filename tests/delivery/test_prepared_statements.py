"""A worker compiles a send batch's statements before its pool forks (send.prepare_statements,
from workers/app.py): a batch sent by a process that ran it compiles none, where a process that
did not compiles the path's statements in its first batch."""

from __future__ import annotations

from sqlalchemy import func, select

from digest.delivery.backends import get_sender
from digest.delivery.send import prepare_statements, send_batch
from digest.store.db import dispose_engines, unit_of_work
from digest.store.models import Delivery, SendBatch
from tests.databases import statements
from tests.factories import sending_edition

READERS = ("aida@example.org", "bakhtiyar@example.org")


def _send(edition_id: int, batch: int) -> int:
    with unit_of_work(hold_connection=True) as session:  # as a task's run
        return send_batch(session, edition_id, batch, get_sender())


def test_a_batch_after_prepare_statements_compiles_nothing(standin, feed_server):
    edition_id, [batch] = sending_edition(feed_server, *READERS)
    dispose_engines()  # a new engine: nothing compiled, as in a worker just started
    prepare_statements()
    with statements() as ran:
        assert _send(edition_id, batch) == len(READERS)
    assert ran and ran.compiled == []
    assert len(standin.accepted) == len(READERS)


def test_without_it_a_first_batch_compiles_the_path(standin, feed_server):
    edition_id, [batch] = sending_edition(feed_server, *READERS)
    dispose_engines()
    with statements() as ran:
        assert _send(edition_id, batch) == len(READERS)
    assert len(ran.compiled) >= 6, ran.compiled  # the edition, claim, readers, render, outcome, finish


def test_preparing_changes_nothing(standin, feed_server):
    edition_id, batches = sending_edition(feed_server, *READERS)
    prepare_statements()
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
        assert session.scalars(select(SendBatch.state)).all() == ["pending"] * len(batches)
    assert _send(edition_id, batches[0]) == len(READERS)
