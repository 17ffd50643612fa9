"""Public pages share one layout (header, navigation, footer), and so do the editors' pages."""

from __future__ import annotations

from fastapi.testclient import TestClient

from digest.subscribers.tokens import CONFIRM, PREFERENCES, UNSUBSCRIBE, make_token
from digest.web.app import app
from tests.factories import subscribers
from tests.web.editor_helpers import logged_in

LAYOUT = ('<a class="skip" href="#main">Skip to content</a>', '<main id="main"',
          '<footer class="muted">A biweekly digest of the Central Asia-Caucasus Analyst.</footer>')


def test_public_pages_share_the_layout(settings):
    [subscriber_id] = subscribers("reader@example.org")
    public = ["/subscribe", "/archive", "/preferences", "/unsubscribe", "/login", "/archive/999",
              f"/confirm/{make_token(CONFIRM, subscriber_id)}", f"/p/{make_token(PREFERENCES, subscriber_id)}",
              f"/u/{make_token(UNSUBSCRIBE, subscriber_id)}"]
    with TestClient(app, base_url="https://testserver") as client:
        for path in public:
            page = client.get(path).text
            assert all(part in page for part in LAYOUT), path
            assert '<a href="/archive">Archive</a> · <a href="/subscribe">Subscribe</a>' in page, path
        logged_in(client)
        for path in ["/dashboard", "/subscribers", "/feeds"]:
            page = client.get(path).text
            assert all(part in page for part in LAYOUT) and 'aria-label="Editors"' in page, path
