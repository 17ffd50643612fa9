"""Messages queued under a task's old name before an upgrade (`digest.feeds.poll_feed`, ...) are
still run by a real worker of the new release, as the task that name became."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select

from digest.feeds.registry import add_feed
from digest.store.db import unit_of_work
from digest.store.models import Delivery, DeliveryStatus, Feed, SendBatch, Subscriber
from tests.conftest import wait_for
from tests.factories import sending_edition, serve_feed, subscribers
from workers.app import app
from workers.renamed_tasks import OLD_ARGUMENTS, OLD_NAMES

pytestmark = pytest.mark.slow


def _count(model, *where) -> int:
    with unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_every_old_name_runs_its_new_task_with_the_same_options():
    for old_name, new_name in OLD_NAMES.items():
        old, new = app.tasks[old_name], app.tasks[new_name]
        assert old.name == old_name and new.name == new_name
        assert type(old).run is OLD_ARGUMENTS.get(old_name, type(new).run)
        assert (old.acks_late, old.reject_on_worker_lost, old.max_retries) == \
               (new.acks_late, new.reject_on_worker_lost, new.max_retries)


def test_messages_queued_under_the_old_names_run_after_the_upgrade(settings, celery_worker, feed_server):
    edition_id, _ = sending_edition(feed_server, "reader@example.org", "second@example.org")
    with unit_of_work() as session:  # as the old release planned it: a pending row per reader, no batch rows
        variant, readers = session.execute(select(SendBatch.variant, SendBatch.members)).one()
        session.execute(delete(SendBatch))
        emails = dict(session.execute(select(Subscriber.id, Subscriber.email)).all())
        session.add_all([Delivery(edition_id=edition_id, subscriber_id=reader, email=emails[reader], variant=variant,
                                  status=DeliveryStatus.PENDING) for reader in readers])
        session.flush()
        delivery_ids = list(session.scalars(select(Delivery.id)))
    with unit_of_work() as session:
        feed_id = add_feed(session, serve_feed(feed_server, path="/field-reports.feed")).id
    [pending] = subscribers("new-reader@example.org", confirmed=False)

    # As the old release queued them: its names, on the queues its routes chose.
    app.send_task("digest.feeds.poll_feed", (feed_id,), queue="feeds")
    app.send_task("digest.delivery.send_batch", (edition_id, delivery_ids[:1]), queue="delivery")
    app.send_task("digest.delivery.send_batch", (edition_id, delivery_ids[1:]), queue="delivery")
    app.send_task("digest.subscribers.send_confirmation", (pending,), queue="editions")

    wait_for(lambda: _count(Delivery, Delivery.status == DeliveryStatus.ACCEPTED) == 2, what="the old sends")
    wait_for(lambda: any("new-reader@example.org" in path.read_text(errors="replace")
                         for path in settings.OUTBOX_DIR.rglob("*.eml")), what="the old confirmation")
    wait_for(lambda: _count(Feed, Feed.id == feed_id, Feed.last_success_at.is_not(None)), what="the old poll")
    # Both old messages cut and queued the edition's batches; each reader was still sent once.
    sent_to = [line for path in settings.OUTBOX_DIR.rglob("*.eml")
               for line in path.read_text(errors="replace").splitlines() if line.startswith("To: ")]
    assert sorted(sent_to) == ["To: new-reader@example.org", "To: reader@example.org", "To: second@example.org"]
