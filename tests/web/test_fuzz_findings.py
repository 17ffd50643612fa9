"""What fuzzing the app found (tests/web/test_schema_fuzz.py and probes like it), each a 500 once:
a NUL character in a query parameter or an editor's form field (PostgreSQL can neither store one
in a text column nor compare a column with one, and no person types one), and a number too long
for Python to read. Each is now bad input, named: 400, nothing saved."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from digest.clock import utcnow
from digest.delivery.memory import MemorySender
from digest.store.db import unit_of_work
from digest.subscribers.suppressions import suppression_for
from digest.web.app import app
from tests.factories import approved_edition, draft_edition, polled_feed, send_now, stored_articles, subscribers
from tests.web.editor_helpers import csrf, logged_in


@pytest.fixture
def client(settings):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        logged_in(client, "publisher@example.org", "publisher")
        yield client


@pytest.mark.parametrize("path", ["/subscribers?q=a%00b", "/editions/1?q=%00", "/archive?x=%00", "/api/ops/status?q=%00"])
def test_a_nul_in_a_query_parameter_is_bad_input(client, feed_server, path):
    polled_feed(feed_server)
    draft_edition()
    answer = client.get(path)
    assert answer.status_code == 400, answer.text
    assert "holds a nul character" in answer.text.lower()


def test_a_nul_in_an_editors_form_field_is_bad_input_and_nothing_is_saved(client, feed_server):
    polled_feed(feed_server)
    reader = subscribers("reader@example.org")[0]
    send_now(approved_edition(), MemorySender())
    stored_articles(utcnow())
    edition_id = draft_edition()
    answer = client.post(f"/editions/{edition_id}/text", data={"csrf_token": csrf(client), "subject": "New\x00",
                                                               "preheader": "p", "intro": "i"})
    assert answer.status_code == 400 and "subject" in answer.text and "nul character" in answer.text.lower()
    assert "New\x00" not in client.get(f"/editions/{edition_id}").text
    answer = client.post(f"/subscribers/{reader}/suppress", data={"csrf_token": csrf(client), "detail": "a\x00b"})
    assert answer.status_code == 400 and "detail" in answer.text
    with unit_of_work() as session:
        assert suppression_for(session, "reader@example.org") is None


def test_a_number_of_editions_too_long_to_read_is_bad_input(client):
    answer = client.get("/reports?n=" + "9" * 5000)
    assert answer.status_code == 400 and "from 2 to 100" in answer.text
