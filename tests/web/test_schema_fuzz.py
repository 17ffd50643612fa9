"""Schemathesis over the app's own OpenAPI schema: every operation, with valid and invalid path,
query and body values, against a real database holding a sent edition, a draft, readers, a feed
and editors, as a logged-in publisher (an API token, and the CSRF token forms need), so the
routes are exercised past their 401 and 403. No answer may be a 500, and every answer carries the
security headers.

The schema is generated here: production serves none (openapi_url=None). Each operation gets
DIGEST_FUZZ_EXAMPLES examples (default 10, a few seconds in all); `bash scripts/fuzz` raises it."""

from __future__ import annotations

import base64
import os
import re

import pytest
import redis
import schemathesis
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.openapi.utils import get_openapi
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from digest.accounts import add_editor, issue_api_token
from digest.clock import utcnow
from digest.ops.queues import QUEUES
from digest.delivery.memory import MemorySender
from digest.signing import COOKIE_MAC_BYTES, sign
from digest.store.db import unit_of_work
from digest.store.models import Editor
from digest.subscribers.tokens import CONFIRM, PREFERENCES, UNSUBSCRIBE, alert_unfollow_tokens, make_token
from digest.web.app import app
from digest.web.csrf import CSRF_COOKIE, CSRF_HEADER
from digest.web.headers import DEFAULTS
from tests.conftest import _empty_tables, reset_caches
from tests.factories import approved_edition, draft_edition, polled_feed, send_now, stored_articles, subscribers
from tests.servers import FeedServer
from tests.web.editor_helpers import PASSWORD

EXAMPLES = int(os.environ.get("DIGEST_FUZZ_EXAMPLES", "10"))
PUBLISHER = "publisher@example.org"

# Signed tokens the generator cannot forge, given as examples, so that the readers' pages (and
# their forms' fields, which are generated) are reached past the token check: reader 1's.
TOKENS = {"/confirm/{token}": CONFIRM, "/p/{token}": PREFERENCES, "/u/{token}": UNSUBSCRIBE}


def _openapi() -> dict:
    document = get_openapi(title=app.title, version="fuzz", routes=app.routes)
    for path, scope in TOKENS.items():
        for operation in document["paths"][path].values():
            for parameter in operation["parameters"]:
                if parameter["name"] == "token":
                    parameter["example"] = make_token(scope, 1)
    # Reader 1's "stop these alerts" link of edition 1 (a digest there: the page answers 404).
    for operation in document["paths"]["/unfollow/{alert_token}"].values():
        for parameter in operation["parameters"]:
            parameter["example"] = alert_unfollow_tokens(1, [1])[0]
    return document


schema = schemathesis.openapi.from_dict(_openapi())
schema.app = app

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _webhook_key() -> str:
    """A verification key, as SendGrid's settings page shows one (base64 DER)."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return base64.b64encode(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).decode()


@pytest.fixture(scope="module")
def seeded(service_env):
    """Ids from 1 on, so that small generated ids find rows: a sent edition, a draft, readers, a
    feed on a local server, a publisher and an editor."""
    with pytest.MonkeyPatch.context() as patch, FeedServer() as feeds:
        for name, value in service_env.items():
            patch.setenv(name, value)
        # The webhook checks signatures (unsigned, it would answer 503: no key configured).
        patch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", _webhook_key())
        _empty_tables(service_env["DATABASE_URL"])
        reset_caches()
        polled_feed(feeds)
        subscribers("reader.one@example.org", "reader.two@example.org")
        subscribers("pending.reader@example.org", confirmed=False)
        send_now(approved_edition(), MemorySender())
        stored_articles(utcnow())
        draft_edition()
        with unit_of_work() as session:
            add_editor(session, PUBLISHER, PASSWORD, "publisher")
            add_editor(session, "editor@example.org", PASSWORD, "editor")
        yield
        reset_caches()
    # What the operations queued (polls, sends, checks) is never run: no worker of a later module
    # may fetch a URL the generator made up.
    redis.Redis.from_url(service_env["REDIS_URL"]).flushdb()


@pytest.fixture
def publisher(seeded) -> dict:
    """The publisher's credentials for one operation: an operation may have removed the account,
    changed its password or revoked its token."""
    with unit_of_work() as session:
        if session.scalar(select(Editor).where(Editor.email == PUBLISHER)) is None:
            add_editor(session, PUBLISHER, PASSWORD, "publisher")
        token = issue_api_token(session, PUBLISHER)
    nonce = "fuzz-csrf-nonce"
    csrf = sign("csrf", nonce, COOKIE_MAC_BYTES)
    return {"headers": {"Authorization": f"Bearer {token}", CSRF_HEADER: csrf},
            "cookies": {CSRF_COOKIE: nonce}, "csrf": csrf}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_no_answer_is_a_500_and_every_answer_has_the_security_headers(case, publisher):
    extra = {}
    if case.method == "POST" and not case.operation.body:
        # The editors' forms are read by the routes themselves (not in the schema): send the token.
        extra["data"] = {"csrf_token": publisher["csrf"]}
    response = case.call(headers=publisher["headers"], cookies=publisher["cookies"], **extra)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code}"
    for name in DEFAULTS:
        assert name in response.headers, f"{case.method} {case.formatted_path}: no {name}"


# The fields of the editors' forms (templates/web), which the routes read themselves.
FORM_FIELDS = ("addresses", "article_id", "checklist", "confirm", "confirm_warnings", "detail", "intro", "into", "name",
               "password", "position", "preheader", "section", "send_at", "subject", "url", "variant", "when")
FORM_ROUTES = [path for path, operations in _openapi()["paths"].items()
               if "post" in operations and "requestBody" not in operations["post"]]
AWKWARD = st.sampled_from(["", "0", "-1", "2147483648", "9" * 40, "1e3", " 1 ", "\x00", "now", "period",
                           "publisher@example.org", "http://127.0.0.1:1/feed", "yes"])


def _path(template: str, data) -> str:
    """Ids of the seeded rows mostly (1 to 3), now and then one that names nothing."""
    def fill(match) -> str:
        name = match.group(1)
        if name == "action":
            return data.draw(st.sampled_from(["pause", "resume", "cancel", "retry-failed", "discard-failed",
                                              "resend-unknown", "nothing"]))
        if name == "queue":
            return data.draw(st.sampled_from([*QUEUES, "nothing"]))
        seeded_row = st.integers(1, 3)
        return str(data.draw(st.one_of(seeded_row, seeded_row, seeded_row, st.integers(-5, 2**40))))
    return re.sub(r"\{(\w+)\}", fill, template)


@pytest.mark.parametrize("template", FORM_ROUTES)
@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_value_in_an_editors_form_gives_a_500(template, publisher, data):
    path = _path(template, data)
    form = data.draw(st.dictionaries(st.sampled_from(FORM_FIELDS), st.one_of(AWKWARD, st.text(max_size=200)),
                                     max_size=6))
    with TestClient(app, base_url="https://testserver", follow_redirects=False,
                    raise_server_exceptions=False) as client:
        client.cookies.update(publisher["cookies"])
        answer = client.post(path, data={**form, "csrf_token": publisher["csrf"]}, headers=publisher["headers"])
    assert answer.status_code < 500, f"POST {path} {form}: {answer.status_code}"
    for name in DEFAULTS:
        assert name in answer.headers, f"POST {path}: no {name}"
