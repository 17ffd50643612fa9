"""The pages a send's readers and their link scanners reach within minutes of delivery cost a few
statements each, the same for an edition of 3 readers as of 60 with their clicks, and a reader's
one-click unsubscribe is recorded once however many times, and however nearly at once, it arrives
(bench/web_burst.py measures the same pages under load)."""

from __future__ import annotations

import json
import re
import threading

import anyio.to_thread
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text, update

from digest.clock import utcnow
from digest.delivery.backends import get_sender
from digest.store.db import get_engine, unit_of_work
from digest.store.models import (ArticleTopic, AuditEntry, DeliveryEvent, EditionCount, EditionLink, Subscriber,
                                 SubscriberStatus, Suppression)
from digest.subscribers.follows import follow
from digest.subscribers.tokens import PREFERENCES, UNSUBSCRIBE, make_token
from digest.web import archive_cache
from digest.web.app import app
from tests.delivery.test_ledger_costs import statements
from tests.factories import approved_edition, many_subscribers, polled_feed, send_now
from tests.live_app import app_in_thread
from tests.plans import index_columns, plans_without_seq_scans

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _sent_edition(feed_server, readers: int) -> tuple[int, list[int]]:
    polled_feed(feed_server)
    many_subscribers(readers)
    edition_id = approved_edition()
    send_now(edition_id, get_sender())
    with unit_of_work() as session:
        return edition_id, list(session.scalars(select(Subscriber.id).order_by(Subscriber.id)))


def _statements_of(client: TestClient, method: str, path: str, **kwargs) -> int:
    with statements() as seen:
        answer = client.request(method, path, **kwargs)
    assert answer.status_code == 200, answer.text[:500]
    return len(seen)


def _recorded(subscriber_id: int) -> tuple[str, int, int, int, int]:
    """The reader's status, their unsubscribe audit rows, suppressions, suppress audit rows and
    edition credits."""
    with unit_of_work() as session:
        subscriber = session.get(Subscriber, subscriber_id)
        audits = dict(session.execute(select(AuditEntry.action, func.count()).where(
            AuditEntry.subscriber_id == subscriber_id).group_by(AuditEntry.action)).all())
        suppressions = session.scalar(select(func.count()).select_from(Suppression)
                                      .where(Suppression.email == subscriber.email))
        credits = session.scalar(select(func.count()).select_from(DeliveryEvent).where(
            DeliveryEvent.subscriber_id == subscriber_id, DeliveryEvent.event == "web_unsubscribe"))
    return subscriber.status, audits.get("unsubscribe", 0), suppressions, audits.get("suppress", 0), credits


def _kinds(seen: list[tuple[str, object]]) -> list[str]:
    """Each statement as its verb, the table it writes and whether it locks rows."""
    kinds = []
    for statement, _ in seen:
        words = statement.split()
        table = {"INSERT": words[2], "UPDATE": words[1], "DELETE": words[2]}.get(words[0])
        locks = ["FOR UPDATE"] if "FOR UPDATE" in statement else []
        kinds.append(" ".join([words[0], *([table] if table else []), *locks]))
    return kinds


def test_the_pages_after_a_send_cost_a_few_statements_whatever_the_list(settings, feed_server):
    edition_id, readers = _sent_edition(feed_server, 3)
    client = TestClient(app, base_url="https://testserver")

    def costs(reader: int) -> dict[str, int]:
        via = f"?e={edition_id}"
        archive_cache.forget()  # the archive's pages rendered anew, as the first reader's are
        return {
            "archive": _statements_of(client, "GET", f"/archive/{edition_id}"),
            "archive email": _statements_of(client, "GET", f"/archive/{edition_id}/email"),
            "unsubscribe page": _statements_of(client, "GET", f"/u/{make_token(UNSUBSCRIBE, reader)}{via}"),
            "preferences": _statements_of(client, "GET", f"/p/{make_token(PREFERENCES, reader)}{via}"),
            "one-click": _statements_of(client, "POST", f"/u/{make_token(UNSUBSCRIBE, reader)}{via}", data=ONE_CLICK),
            "one-click again": _statements_of(client, "POST", f"/u/{make_token(UNSUBSCRIBE, reader)}{via}",
                                              data=ONE_CLICK),
        }

    few = costs(readers[0])
    many_subscribers(60, domain="more.example.org")
    assert costs(readers[1]) == few
    # Each page: its unit of work's few reads (and the one-click's writes), none per article,
    # edition or event. Loading the edition's articles for the archive page, or the sent
    # editions for the preference page's suggestions, fails this.
    assert few == {"archive": 2, "archive email": 2, "unsubscribe page": 0, "preferences": 1,
                   "one-click": 7, "one-click again": 1}, few
    # Every reader after the first: the archive's pages as answered, without reading the row again
    # (for ROW_SECONDS); then the row alone.
    assert {"archive": _statements_of(client, "GET", f"/archive/{edition_id}"),
            "archive email": _statements_of(client, "GET", f"/archive/{edition_id}/email")} == \
        {"archive": 0, "archive email": 0}
    archive_cache.recent.clear()
    assert {"archive": _statements_of(client, "GET", f"/archive/{edition_id}"),
            "archive email": _statements_of(client, "GET", f"/archive/{edition_id}/email")} == \
        {"archive": 1, "archive email": 1}


def _follows_and_clicks(edition_id: int, reader: int) -> list[int]:
    """The reader follows four of the edition's topics and clicked three of its articles (each
    filed under topics they do not all follow); the topics followed."""
    with unit_of_work() as session:
        links = session.execute(select(EditionLink.url, EditionLink.article_id)
                                .where(EditionLink.edition_id == edition_id).order_by(EditionLink.id)).all()
        topics = sorted(set(session.scalars(select(ArticleTopic.topic_id).where(
            ArticleTopic.article_id.in_([link.article_id for link in links])))))
        for topic_id in topics[:4]:
            follow(session, reader, topic_id, source="test")
        session.add_all(DeliveryEvent(provider_event_id=f"click-{n}", event="click", email="reader", payload={},
                                      occurred_at=utcnow(), edition_id=edition_id, subscriber_id=reader,
                                      url=link.url, audience="human") for n, link in enumerate(links[:3]))
    return topics[:4]


def test_a_readers_pages_cost_the_same_few_statements_whatever_they_follow_and_clicked(settings, feed_server):
    """The preference page reads the reader, their follows with their topics, and the topics of
    their clicks with theirs in one statement, as for a reader who follows topics and clicked
    articles as for one who did neither. A "Follow" link's page (a scanner follows the link's
    redirect) reads the reader, the topic and the follows. Reading each followed topic on its
    own, or the clicked topics again for the suggestions, fails this."""
    edition_id, [reader, newcomer] = _sent_edition(feed_server, 2)
    followed = _follows_and_clicks(edition_id, reader)
    client = TestClient(app, base_url="https://testserver")

    def costs(subscriber_id: int) -> dict[str, int]:
        preferences = f"/p/{make_token(PREFERENCES, subscriber_id)}"
        return {"preferences": _statements_of(client, "GET", f"{preferences}?e={edition_id}"),
                "follow page": _statements_of(client, "GET", f"{preferences}/follow/{followed[0]}?e={edition_id}")}

    page = client.get(f"/p/{make_token(PREFERENCES, reader)}").text
    assert page.count('<select id="pace-') == len(followed) and ">Follow</a>" in page  # what is read is shown
    assert costs(reader) == costs(newcomer) == {"preferences": 1, "follow page": 3}


def test_the_preference_page_reads_outside_a_transaction_in_one_thread(settings, feed_server):
    """The preference page's one statement runs on an autocommit connection (no BEGIN before it
    and no COMMIT after it: two round trips fewer for a quarter of what arrives after a send),
    and the connection is taken, read with and given back in the one thread (the route's). A page
    that reads by more than one statement, in a transaction, or gives its connection back from
    another thread (a session ended on the event loop) fails this."""
    edition_id, [reader] = _sent_edition(feed_server, 1)
    _follows_and_clicks(edition_id, reader)
    client = TestClient(app, base_url="https://testserver")
    levels: list[str | None] = []
    threads: list[tuple[str, int]] = []

    def statement(conn, *_):
        levels.append(conn.get_execution_options().get("isolation_level"))
        threads.append(("statement", threading.get_ident()))

    listeners = [(get_engine(), "before_cursor_execute", statement),
                 (get_engine().pool, "checkout", lambda *_: threads.append(("checkout", threading.get_ident()))),
                 (get_engine().pool, "checkin", lambda *_: threads.append(("checkin", threading.get_ident())))]
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    try:
        answer = client.get(f"/p/{make_token(PREFERENCES, reader)}?e={edition_id}")
    finally:
        for target, name, listener in listeners:
            event.remove(target, name, listener)
    assert answer.status_code == 200 and answer.text.count('<select id="pace-') == 4, answer.text[:500]
    assert levels == ["AUTOCOMMIT"]
    assert [step for step, _ in threads] == ["checkout", "statement", "checkin"]
    assert len({thread for _, thread in threads}) == 1, threads


def test_the_pages_after_a_send_take_a_thread_only_for_their_database_work(settings, feed_server, monkeypatch):
    """Each request's turn on a thread is a wait under load (WEB_THREADS) and a hop between
    threads: the unsubscribe page and a "Follow" link's redirect, which read nothing, take none; a
    page reading the database one for its route and one to end its session, none for the end when
    the route ended its transaction itself (the one-click POST commits its change, the
    preference page and the archive end their read). An archive page answered within ROW_SECONDS
    of reading its row takes none."""
    edition_id, readers = _sent_edition(feed_server, 2)
    client = TestClient(app, base_url="https://testserver")
    hops: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func, *args, **kwargs):
        hops.append(getattr(func, "__name__", repr(func)))
        return await run_sync(func, *args, **kwargs)
    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)

    def hops_of(method: str, path: str, **kwargs) -> int:
        hops.clear()
        answer = client.request(method, path, follow_redirects=False, **kwargs)
        assert answer.status_code in (200, 303), answer.text[:500]
        return len(hops)

    via = f"?e={edition_id}"
    preferences = f"/p/{make_token(PREFERENCES, readers[0])}{via}"
    archive_cache.forget()
    assert {"archive": hops_of("GET", f"/archive/{edition_id}"),
            "archive email": hops_of("GET", f"/archive/{edition_id}/email"),
            "unsubscribe page": hops_of("GET", f"/u/{make_token(UNSUBSCRIBE, readers[0])}{via}"),
            "preferences": hops_of("GET", preferences),
            "follow link": hops_of("GET", f"{preferences}&follow=1"),
            "one-click": hops_of("POST", f"/u/{make_token(UNSUBSCRIBE, readers[0])}{via}", data=ONE_CLICK)} == \
        {"archive": 1, "archive email": 1, "unsubscribe page": 0, "preferences": 1, "follow link": 0, "one-click": 1}
    assert (hops_of("GET", f"/archive/{edition_id}"), hops_of("GET", f"/archive/{edition_id}/email")) == (0, 0)


def _unsubscribed_before_suppressions(subscriber_id: int) -> None:
    """A reader who left before unsubscribing also suppressed the address: unsubscribed, not suppressed."""
    with unit_of_work() as session:
        session.execute(update(Subscriber).where(Subscriber.id == subscriber_id)
                        .values(status=SubscriberStatus.UNSUBSCRIBED))


def _unsubscribes_counted(edition_id: int) -> tuple[int, int] | None:
    with unit_of_work() as session:
        return session.execute(select(EditionCount.total, EditionCount.readers).where(
            EditionCount.edition_id == edition_id, EditionCount.key == "event:unsubscribe")).first()


def test_a_one_click_writes_what_is_missing_and_its_repeat_reads_once(settings, feed_server):
    """Most one-click POSTs after a send are repeats (mail clients retry): a repeat is one read,
    with no row lock (on PostgreSQL a lock is a write, and its commit a flush of the log), that
    finds the reader unsubscribed, suppressed and credited, and writes nothing. A first POST
    writes each record with one statement: the reader's status, their suppression, the audit
    rows together, the edition's credit and its count (no ORM object loaded and flushed, no
    read of what the writes themselves tell)."""
    edition_id, readers = _sent_edition(feed_server, 3)
    _unsubscribed_before_suppressions(readers[2])
    client = TestClient(app, base_url="https://testserver")

    def kinds(path: str) -> list[str]:
        with statements() as seen:
            answer = client.post(path, data=ONE_CLICK)
        assert answer.status_code == 200 and "You are unsubscribed" in answer.text, answer.text[:500]
        return _kinds(seen)

    credited = f"/u/{make_token(UNSUBSCRIBE, readers[0])}?e={edition_id}"
    assert kinds(credited) == ["SELECT", "UPDATE subscribers", "INSERT suppressions", "INSERT audit_log",
                               "INSERT delivery_events", "INSERT reader_marks", "INSERT edition_counts"]
    for _ in range(2):
        assert kinds(credited) == ["SELECT"]
    plain = f"/u/{make_token(UNSUBSCRIBE, readers[1])}"  # without ?e=: nothing to credit
    assert kinds(plain) == ["SELECT", "UPDATE subscribers", "INSERT suppressions", "INSERT audit_log"]
    assert kinds(plain) == ["SELECT"]
    # Unsubscribed already but not suppressed: the UPDATE finds nothing to change, so the
    # address is read; suppressed and credited, and then a repeat is one read again.
    legacy = f"/u/{make_token(UNSUBSCRIBE, readers[2])}?e={edition_id}"
    assert kinds(legacy) == ["SELECT", "UPDATE subscribers", "SELECT", "INSERT suppressions", "INSERT audit_log",
                             "INSERT delivery_events", "INSERT reader_marks", "INSERT edition_counts"]
    assert kinds(legacy) == ["SELECT"]

    assert _recorded(readers[0]) == (SubscriberStatus.UNSUBSCRIBED, 1, 1, 1, 1)
    assert _recorded(readers[1]) == (SubscriberStatus.UNSUBSCRIBED, 1, 1, 1, 0)
    assert _recorded(readers[2]) == (SubscriberStatus.UNSUBSCRIBED, 0, 1, 1, 1)
    assert _unsubscribes_counted(edition_id) == (2, 2)


def _wide_reads(plan: dict, columns: dict[str, list[str]]) -> list[str]:
    """Plan nodes that may read more rows than the one they look for: a sequential scan, or an
    index used without an equality on each of its columns (the edition's deliveries walked for
    one reader's)."""
    found = [f"Seq Scan on {plan['Relation Name']}"] if plan.get("Node Type") == "Seq Scan" else []
    if index := plan.get("Index Name"):
        condition = plan.get("Index Cond", "")
        if missing := [name for name in columns[index] if not re.search(rf"(?<![\w.]){name} = ", condition)]:
            found.append(f"{plan['Node Type']} using {index} without {', '.join(missing)}: {condition or 'no condition'}")
    return found + [read for child in plan.get("Plans", []) for read in _wide_reads(child, columns)]


def test_the_one_click_statements_look_up_their_rows(settings, feed_server):
    """A one-click POST's statements, its repeat's read above all (its correlated look-ups of
    the suppression by address and of the credit by event id included), go to their rows by an
    index on all they select by: with sequential scans priced out, no plan walks a table or
    the part of an index that holds a whole edition."""
    if get_engine().dialect.name != "postgresql":
        pytest.skip("the planner's choices are PostgreSQL's")
    edition_id, readers = _sent_edition(feed_server, 40)
    with unit_of_work() as session:
        session.execute(text("ANALYZE"))
    client = TestClient(app, base_url="https://testserver")
    path = f"/u/{make_token(UNSUBSCRIBE, readers[0])}?e={edition_id}"
    with statements() as seen:
        for _ in range(2):
            assert client.post(path, data=ONE_CLICK).status_code == 200
    explained = [(sql, params) for sql, params in seen if params is not None]
    assert len(explained) == len(seen) - 1  # all but the audit rows' executemany
    columns = index_columns()
    for sql, plan in plans_without_seq_scans(explained):
        assert _wide_reads(plan, columns) == [], f"{sql}\n{json.dumps(plan, indent=1)}"


@pytest.mark.postgresql_only
def test_one_click_posts_arriving_at_once_record_the_reader_once(settings, feed_server):
    """Mail clients retry a one-click POST they did not see answered: eight at once, over real
    HTTP, each in its own transaction, leave one unsubscribe, one suppression, one credit. The
    same for a reader unsubscribed before unsubscribing suppressed the address: one suppression
    (its insert, not the reader's row, is what the second POST waits on), no second unsubscribe."""
    edition_id, readers = _sent_edition(feed_server, 3)
    _unsubscribed_before_suppressions(readers[1])
    paths = [f"/u/{make_token(UNSUBSCRIBE, reader)}?e={edition_id}" for reader in readers[:2]] * 8
    answers: list[int] = []
    start = threading.Barrier(len(paths))
    with app_in_thread() as base_url:
        def post(path: str) -> None:
            with httpx.Client(base_url=base_url) as browser:
                start.wait()
                answers.append(browser.post(path, data=ONE_CLICK).status_code)

        posting = [threading.Thread(target=post, args=(path,)) for path in paths]
        for thread in posting:
            thread.start()
        for thread in posting:
            thread.join(30)
    assert answers == [200] * len(paths)
    assert _recorded(readers[0]) == (SubscriberStatus.UNSUBSCRIBED, 1, 1, 1, 1)
    assert _recorded(readers[1]) == (SubscriberStatus.UNSUBSCRIBED, 0, 1, 1, 1)
    assert _recorded(readers[2])[0] == SubscriberStatus.CONFIRMED
    assert _unsubscribes_counted(edition_id) == (2, 2)
