"""/metrics stays the same size whatever a client sends: a scan with made-up HTTP methods and
random addresses adds no series, in the exposition or in Redis, once the few it can reach exist
(the method of a request is one of HTTP's or `other`, its route a template or `unmatched`)."""

from __future__ import annotations

import json
import random
import string

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from digest.counters import COUNTERS_KEY, HISTOGRAMS_KEY
from digest.web.app import app

# Unmatched addresses, a route with an id, the static files: each answers a made-up method its own way.
PATHS = ("/no/such/{}", "/archive/{}", "/static/{}.css", "/editions/{}/preview")


def _series(client) -> set[tuple[str, tuple]]:
    text = client.get("/metrics").text
    return {(sample.name, tuple(sorted(sample.labels.items())))
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _redis_series(redis_client) -> tuple[int, int]:
    """How many counters, and histograms (a field per bucket that was hit, one bucket more or less
    is the timing of a request), Redis holds."""
    histograms = {json.dumps(json.loads(field)[:2]) for field in redis_client.hkeys(HISTOGRAMS_KEY)}
    return redis_client.hlen(COUNTERS_KEY), len(histograms)


def _scan(client, rng: random.Random, count: int) -> None:
    for _ in range(count):
        method = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 12)))
        path = rng.choice(PATHS).format(rng.randint(1, 10**12))
        assert client.request(method, path).status_code in (404, 405)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_made_up_methods_and_random_paths_add_no_series(settings, clean_redis):
    rng = random.Random(29)
    with TestClient(app, base_url="https://testserver") as client:
        for path in PATHS:  # once each, so the series a scan can reach exist
            client.request("MADEUP", path.format(1))
            client.request("GET", path.format(1))
        client.get("/metrics")
        before, size = _series(client), len(client.get("/metrics").content)
        fields = _redis_series(clean_redis)
        _scan(client, rng, 300)
        after = _series(client)
        assert after == before, sorted(after - before)[:10]
        assert _redis_series(clean_redis) == fields
        # Only the counts grow, by a digit or two each.
        assert len(client.get("/metrics").content) - size < 2000
