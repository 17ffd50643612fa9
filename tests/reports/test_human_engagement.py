"""People told apart from machines: signed events in SendGrid's documented shapes go through the
real webhook endpoint and a real worker process, and every figure of the report, its JSON and
the sunset view counts people as the headline, machines beside them.

Five readers of one edition, each delivered a minute after the send:
  0  Apple Mail: two opens SendGrid marks `sg_machine_open` (its prefetch), nothing else;
  1  behind a link scanner: every link clicked one second after delivery, then the person opens
     the message and clicks the first link an hour later;
  2  a sandbox: every link clicked within one second, half an hour later (past the delivery window);
  3  a person who opens it, and whose first link is followed by a scanner naming itself;
  4  delivered, nothing more.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from digest.reports.facts import edition_report, reader_activity
from digest.reports.sunset import sunset_readers
from digest.store.db import unit_of_work
from digest.store.models import DeliveryEvent, Subscriber, WebhookBatch
from tests.conftest import reset_caches, wait_for
from tests.reports.events import SentEdition, delivered, opened
from tests.web.editor_helpers import csrf, logged_in

pytestmark = pytest.mark.slow

PERSON = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"
SANDBOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
SECOND = 1 / 60  # events are placed in minutes after the send


def _click(url: str, agent: str, index: int = 0) -> dict:
    return {"ip": "40.94.1.1", "useragent": agent, "url": url, "url_offset": {"index": index, "type": "html"}}


def _applied_by_the_worker(sent: SentEdition, client, events: list[dict]) -> None:
    """Post one signed request; the endpoint queues it and the worker process applies it."""
    payload = json.dumps(events) + "\r\n"
    answer = client.post("/webhooks/sendgrid", content=payload.encode(), headers=sent.standin.signed_headers(payload))
    assert answer.status_code == 200, answer.text

    def applied() -> bool:
        with unit_of_work() as session:
            return session.scalar(select(func.count()).select_from(WebhookBatch)
                                  .where(WebhookBatch.processed_at.is_(None))) == 0
    wait_for(applied, what="the worker to apply the request")


@pytest.fixture
def engaged(standin, feed_server, client, celery_worker, monkeypatch):
    monkeypatch.setenv("SUNSET_EDITIONS", "1")
    reset_caches()
    sent = SentEdition(standin, feed_server, readers=5)
    e, links = sent.event, sent.links[:3]
    at = 1  # each reader's delivery, in minutes
    _applied_by_the_worker(sent, client, [e(reader, "delivered", at, **delivered()) for reader in range(5)])
    _applied_by_the_worker(sent, client, [
        e(0, "open", at + 2 * SECOND, **opened(machine=True)), e(0, "open", 150, **opened(machine=True)),
        *[e(1, "click", at + SECOND, **_click(url, SANDBOX, i)) for i, url in enumerate(links)],
        *[e(2, "click", 30, **_click(url, SANDBOX, i)) for i, url in enumerate(links)],
        e(3, "open", 5, **opened()),
        e(3, "click", 20, **_click(links[0], "Barracuda Sentinel (EE)")),
    ])
    _applied_by_the_worker(sent, client, [e(1, "open", 61, **opened()), e(1, "click", 61.5, **_click(links[0], PERSON))])
    return sent


def _verdicts(sent: SentEdition) -> dict[tuple[int, str], list[tuple[str, str]]]:
    with unit_of_work() as session:
        kept = session.execute(select(DeliveryEvent.subscriber_id, DeliveryEvent.event, DeliveryEvent.audience,
                                      DeliveryEvent.audience_reason)
                               .where(DeliveryEvent.event.in_(("open", "click")))).all()
    verdicts: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for subscriber_id, event, audience, reason in kept:
        verdicts.setdefault((sent.subscriber_ids.index(subscriber_id), event), []).append((audience, reason))
    return {key: sorted(value) for key, value in verdicts.items()}


def test_each_open_and_click_is_kept_with_who_made_it_and_why(engaged):
    verdicts = _verdicts(engaged)
    assert verdicts[0, "open"] == [("machine", "sg_machine_open")] * 2
    assert verdicts[1, "click"] == [("human", "")] + [("machine", "within 10s of delivery")] * 3
    assert verdicts[1, "open"] == [("human", "")]
    assert verdicts[2, "click"] == [("machine", "3 links within 2s")] * 3
    assert verdicts[3, "click"] == [("machine", "scanner user agent: Barracuda")]
    assert verdicts[3, "open"] == [("human", "")]


def test_the_report_counts_people_with_machines_beside_them(engaged):
    with unit_of_work() as session:
        report = edition_report(session, engaged.edition_id)
    funnel = report.funnel
    assert funnel.delivered == 5
    assert (funnel.human_unique_opens, funnel.machine_opens, funnel.opens, funnel.unique_opens) == (2, 2, 4, 3)
    assert (funnel.human_unique_clicks, funnel.human_clicks, funnel.machine_clicks, funnel.clicks) == (1, 1, 7, 8)
    rates = funnel.rates
    assert (rates["open"], rates["click"], rates["click_to_open"]) == (2 / 5, 1 / 5, 1 / 2)
    assert (rates["machine_open_share"], rates["machine_click_share"]) == (2 / 4, 7 / 8)
    first, second, third, *rest = report.articles
    assert first["url"] == engaged.links[0]
    assert (first["human_unique_clicks"], first["machine_clicks"], first["clicks"]) == (1, 3, 4)
    assert {(a["human_unique_clicks"], a["machine_clicks"]) for a in (second, third)} == {(0, 2)}
    assert all(a["human_unique_clicks"] == a["machine_clicks"] == 0 for a in rest)
    assert {"hour": 1, "opens": 1, "clicks": 1, "machine_opens": 0, "machine_clicks": 0} == report.timeline[1]
    assert report.timeline[0] == {"hour": 0, "opens": 1, "clicks": 0, "machine_opens": 1, "machine_clicks": 7}


def test_the_json_names_the_human_and_machine_figures(engaged):
    done = subprocess.run([sys.executable, "-m", "digest", "editions", "report", str(engaged.edition_id), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    funnel = report["funnel"]
    assert {key: funnel[key] for key in ("human_unique_opens", "machine_opens", "human_unique_clicks",
                                         "machine_clicks")} == {"human_unique_opens": 2, "machine_opens": 2,
                                                                "human_unique_clicks": 1, "machine_clicks": 7}
    assert (report["rates"]["machine_open_share"], report["rates"]["machine_click_share"]) == (0.5, 0.875)
    top = report["articles"][0]
    assert (top["human_unique_clicks"], top["machine_clicks"]) == (1, 3)
    links = {link["url"]: link for link in report["links"]}
    assert (links[engaged.links[0]]["human_unique_clicks"], links[engaged.links[0]]["machine_clicks"]) == (1, 3)
    assert (links[engaged.links[1]]["human_unique_clicks"], links[engaged.links[1]]["machine_clicks"]) == (0, 2)
    assert report["timeline"][0] == {"hour": 0, "opens": 1, "clicks": 0, "machine_opens": 1, "machine_clicks": 7}
    text = subprocess.run([sys.executable, "-m", "digest", "editions", "report", str(engaged.edition_id)],
                          capture_output=True, text=True, timeout=60).stdout
    assert "people who opened" in text and "machine opens" in text and "87.5%" in text  # 7 of 8 clicks


def test_the_page_and_the_csv_show_people_first(engaged, client):
    logged_in(client)
    html = client.get(f"/editions/{engaged.edition_id}/report").text
    for name, value in (("opened", "2"), ("clicked", "1"), ("machine-opens", "2"), ("machine-clicks", "7")):
        assert f'id="{name}">{value}<' in html, name
    rows = client.get(f"/editions/{engaged.edition_id}/report.csv").text.splitlines()
    assert rows[0].split(",")[6:] == ["human_unique_clicks", "machine_clicks", "unique_clicks", "clicks"]
    assert rows[1].split(",")[6:] == ["1", "3", "3", "4"]
    # The trends: people's click rate (1 of 5 delivered), machines' clicks beside it.
    trend = client.get("/reports").text.split('id="trend-table"')[1].split("</tr>")[1]
    assert '<td class="num">20.0%</td><td class="num">7</td>' in trend, trend
    # A reader's page: the Apple Mail reader opened nothing themselves; a machine did, shown apart.
    page = client.get(f"/subscribers/{engaged.subscriber_ids[0]}").text
    assert "last opened –" in page and 'id="last-machine">–<' not in page
    assert 'id="last-machine">–<' in client.get(f"/subscribers/{engaged.subscriber_ids[4]}").text


def test_the_sunset_view_counts_only_people(engaged, client):
    ids = engaged.subscriber_ids
    with unit_of_work() as session:
        view = sunset_readers(session, 1)
    assert (view.total, view.machine_only, view.judged) == (3, 2, True)
    assert [(r["id"], r["activity"]) for r in view.readers] == [(ids[0], "unknown"), (ids[2], "unknown"),
                                                               (ids[4], "none")]
    logged_in(client, "publisher@example.org", "publisher")
    html = client.get("/reports/sunset").text
    assert 'id="sunset-inactive">1<' in html and 'id="sunset-machine-only">2<' in html
    # The page's "Pause" decides by people: reader 4 only, never the two only machines opened for.
    assert client.post("/reports/sunset/pause", data={"csrf_token": csrf(client, "/reports/sunset")}).status_code == 200
    with unit_of_work() as session:
        paused = set(session.scalars(select(Subscriber.id).where(Subscriber.paused.is_(True))))
        activity = reader_activity(session, ids)
    assert paused == {ids[4]}
    assert activity[ids[0]]["last_open"] is None and activity[ids[0]]["last_machine"] is not None
    assert activity[ids[1]]["last_click"] is not None


def test_a_rule_change_reclassifies_history_with_one_command(engaged, monkeypatch):
    # Trust every user agent: the Barracuda click becomes a person's; timing and bursts still hold.
    monkeypatch.setenv("SCANNER_USER_AGENTS", "[]")
    reset_caches()
    done = subprocess.run([sys.executable, "-m", "digest", "events", "reclassify", "--edition", str(engaged.edition_id)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "12 opens and clicks classified, 1 changed, 1 to another maker (counts moved)" in done.stdout
    verdicts = _verdicts(engaged)
    assert verdicts[3, "click"] == [("human", "")]
    assert verdicts[2, "click"] == [("machine", "3 links within 2s")] * 3
    assert verdicts[1, "click"] == [("human", "")] + [("machine", "within 10s of delivery")] * 3
    with unit_of_work() as session:
        funnel = edition_report(session, engaged.edition_id).funnel
        view = sunset_readers(session, 1)
    assert (funnel.human_unique_clicks, funnel.machine_clicks, funnel.human_unique_opens) == (2, 6, 2)
    assert (view.total, view.machine_only) == (3, 2)
    # The same rules again: nothing changes, nothing is recounted; every edition when none is named.
    again = subprocess.run([sys.executable, "-m", "digest", "events", "reclassify"], capture_output=True, text=True,
                           timeout=60)
    assert f"edition {engaged.edition_id}: 12 opens and clicks classified, 0 changed\n" in again.stdout, again.stdout
    missing = subprocess.run([sys.executable, "-m", "digest", "events", "reclassify", "--edition", "999"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "edition 999 does not exist" in missing.stderr


def test_what_an_event_says_of_its_maker_is_bounded_and_never_trusted_beyond_the_rules(standin, feed_server, client):
    """A 100,000-character user agent, user agents that are not text, a machine flag that is not a
    boolean, a click with no link: each is classified by the rules (or left unknown), the request
    applies whole, and nothing longer than its column is kept."""
    sent = SentEdition(standin, feed_server, readers=3)
    e = sent.event
    sent.post(client, [
        e(0, "delivered", 1, **delivered()),
        e(0, "open", 5, **{**opened(), "useragent": "Mozilla/5.0 " + "A" * 100_000 + " Mimecast"}),
        e(0, "open", 6, **{**opened(), "useragent": "Mimecast " + "A" * 100_000}),
        e(1, "delivered", 1, **delivered()),
        e(1, "open", 5, **{**opened(), "useragent": {"nested": ["Mimecast"]}, "sg_machine_open": "true"}),
        e(1, "click", 30, **{"useragent": ["curl/8"], "ip": "1.2.3.4"}),
        e(2, "click", 30, **_click(sent.links[0], PERSON)),  # no delivered event: timed by the hand-over
    ])
    verdicts = _verdicts(sent)
    # Past the first 1,000 characters a user agent is not read.
    assert verdicts[0, "open"] == sorted([("human", ""), ("machine", "scanner user agent: Mimecast")])
    assert verdicts[1, "open"] == [("unknown", "no sg_machine_open")]
    assert verdicts[1, "click"] == [("human", "")]
    assert verdicts[2, "click"] == [("human", "")]
    with unit_of_work() as session:
        longest = session.scalar(select(func.max(func.length(DeliveryEvent.audience_reason))))
    assert longest <= 100


def test_an_image_proxy_fetching_on_arrival_is_a_machine_and_later_a_person(standin, feed_server, client):
    """Gmail's proxy fetches the images when the message arrives (a machine) and again when the
    reader opens it (a person's open): PROXY_OPEN_SECONDS after delivery tells them apart."""
    sent = SentEdition(standin, feed_server, readers=1)
    e = sent.event
    proxy = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    sent.post(client, [e(0, "delivered", 1, **delivered()),
                       e(0, "open", 1 + 5 * SECOND, **{**opened(), "useragent": proxy}),
                       e(0, "open", 45, **{**opened(), "useragent": proxy})])
    assert _verdicts(sent)[0, "open"] == [("human", ""), ("machine", "GoogleImageProxy within 10s of delivery")]
