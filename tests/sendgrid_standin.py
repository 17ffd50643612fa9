"""A local stand-in for SendGrid's v3 `POST /v3/mail/send`, checking what SendGrid documents:
bearer auth, personalization and recipient limits, required fields, content order, string-only
custom_args and substitutions, reserved headers; 202 with X-Message-Id, or SendGrid's error body."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
RESERVED_HEADERS = {"x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
                    "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc"}
UNAUTHORIZED = {"errors": [{"field": None, "message": "The provided authorization grant is invalid, "
                            "expired, or revoked", "help": None}]}


class Invalid(Exception):
    def __init__(self, message: str, field_name: str | None):
        super().__init__(message)
        self.field_name = field_name


@dataclass
class StandIn:
    api_key: str = "SG.test-key"
    requests: list[dict] = field(default_factory=list)
    delivered: Counter = field(default_factory=Counter)
    # Status codes to answer with before behaving normally (e.g. [503, 503]).
    fail_next: list[int] = field(default_factory=list)

    def check(self, body: dict) -> None:
        personalizations = body.get("personalizations")
        if not isinstance(personalizations, list) or not personalizations:
            raise Invalid("The personalizations field is required and must have at least one personalization.",
                          "personalizations")
        if len(personalizations) > MAX_PERSONALIZATIONS:
            raise Invalid("The personalizations field is limited to 1000 personalizations.", "personalizations")
        seen: set[str] = set()
        recipients = 0
        for index, p in enumerate(personalizations):
            where = f"personalizations.{index}"
            if not p.get("to"):
                raise Invalid("The to array is required for all personalization objects.", f"{where}.to")
            for kind in ("to", "cc", "bcc"):
                for address in p.get(kind, []):
                    email = str(address.get("email", "")).lower()
                    if "@" not in email:
                        raise Invalid("Does not contain a valid address.", f"{where}.{kind}")
                    if email in seen:
                        raise Invalid("Each email address in the personalization block should be unique "
                                      "between to, cc, and bcc.", f"{where}.{kind}")
                    seen.add(email)
                    recipients += 1
            for name in ("custom_args", "substitutions"):
                if any(not isinstance(v, str) for v in (p.get(name) or {}).values()):
                    raise Invalid(f"Invalid type. Expected: string, given: object.", f"{where}.{name}")
            for header in p.get("headers") or {}:
                if header.lower() in RESERVED_HEADERS:
                    raise Invalid(f"The header {header} is reserved.", f"{where}.headers")
            if not (p.get("subject") or body.get("subject")):
                raise Invalid("The subject is required.", "subject")
        if recipients > MAX_RECIPIENTS:
            raise Invalid("The total number of recipients must be no more than 1000.", "personalizations")
        if not (body.get("from") or {}).get("email"):
            raise Invalid("The from object must be provided for every email send.", "from")
        content = body.get("content") or []
        if not content or any(not c.get("value") for c in content):
            raise Invalid("The content value must be a string at least one character in length.", "content")
        types = [c.get("type") for c in content]
        if "text/plain" in types and types[0] != "text/plain":
            raise Invalid("If present, text/plain must be first, followed by text/html.", "content")

    def serve(self) -> "RunningStandIn":
        return RunningStandIn(self)


class RunningStandIn:
    def __init__(self, state: StandIn):
        self.state = state
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.handle(self, raw)

            def log_message(self, format: str, *args) -> None:  # noqa: A002
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def handle(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        state = self.state
        if handler.path != "/v3/mail/send":
            return self._answer(handler, 404, {"errors": [{"message": "not found", "field": None, "help": None}]})
        if handler.headers.get("Authorization") != f"Bearer {state.api_key}":
            return self._answer(handler, 401, UNAUTHORIZED)
        if state.fail_next:
            status = state.fail_next.pop(0)
            return self._answer(handler, status, {"errors": [{"message": "injected failure", "field": None,
                                                               "help": None}]})
        try:
            body = json.loads(raw)
            state.check(body)
        except json.JSONDecodeError:
            return self._answer(handler, 400, {"errors": [{"message": "Bad Request", "field": None, "help": None}]})
        except Invalid as exc:
            return self._answer(handler, 400, {"errors": [{"message": str(exc), "field": exc.field_name,
                                                           "help": None}]})
        state.requests.append(body)
        for p in body["personalizations"]:
            for address in p["to"]:
                state.delivered[address["email"]] += 1
        self._answer(handler, 202, None, {"X-Message-Id": uuid.uuid4().hex[:22]})

    @staticmethod
    def _answer(handler, status: int, body: dict | None, headers: dict | None = None) -> None:
        payload = json.dumps(body).encode() if body is not None else b""
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        if payload:
            handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
