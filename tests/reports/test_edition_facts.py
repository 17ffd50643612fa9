"""Every figure of an edition's report, from signed events in SendGrid's documented shapes and the
readers' own clicks on the edition's unsubscribe and preferences links."""

from __future__ import annotations

import datetime as dt
from sqlalchemy import func, select

from digest.reports.facts import edition_report, reader_activity
from digest.store.db import unit_of_work
from digest.store.models import DeliveryEvent
from tests.reports.conftest import path_of
from tests.reports.events import SentEdition


def test_the_funnel_counts_each_reader_once_per_fact(reported):
    with unit_of_work() as session:
        report = edition_report(session, reported.edition_id)
    funnel = report.funnel
    assert (funnel.handed_over, funnel.delivered, funnel.deferred, funnel.dropped) == (7, 4, 1, 1)
    assert (funnel.hard_bounces, funnel.soft_bounces, funnel.spam_reports) == (1, 1, 1)
    assert (funnel.unique_opens, funnel.unique_clicks, funnel.clicks) == (3, 4, 5)
    # Reader 2's open is Apple Mail's prefetch (sg_machine_open): not a person's.
    assert (funnel.human_unique_opens, funnel.machine_opens, funnel.human_unique_clicks, funnel.machine_clicks) == (2, 1, 4, 0)
    assert (funnel.unsubscribes, funnel.preference_changes) == (3, 1)
    assert report.funnel.rates["delivery"] == 4 / 7 and report.funnel.rates["complaint"] == 1 / 4
    assert report.complaint_warning


def test_clicks_are_attributed_to_the_articles_their_links_lead_to(reported):
    with unit_of_work() as session:
        report = edition_report(session, reported.edition_id)
    top, runner_up, *rest = report.articles
    assert (top["url"], top["unique_clicks"], top["clicks"], top["position"]) == (reported.links[0], 2, 3, 1)
    assert (runner_up["url"], runner_up["unique_clicks"], runner_up["clicks"]) == (reported.links[1], 1, 1)
    assert top["section"] and top["authors"] and top["title"]
    assert all(article["unique_clicks"] == 0 for article in rest)
    assert len(report.articles) == len(reported.links)


def test_a_readers_own_links_are_counted_but_never_shown(reported):
    with unit_of_work() as session:
        links = edition_report(session, reported.edition_id).links
    assert {"url": "(preferences link)", "human_unique_clicks": 1, "machine_clicks": 0, "unique_clicks": 1,
            "clicks": 1} in links
    assert not any("/p/" in link["url"] or "/u/" in link["url"] for link in links)


def test_bounces_and_complaints_come_with_their_reasons(reported):
    with unit_of_work() as session:
        problems = edition_report(session, reported.edition_id).problems
    assert {"what": "hard bounce", "reason": "Invalid Address", "readers": 1} in problems
    assert {"what": "soft bounce", "reason": "Reputation", "readers": 1} in problems
    assert {"what": "dropped", "reason": "Bounced Address", "readers": 1} in problems
    assert {"what": "spam report", "reason": "", "readers": 1} in problems
    assert {"what": "deferred", "reason": "400 try again later", "readers": 1} in problems


def test_the_timeline_counts_opens_and_clicks_per_hour(reported):
    with unit_of_work() as session:
        timeline = edition_report(session, reported.edition_id).timeline
    assert len(timeline) == 72
    assert timeline[0] == {"hour": 0, "opens": 2, "clicks": 4, "machine_opens": 1, "machine_clicks": 0}
    assert timeline[1] == {"hour": 1, "opens": 1, "clicks": 1, "machine_opens": 0, "machine_clicks": 0}
    assert sum(sum(hour.values()) - hour["hour"] for hour in timeline[2:]) == 0


def test_each_reader_has_a_last_delivery_open_and_click(reported):
    ids = reported.subscriber_ids
    with unit_of_work() as session:
        activity = reader_activity(session, ids)
    start = reported.started_at.replace(microsecond=0)

    def at(minutes: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(int(reported.started_at.timestamp() + minutes * 60), dt.UTC)

    assert start <= at(1)
    assert activity[ids[0]] == {"last_delivered": at(1), "last_open": at(70), "last_click": at(80), "last_machine": None}
    assert activity[ids[1]] == {"last_delivered": at(5), "last_open": at(20), "last_click": at(21), "last_machine": None}
    # Reader 2's only open was a machine's; their click two minutes after delivery, a person's.
    assert activity[ids[2]] == {"last_delivered": at(1), "last_open": None, "last_click": at(3), "last_machine": at(2)}
    assert activity[ids[4]] == dict.fromkeys(("last_delivered", "last_open", "last_click", "last_machine"))


def test_an_edition_named_in_a_link_is_credited_only_if_the_reader_was_sent_it(standin, feed_server, client):
    sent = SentEdition(standin, feed_server, readers=2)
    unsubscribe = path_of(sent.values[sent.emails[0]]["[%unsubscribe_url%]"]).split("?")[0]
    for forged in ("?e=999999", "?e=abc", "?e=" + "9" * 40, "?e=-1"):
        assert client.post(unsubscribe + forged).status_code == 200
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(DeliveryEvent)
                              .where(DeliveryEvent.event == "web_unsubscribe")) == 0
        assert edition_report(session, sent.edition_id).funnel.unsubscribes == 0


def test_recounting_from_the_stored_events_gives_the_same_report(reported):
    import subprocess
    import sys

    with unit_of_work() as session:
        before = edition_report(session, reported.edition_id).as_dict()
    done = subprocess.run([sys.executable, "-m", "digest", "editions", "recount", str(reported.edition_id)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "events counted" in done.stdout, done.stderr
    with unit_of_work() as session:
        assert edition_report(session, reported.edition_id).as_dict() == before
