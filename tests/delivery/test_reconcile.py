"""Beat's reconciliation in one pass: what it changes, and what it hands back to enqueue."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from digest.clock import utcnow
from digest.delivery.backends import get_sender
from digest.delivery.plan import release_edition, start_edition
from digest.delivery.reconcile import reconcile
from digest.delivery.claim import claim_batch
from digest.ledger.states import reader_counts
from digest.store.db import unit_of_work
from digest.store.models import Edition, PlanSlice
from tests.factories import approved_edition, many_subscribers, polled_feed


def _started(feed_server, readers: int) -> tuple[int, list[int]]:
    polled_feed(feed_server)
    many_subscribers(readers)
    edition_id = approved_edition()
    with unit_of_work() as session:
        release_edition(session, edition_id)
    with unit_of_work() as session:
        return edition_id, start_edition(session, edition_id, sender=get_sender())


def test_a_pass_marks_stuck_claims_and_hands_back_the_lost_batches_to_enqueue(standin, feed_server):
    edition_id, (first, *waiting) = _started(feed_server, readers=1500)
    an_hour_ago = utcnow() - dt.timedelta(hours=1)
    with unit_of_work() as session:
        claim_batch(session, edition_id, first, an_hour_ago)  # then its worker "died"
        session.execute(update(Edition).where(Edition.id == edition_id).values(started_at=an_hour_ago))
    with unit_of_work() as session:
        done = reconcile(session)
    assert done.batches == {edition_id: waiting} and done.slices == {}
    assert done.summary == {"unknown": 1000, "recorded": 0, "resent": {}, "reissued": {str(edition_id): 1},
                            "replanned": {}, "finished": []}
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"unknown": 1000, "pending": 500}


def test_a_pass_hands_back_the_slices_whose_planning_was_lost(standin, feed_server):
    edition_id, _ = _started(feed_server, readers=5)
    an_hour_ago = utcnow() - dt.timedelta(hours=1)
    with unit_of_work() as session:
        session.execute(update(Edition).where(Edition.id == edition_id).values(started_at=an_hour_ago))
        session.execute(update(PlanSlice).where(PlanSlice.edition_id == edition_id).values(planned_at=None))
    with unit_of_work() as session:
        done = reconcile(session)
    assert done.slices == {edition_id: [0]} and done.summary["replanned"] == {str(edition_id): 1}
