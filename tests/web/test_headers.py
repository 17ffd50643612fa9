"""Security headers: every answer forbids sniffing and referrers; pages allow only our own
scripts and refuse framing; an email shown on our origin (archive, preview) may style itself but
run nothing, and only our edition page may frame the preview. No API map is public."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from digest.delivery.memory import MemorySender
from digest.web.app import app
from tests.factories import approved_edition, draft_edition, polled_feed, send_now, subscribers
from tests.web.editor_helpers import logged_in


@pytest.fixture
def client(settings):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def _policy(answer) -> dict[str, str]:
    return {part.split()[0]: part.partition(" ")[2] for part in
            filter(None, (p.strip() for p in answer.headers["content-security-policy"].split(";")))}


def _common(answer) -> None:
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"


def test_pages_allow_only_our_scripts_and_refuse_framing(client, feed_server):
    polled_feed(feed_server)
    edition_id = draft_edition()
    public = ["/", "/archive", "/subscribe", "/login", "/preferences", "/unsubscribe", "/healthz", "/nowhere"]
    for path in public:
        answer = client.get(path)
        _common(answer)
        policy = _policy(answer)
        assert policy["script-src"] == "'self'" and policy["frame-ancestors"] == "'none'", path
        assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'", path
        assert answer.headers["x-frame-options"] == "DENY", path
    logged_in(client, "ed@example.org", "publisher")
    for path in ["/dashboard", f"/editions/{edition_id}", "/subscribers", "/feeds", "/ops"]:
        answer = client.get(path)
        assert answer.status_code == 200, path
        _common(answer)
        assert _policy(answer)["frame-ancestors"] == "'none'", path
        # No inline script: a script element always names its (static) file.
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", answer.text), path


def test_the_edition_pages_script_is_a_static_file(client):
    answer = client.get("/static/edition.js")
    assert answer.status_code == 200 and "javascript" in answer.headers["content-type"]
    assert "{{" not in answer.text
    _common(answer)


def test_the_preview_may_be_framed_by_our_page_only_and_runs_nothing(client, feed_server):
    polled_feed(feed_server)
    edition_id = draft_edition()
    logged_in(client, "ed@example.org", "publisher")
    answer = client.get(f"/editions/{edition_id}/preview")
    assert answer.status_code == 200
    _common(answer)
    policy = _policy(answer)
    assert policy["default-src"] == "'none'" and policy["script-src"] == "'none'"
    assert policy["style-src"] == "'unsafe-inline'" and policy["frame-ancestors"] == "'self'"
    assert answer.headers["x-frame-options"] == "SAMEORIGIN"
    page = client.get(f"/editions/{edition_id}").text
    assert f'src="/editions/{edition_id}/preview' in page and 'sandbox="' in page


def test_the_archived_email_runs_nothing_and_is_framed_by_our_archive_page_only(client, feed_server):
    polled_feed(feed_server)
    subscribers("a@example.org")
    edition_id = approved_edition()
    send_now(edition_id, MemorySender())
    answer = client.get(f"/archive/{edition_id}/email")
    assert answer.status_code == 200
    policy = _policy(answer)
    assert policy["default-src"] == "'none'" and policy["script-src"] == "'none'"
    assert policy["frame-ancestors"] == "'self'" and policy["form-action"] == "'none'"
    # The page around it is a page of the site: its policy, never framed itself.
    around = client.get(f"/archive/{edition_id}")
    _common(around)
    assert _policy(around)["script-src"] == "'self'" and _policy(around)["frame-ancestors"] == "'none'"
    frame = re.search(r"<iframe[^>]*>", around.text).group(0)
    assert "allow-scripts" not in frame and "allow-forms" not in frame


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"])
def test_no_api_map_is_served(client, path):
    assert client.get(path).status_code == 404
    logged_in(client, "ed@example.org", "publisher")
    assert client.get(path).status_code == 404
