"""The edition report page, its CSV, the trends on /reports and the dashboard, and the CLI: the
same figures everywhere, for logged-in editors only, under the pages' CSP."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys

from sqlalchemy import update

from digest.store.db import unit_of_work
from digest.store.models import Article, EditionLink
from tests.web.editor_helpers import logged_in


def _figure(html: str, name: str) -> str:
    return re.search(rf'id="{name}">([^<]*)<', html).group(1)


def test_the_report_page_shows_the_funnel_articles_and_charts(reported, client):
    assert client.get(f"/editions/{reported.edition_id}/report", follow_redirects=False).status_code in (302, 303)
    logged_in(client)
    answer = client.get(f"/editions/{reported.edition_id}/report")
    assert answer.status_code == 200
    html = answer.text
    assert [_figure(html, name) for name in ("handed-over", "delivered", "opened", "clicked", "spam-reports",
                                             "unsubscribes", "machine-opens", "machine-clicks")] == [
        "7", "4", "2", "4", "1", "3", "1", "0"]  # reader 2's open was Apple Mail's prefetch
    assert "Machine opens" in html and "above 0.1%" in html
    assert html.count("<svg") == 3 and "Invalid Address" in html
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script


def test_the_csv_ranks_articles_and_defuses_formulas(reported, client):
    with unit_of_work() as session:
        article_id = session.query(EditionLink).filter_by(url=reported.links[0]).one().article_id
        session.execute(update(Article).where(Article.id == article_id).values(title="=HYPERLINK(\"x\")"))
    logged_in(client)
    answer = client.get(f"/editions/{reported.edition_id}/report.csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [row["unique_clicks"] for row in rows[:2]] == ["2", "1"]
    assert rows[0]["title"].startswith("'=") and rows[0]["url"] == reported.links[0]
    assert len(rows) == len(reported.links)


def test_reports_and_the_dashboard_draw_the_trends(reported, client):
    logged_in(client)
    for path in ("/reports", "/dashboard"):
        html = client.get(path).text
        assert 'id="trend-table"' in html and html.count('<svg class="chart ') == 5, path
        assert "Spam complaints on" in html  # 1 of 4 delivered: far above 0.1%
    table = client.get("/reports").text.split('id="trend-table"')[1]
    assert ">57.1%<" in table  # delivery rate: 4 of 7
    answer = client.get("/reports?n=abc")
    assert answer.status_code == 400 and "abc" in answer.text and "whole number of editions" in answer.text


def test_the_cli_prints_the_same_report_as_json(reported):
    done = subprocess.run([sys.executable, "-m", "digest", "editions", "report", str(reported.edition_id), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["funnel"]["unique_clicks"] == 4 and report["funnel"]["hard_bounces"] == 1
    assert report["articles"][0]["url"] == reported.links[0] and report["complaint_warning"] is True
    text = subprocess.run([sys.executable, "-m", "digest", "editions", "report", str(reported.edition_id)],
                          capture_output=True, text=True, timeout=60)
    assert text.returncode == 0 and "people who opened" in text.stdout and "machine opens" in text.stdout
    missing = subprocess.run([sys.executable, "-m", "digest", "editions", "report", "999"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "edition 999 does not exist" in missing.stderr


def test_operators_are_warned_of_a_complaint_rate_above_a_tenth_of_a_percent(reported):
    from digest.ops.status import gather_status

    [warning] = [w for w in gather_status()["warnings"] if w["check"] == "complaint_rate"]
    assert warning["subject"] == f"edition {reported.edition_id}" and "1 spam reports of 4 delivered" in warning["message"]


def test_a_readers_page_shows_their_last_delivery_open_and_click(reported, client):
    logged_in(client)
    html = client.get(f"/subscribers/{reported.subscriber_ids[0]}").text
    activity = re.search(r'<span id="activity">(.*?)</span></p>', html, re.S).group(1)
    assert not any(f"{what} –" in activity for what in ("Last delivered", "last opened", "last clicked"))
    bounced = client.get(f"/subscribers/{reported.subscriber_ids[4]}").text
    assert re.search(r'<span id="activity">Last delivered –;\s+last opened –', bounced)
