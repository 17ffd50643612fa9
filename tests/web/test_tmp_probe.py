import re
from fastapi.testclient import TestClient
from digest.web.app import app
from digest.delivery.memory import MemorySender
from digest.store.db import unit_of_work
from digest.accounts import issue_api_token
from tests.factories import approved_edition, draft_edition, polled_feed, send_now, stored_articles, subscribers
from tests.web.editor_helpers import make_editor
from tests.web.test_schema_fuzz import FORM_FIELDS, _openapi
from digest.subscribers.tokens import PREFERENCES, make_token
from digest.signing import COOKIE_MAC_BYTES, sign
from digest.clock import utcnow

VALUE = "x" * 5000

def test_probe(settings, feed_server):
    polled_feed(feed_server); subscribers("a@example.org"); send_now(approved_edition(), MemorySender())
    stored_articles(utcnow()); draft_edition()
    make_editor("p@example.org", "publisher")
    csrf = sign("csrf", "n", COOKIE_MAC_BYTES)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False, follow_redirects=False) as c:
        c.cookies.set("digest_csrf", "n")
        def call(method, path, **kw):
            with unit_of_work() as s: tok = issue_api_token(s, "p@example.org")
            return c.request(method, path, headers={"Authorization": "Bearer " + tok, "X-CSRF-Token": csrf}, **kw)
        bad = []
        for path, ops in _openapi()["paths"].items():
            if path.startswith("/editors/"): continue
            p = re.sub(r"\{(\w+)\}", lambda m: {"action": "pause", "queue": "feeds", "token": make_token(PREFERENCES, 1)}.get(m.group(1), "2" if "edition" in m.group(1) else "1"), path)
            for method, op in ops.items():
                for prm in op.get("parameters", []):
                    if prm["in"] == "query":
                        r = call(method.upper(), p, params={prm["name"]: VALUE}, data={"csrf_token": csrf} if method == "post" else None)
                        if r.status_code >= 500: bad.append(f"{r.status_code} {method} {p} ?{prm['name']}")
                if method == "post":
                    fields = FORM_FIELDS
                    if "requestBody" in op:
                        fields = ["email", "name", "sections", "format", "paused", "password", "next", "website"]
                    for f in fields:
                        r = call("POST", p, data={"csrf_token": csrf, f: VALUE})
                        if r.status_code >= 500: bad.append(f"{r.status_code} POST {p} {f}")
                        if "requestBody" in op and "json" in str(op["requestBody"]):
                            r = call("POST", p, json={"email": "x@example.org", f: VALUE})
                            if r.status_code >= 500: bad.append(f"{r.status_code} POST json {p} {f}")
        print("\n".join(bad))
