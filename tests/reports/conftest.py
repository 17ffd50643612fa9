"""Report tests send through the SendGrid stand-in and feed its signed events back: `reported` is
an edition of seven readers with an event of every documented kind, and two actions through the
edition's own unsubscribe and preferences links."""

from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from digest.web.app import app
from tests.reports.events import (SentEdition, bounced, clicked, deferred, delivered, dropped, group_unsubscribed,
                                  opened)


@pytest.fixture
def client(standin):
    with TestClient(app, base_url="https://testserver") as client:
        yield client


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
def reported(standin, feed_server, client):
    sent = SentEdition(standin, feed_server, readers=7)
    first, second = sent.links[0], sent.links[1]
    e = sent.event
    sent.post(client, [
        e(0, "delivered", 1, **delivered()), e(0, "open", 10, **opened()), e(0, "click", 11, **clicked(first)),
        e(0, "open", 70, **opened()), e(0, "click", 80, **clicked(first, 1)),
        e(1, "deferred", 0.5, **deferred()), e(1, "delivered", 5, **delivered()), e(1, "open", 20, **opened()),
        e(1, "click", 21, **clicked(second)),
        e(2, "delivered", 1, **delivered()), e(2, "open", 2, **opened(machine=True)),
        e(2, "click", 3, **clicked(first)), e(2, "unsubscribe", 4),
        e(3, "delivered", 1, **delivered()), e(3, "spamreport", 30), e(3, "group_unsubscribe", 31, **group_unsubscribed()),
        e(3, "click", 40, **clicked(sent.values[sent.emails[3]]["[%preferences_url%]"])),
        e(4, "bounce", 1, **bounced(hard=True)),
        e(5, "bounce", 1, **bounced(hard=False)),
        e(6, "dropped", 0.5, **dropped()),
    ])
    # Reader 0 changes preferences and reader 1 unsubscribes in one click, through this edition's links.
    preferences = sent.values[sent.emails[0]]["[%preferences_url%]"]
    unsubscribe = sent.values[sent.emails[1]]["[%unsubscribe_url%]"]
    assert preferences.endswith(f"?e={sent.edition_id}") and unsubscribe.endswith(f"?e={sent.edition_id}")
    assert client.post(path_of(preferences), data={"format": "text", "sections": ["Analytical Articles"]}).status_code == 200
    assert client.post(path_of(unsubscribe), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    return sent
