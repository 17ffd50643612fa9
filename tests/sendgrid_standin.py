"""A local stand-in for SendGrid's v3 API, for tests and benchmarks.

`POST /v3/mail/send` checks what SendGrid documents: bearer auth (401 with SendGrid's body), at
most 1000 personalizations and 1000 recipients, each address once per request, `from`, `subject`
and `content` required, text/plain before text/html, string-only `custom_args` and
`substitutions` (at most 10,000 bytes of each per personalization), reserved header names
refused; 202 with an `X-Message-Id`, or errors as `{"errors": [{"message", "field", "help"}]}`.
`headers` and `custom_args` may also be the message's own (the body's root): its reserved names
and string-only values are checked there too, and each personalization's custom_args are merged
over the message's, as SendGrid carries them into the message's events (`accepted`, `events()`,
the `processed` posts) and counts them against the limit. It can inject 429 (with
`X-RateLimit-*`), 5xx, slow answers and dropped connections; it counts every message per
address; and it can post signed Event Webhook requests back, as SendGrid does. Also `POST /v3/mail/batch` and
`POST /v3/user/scheduled_sends` for sends scheduled ahead.

For `digest doctor`, the account's settings as SendGrid's v3 reference shapes them: `GET
/v3/scopes` (`{"scopes": [...]}`, the key's own), `GET /v3/whitelabel/domains` (a list of
authenticated domains, each `valid` with its `dns` records) and `GET
/v3/user/webhooks/event/settings/all` (`{"max_allowed", "webhooks": [...]}`, `public_key` only on
a signed webhook); 403 with SendGrid's body when the key lacks the read scope.
"""

from __future__ import annotations

import base64
import gc
import json
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from itertools import chain, repeat
from operator import add, contains, itemgetter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.servers import serve_in_thread

MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
# mail/send's reference: "the total collective size of your substitutions may not exceed 10,000
# bytes per personalization object" (keys counted too, to be safe).
MAX_SUBSTITUTION_BYTES = 10_000
# custom_args: "may not exceed 10,000 bytes" (mail/send's reference, of the message's and of a
# personalization's; its Limitations page: "the total length of custom arguments"). Counted as
# the message carries them: the message's merged with the personalization's.
MAX_CUSTOM_ARGS_BYTES = 10_000
RESERVED_HEADERS = {"x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
                    "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc"}
UNAUTHORIZED = {"errors": [{"field": None, "message": "The provided authorization grant is invalid, "
                            "expired, or revoked", "help": None}]}
DROP = "drop"  # in `fail_next`: close the connection without answering
HOLD = "hold"  # in `fail_next`: keep the request HOLD_SECONDS, then drop it unaccepted (lost in transit)
SLOW = "slow"  # in `fail_next`: accept the request, then answer only after HOLD_SECONDS
HOLD_SECONDS = 3.0


class Invalid(Exception):
    def __init__(self, message: str, field_name: str | None):
        super().__init__(message)
        self.field_name = field_name


_STRINGS, _OBJECTS, _ARRAYS = frozenset({str}), frozenset({dict}), frozenset({list})
_OBJECTS_OR_NULL = frozenset({dict, type(None)})


def merged_personalizations(body: dict) -> list[dict]:
    """Each personalization of a mail/send body as SendGrid reads it: the message's `headers` and
    `custom_args` merged into its own, its own keys winning (SendGrid's Personalizations
    documentation: "Keys within objects such as custom_args will be merged")."""
    return [{**p, "headers": {**(body.get("headers") or {}), **(p.get("headers") or {})},
             "custom_args": {**(body.get("custom_args") or {}), **(p.get("custom_args") or {})}}
            for p in body["personalizations"]]


def check_mail_send(body: dict) -> None:
    """Raise Invalid as SendGrid would answer 400."""
    if not isinstance(body, dict):
        raise Invalid(f"Invalid type. Expected: object, given: {_json_type(body)}.", None)
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        raise Invalid("The personalizations field is required and must have at least one personalization.",
                      "personalizations")
    if len(personalizations) > MAX_PERSONALIZATIONS:
        raise Invalid("The personalizations field is limited to 1000 personalizations.", "personalizations")
    # The message's own headers and custom_args, which each personalization's are merged over.
    check_header_names(_object(body, "headers", "headers"), "headers")
    message_args = _string_values(body, "custom_args", "custom_args")
    message_args_bytes = utf8_size(message_args)
    if message_args_bytes > MAX_CUSTOM_ARGS_BYTES:
        raise Invalid("The total size of custom_args may not exceed 10,000 bytes.", "custom_args")
    subject = body.get("subject")
    # Proved at once for all of them in the common case; one by one otherwise, which finds and
    # names what is wrong (or finds that nothing is).
    if not personalizations_plainly_valid(personalizations, message_args_bytes, subject):
        check_each_personalization(personalizations, message_args, subject)
    if not (body.get("from") or {}).get("email"):
        raise Invalid("The from object must be provided for every email send.", "from")
    content = body.get("content") or []
    if not content or any(not c.get("value") for c in content):
        raise Invalid("The content value must be a string at least one character in length.", "content")
    types = [c.get("type") for c in content]
    if "text/plain" in types and types[0] != "text/plain":
        raise Invalid("If present, text/plain must be first, followed by text/html.", "content")
    if "tracking_settings" in body:
        check_tracking_settings(body["tracking_settings"])


def check_each_personalization(personalizations: list, message_args: dict, subject: object) -> None:
    """SendGrid's checks of the personalizations, one at a time: what a refusal names (the first
    personalization at fault, and the field) comes from here."""
    seen: set[str] = set()
    recipients = 0
    for index, p in enumerate(personalizations):
        where = f"personalizations.{index}"
        if not isinstance(p, dict):
            raise Invalid(f"Invalid type. Expected: object, given: {_json_type(p)}.", where)
        if not p.get("to"):
            raise Invalid("The to array is required for all personalization objects.", f"{where}.to")
        for kind in ("to", "cc", "bcc"):
            addresses = p.get(kind, [])
            if not isinstance(addresses, list):
                raise Invalid(f"Invalid type. Expected: array, given: {_json_type(addresses)}.", f"{where}.{kind}")
            for address in addresses:
                if not isinstance(address, dict):
                    raise Invalid(f"Invalid type. Expected: object, given: {_json_type(address)}.", f"{where}.{kind}")
                email = str(address.get("email", "")).lower()
                if "@" not in email:
                    raise Invalid("Does not contain a valid address.", f"{where}.{kind}")
                if email in seen:
                    raise Invalid("Each email address in the personalization block should be unique "
                                  "between to, cc, and bcc.", f"{where}.{kind}")
                seen.add(email)
                recipients += 1
        custom_args = _string_values(p, "custom_args", f"{where}.custom_args")
        substitutions = _string_values(p, "substitutions", f"{where}.substitutions")
        if utf8_size(substitutions) > MAX_SUBSTITUTION_BYTES:
            raise Invalid("The total size of substitutions may not exceed 10,000 bytes per personalization.",
                          f"{where}.substitutions")
        # The message's custom_args with this personalization's over them: what the message carries.
        if custom_args and utf8_size({**message_args, **custom_args}) > MAX_CUSTOM_ARGS_BYTES:
            raise Invalid("The total size of custom_args may not exceed 10,000 bytes.", f"{where}.custom_args")
        check_header_names(_object(p, "headers", f"{where}.headers"), f"{where}.headers")
        if not (p.get("subject") or subject):
            raise Invalid("The subject is required.", "subject")
    if recipients > MAX_RECIPIENTS:
        raise Invalid("The total number of recipients must be no more than 1000.", "personalizations")


def personalizations_plainly_valid(personalizations: list, message_args_bytes: int, subject: object) -> bool:
    """Whether check_each_personalization surely finds nothing wrong, found by the same checks
    made over every personalization at once, each one pass in C (map, chain, set, str.join)
    where the loop makes them one by one in Python: a benchmark's stand-in checks a million
    personalizations in the process, and on the cores, that it measures. Anything else (cc or
    bcc, a wrong type, a limit passed) answers False and is left to the loop. JSON gives only
    str, dict and list, never a subclass."""
    if not _OBJECTS.issuperset(map(type, personalizations)):
        return False
    fields = set(chain.from_iterable(personalizations))
    if "cc" in fields or "bcc" in fields:
        return False
    tos = list(map(dict.get, personalizations, repeat("to")))
    if not all(tos) or not _ARRAYS.issuperset(map(type, tos)):
        return False
    addresses = list(chain.from_iterable(tos))
    if len(addresses) > MAX_RECIPIENTS or not _OBJECTS.issuperset(map(type, addresses)):
        return False
    emails = list(map(dict.get, addresses, repeat("email")))
    if not _STRINGS.issuperset(map(type, emails)) or not all(map(contains, emails, repeat("@"))):
        return False
    if len(set(map(str.lower, emails))) != len(emails):
        return False
    # Each an object, or null (taken as absent); only the non-empty ones go on.
    custom_args, substitutions, headers = (list(map(dict.get, personalizations, repeat(name)))
                                           for name in ("custom_args", "substitutions", "headers"))
    if not _OBJECTS_OR_NULL.issuperset(map(type, chain(custom_args, substitutions, headers))):
        return False
    custom_args, substitutions, headers = (list(filter(None, objects))
                                           for objects in (custom_args, substitutions, headers))
    largest_substitutions = largest_utf8_size(substitutions, MAX_SUBSTITUTION_BYTES)
    if largest_substitutions is None or largest_substitutions > MAX_SUBSTITUTION_BYTES:
        return False
    # Merged, a personalization's custom_args are at most the message's bytes and its own.
    largest_args = largest_utf8_size(custom_args, MAX_CUSTOM_ARGS_BYTES - message_args_bytes)
    if largest_args is None or message_args_bytes + largest_args > MAX_CUSTOM_ARGS_BYTES:
        return False
    if any(name.lower() in RESERVED_HEADERS for name in set(chain.from_iterable(headers))):
        return False
    return bool(subject) or all(map(dict.get, personalizations, repeat("subject")))


def utf8_size(strings: dict) -> int:
    """An object's keys' and values' bytes, as UTF-8 counts them (what SendGrid's limits count)."""
    return len("".join(strings).encode()) + len("".join(strings.values()).encode())


def largest_utf8_size(objects: list[dict], enough: int) -> int | None:
    """The largest utf8_size among `objects`, or a bound on it that is at most `enough`; None
    when a value is not a string. The bound (an object's keys are some of all the objects'
    keys; each of its values at most the longest; a character at most 4 bytes) takes a pass over
    the values where the exact sizes take a string made and encoded per object."""
    values = list(chain.from_iterable(map(dict.values, objects)))
    try:
        text = "".join(values)  # which also proves each value a string
    except TypeError:
        return None
    keys = "".join(set(chain.from_iterable(objects)))
    bytes_per_character = 1 if text.isascii() and keys.isascii() else 4
    bound = bytes_per_character * (len(keys) + max(map(len, objects), default=0) * max(map(len, values), default=0))
    if bound <= enough:
        return bound
    return max(map(add, map(len, map(str.encode, map("".join, objects))),
                   map(len, map(str.encode, map("".join, map(dict.values, objects))))), default=0)


def check_header_names(headers: dict, where: str) -> None:
    for name in headers:
        if name.lower() in RESERVED_HEADERS:
            raise Invalid(f"The header {name} is reserved.", where)


def _object(parent: dict, name: str, where: str) -> dict:
    """parent[name], an object ({} when absent or null)."""
    value = parent.get(name)
    if value is None:
        return {}
    if type(value) is not dict:  # noqa: E721 - JSON objects are dicts, never a subclass
        raise Invalid(f"Invalid type. Expected: object, given: {_json_type(value)}.", where)
    return value


def _string_values(parent: dict, name: str, where: str) -> dict:
    """parent[name], an object whose values are strings."""
    value = _object(parent, name, where)
    if not _STRINGS.issuperset(map(type, value.values())):
        bad = next(v for v in value.values() if type(v) is not str)  # noqa: E721
        raise Invalid(f"Invalid type. Expected: string, given: {_json_type(bad)}.", where)
    return value


# mail/send's `tracking_settings`, as SendGrid's v3 reference states it: an object of optional
# settings, each an object whose fields have these types (`enable` a boolean, the rest strings).
TRACKING_FIELDS = {
    "click_tracking": {"enable": bool, "enable_text": bool},
    "open_tracking": {"enable": bool, "substitution_tag": str},
    "subscription_tracking": {"enable": bool, "text": str, "html": str, "substitution_tag": str},
    "ganalytics": {"enable": bool, "utm_source": str, "utm_medium": str, "utm_term": str,
                   "utm_content": str, "utm_campaign": str},
}
_JSON_TYPE = {bool: "boolean", str: "string", dict: "object", list: "array", int: "integer",
              float: "number", type(None): "null"}


def _json_type(value: object) -> str:
    return _JSON_TYPE.get(type(value), "value")


def check_tracking_settings(tracking: object) -> None:
    if not isinstance(tracking, dict):
        raise Invalid(f"Invalid type. Expected: object, given: {_JSON_TYPE.get(type(tracking), 'value')}.",
                      "tracking_settings")
    for name, setting in tracking.items():
        where = f"tracking_settings.{name}"
        fields = TRACKING_FIELDS.get(name)
        if fields is None:
            raise Invalid(f"Additional property {name} is not allowed.", "tracking_settings")
        if not isinstance(setting, dict):
            raise Invalid(f"Invalid type. Expected: object, given: {_JSON_TYPE.get(type(setting), 'value')}.", where)
        for field_name, value in setting.items():
            expected = fields.get(field_name)
            if expected is None:
                raise Invalid(f"Additional property {field_name} is not allowed.", where)
            if type(value) is not expected:  # noqa: E721 - JSON true is not the string "true"
                raise Invalid(f"Invalid type. Expected: {_JSON_TYPE[expected]}, given: "
                              f"{_JSON_TYPE.get(type(value), 'value')}.", f"{where}.{field_name}")


class SendGridStandIn:
    def __init__(self, api_key: str = "SG.test-key", latency: float = 0.0):
        self._first_key = api_key
        self._private_key = ec.generate_private_key(ec.SECP256R1())
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.httpd.daemon_threads = True
        self._lock = threading.Lock()
        self.reset(latency)

    def reset(self, latency: float = 0.0) -> None:
        """Forget every request and injected failure, as a stand-in just started would; a stand-in
        shared by a module's tests (its URL in a worker's environment) is reset before each."""
        self.api_key = self._first_key
        self.latency = latency
        # Answers to give before behaving normally: a status code, or DROP.
        self.fail_next: list[int | str] = []
        self.max_body_bytes: int | None = None  # answer 413 past this
        self._bodies: list[bytes] = []  # each accepted mail/send request's body, as it came
        self._message_ids: list[str] = []  # and the X-Message-Id it was answered
        self._parsed: list[dict] = []  # the first of them, parsed when `requests` was asked for
        self._accepted: list[tuple[str, dict, str]] = []  # their recipients, when `accepted` was asked for
        self._accepted_from = 0  # how many bodies those came from
        self.delivered: Counter = Counter()  # messages accepted per `to` address
        self.cancelled_batches: list[str] = []
        self.received = threading.Event()  # set when a mail/send request arrives
        self.arrived = 0  # mail/send requests that reached the stand-in, whatever became of them
        # time.perf_counter() when the first and the latest 202 were written: a benchmark's figures
        # to the moment, not to its polling's
        self.first_accepted_at: float | None = None
        self.last_accepted_at: float | None = None
        # Where to post signed `processed` events for every accepted message (None: nowhere).
        self.webhook_url: str | None = None
        self.posted: list[int] = []  # status codes of those posts
        # The account, as its settings pages and the v3 API show it (the doctor's endpoints).
        self.scopes: list[str] = ["mail.send", "whitelabel.read", "user.webhooks.event.settings.read"]
        self.domains: list[dict] = []
        self.event_webhooks: list[dict] = []

    @property
    def requests(self) -> list[dict]:
        """Every accepted mail/send request's body, parsed. Kept as the bytes that came and parsed
        when asked for: kept parsed, a benchmark's million readers were millions of objects that
        each full collection of this process walked again (a third of the stand-in's CPU at 100
        requests, more with every request)."""
        with self._lock:
            self._parsed.extend(map(orjson.loads, self._bodies[len(self._parsed):]))
            return self._parsed

    @property
    def accepted(self) -> list[tuple[str, dict, str]]:
        """(email, custom_args, message id) of every message accepted so far, one per `to`
        address: custom_args as SendGrid carries them into the message's events, the message's
        with the personalization's over them. Derived from the kept bodies when asked for, as
        `requests` is."""
        bodies = self.requests
        with self._lock:
            for body, message_id in zip(bodies[self._accepted_from:], self._message_ids[self._accepted_from:]):
                self._accepted.extend(recipients(body, message_id))
            self._accepted_from = len(bodies)
            return self._accepted

    @property
    def accepted_requests(self) -> int:
        """How many mail/send requests were accepted (len(requests), without parsing them)."""
        return len(self._bodies)

    # --- the account's settings ----------------------------------------------------------
    def authenticate_domain(self, domain: str, valid: bool = True) -> dict:
        """An authenticated domain as GET /v3/whitelabel/domains lists it (automated security:
        three CNAMEs), every record found in DNS when `valid`."""
        def record(host: str, data: str) -> dict:
            return {"valid": valid, "type": "cname", "host": host, "data": data}
        entry = {"id": len(self.domains) + 1, "user_id": 1, "subdomain": "em1234", "domain": domain,
                 "username": "caci", "ips": [], "custom_spf": False, "default": True, "legacy": False,
                 "automatic_security": True, "valid": valid,
                 "dns": {"mail_cname": record(f"em1234.{domain}", "u1234.wl.sendgrid.net"),
                         "dkim1": record(f"s1._domainkey.{domain}", "s1.domainkey.u1234.wl.sendgrid.net"),
                         "dkim2": record(f"s2._domainkey.{domain}", "s2.domainkey.u1234.wl.sendgrid.net")}}
        self.domains.append(entry)
        return entry

    def add_event_webhook(self, url: str, enabled: bool = True, signed: bool = True) -> dict:
        """An Event Webhook as GET /v3/user/webhooks/event/settings/all lists it; a signed one
        carries this stand-in's public key (the one it signs its posts with)."""
        hook = {"enabled": enabled, "url": url, "group_resubscribe": True, "delivered": True,
                "group_unsubscribe": True, "spam_report": True, "bounce": True, "deferred": True,
                "unsubscribe": True, "processed": True, "open": True, "click": True, "dropped": True,
                "friendly_name": "", "id": str(uuid.uuid4()),
                "created_date": "2026-01-01T12:00:00Z", "updated_date": "2026-01-01T12:00:00Z"}
        if signed:
            hook["public_key"] = self.public_key
        self.event_webhooks.append(hook)
        return hook

    # --- running -------------------------------------------------------------------------
    def __enter__(self) -> "SendGridStandIn":
        serve_in_thread(self.httpd)
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def settings(self) -> dict[str, str]:
        """The service's settings that send through this stand-in and accept its signed events."""
        return {"DELIVERY_BACKEND": "sendgrid", "SENDGRID_API_KEY": self.api_key, "SENDGRID_API_HOST": self.url,
                "SENDGRID_WEBHOOK_PUBLIC_KEY": self.public_key}

    # --- the event webhook ---------------------------------------------------------------
    @property
    def public_key(self) -> str:
        """The verification key, as SendGrid's settings page shows it (base64 DER)."""
        der = self._private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode()

    def sign(self, payload: str, timestamp: str) -> str:
        signature = self._private_key.sign((timestamp + payload).encode(), ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()

    def signed_headers(self, payload: str, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        return {"Content-Type": "application/json",
                "X-Twilio-Email-Event-Webhook-Signature": self.sign(payload, stamp),
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp}

    def events(self, kind: str = "delivered") -> list[dict]:
        """One event of `kind` per message accepted so far, shaped as SendGrid posts them."""
        now = int(time.time())
        return [{"email": email, "timestamp": now, "event": kind, "sg_event_id": uuid.uuid4().hex,
                 "sg_message_id": f"{message_id}.filter-{i}", **custom_args}
                for i, (email, custom_args, message_id) in enumerate(self.accepted)]

    def _report_processed(self, accepted: list[tuple[str, dict, str]]) -> None:
        """As SendGrid does within seconds of a 202: one signed `processed` event per message."""
        now = int(time.time())
        events = [{"email": email, "timestamp": now, "event": "processed", "sg_event_id": uuid.uuid4().hex,
                   "sg_message_id": f"{message_id}.filter-{i}", **custom_args}
                  for i, (email, custom_args, message_id) in enumerate(accepted)]
        for attempt in range(20):  # SendGrid retries a webhook that does not answer 2xx
            try:
                status = self.post_events(self.webhook_url, events).status_code
            except httpx.HTTPError:
                status = 0
            self.posted.append(status)
            if 200 <= status < 300:
                return
            time.sleep(0.5)

    def post_events(self, webhook_url: str, events: list[dict]) -> httpx.Response:
        payload = json.dumps(events) + "\r\n"
        return httpx.post(webhook_url, content=payload.encode(), headers=self.signed_headers(payload), timeout=30)

    # --- HTTP ----------------------------------------------------------------------------
    def _handler_class(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    standin._handle(self, raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (a killed worker); what was accepted stays accepted

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                standin._handle_get(self)

            def log_message(self, format: str, *args) -> None:  # noqa: A002
                pass

        return Handler

    def _handle(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        if handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._answer(handler, 401, UNAUTHORIZED)
        if handler.path == "/v3/mail/batch":
            return self._answer(handler, 201, {"batch_id": uuid.uuid4().hex})
        if handler.path == "/v3/user/scheduled_sends":
            body = json.loads(raw or b"{}")
            with self._lock:
                self.cancelled_batches.append(body.get("batch_id"))
            return self._answer(handler, 201, body)
        if handler.path != "/v3/mail/send":
            return self._answer(handler, 404, _errors("not found"))
        with self._lock:
            injected = self.fail_next.pop(0) if self.fail_next else None
            self.arrived += 1
        if injected == HOLD:
            time.sleep(HOLD_SECONDS)
            injected = DROP
        if injected == DROP:
            handler.close_connection = True
            handler.connection.shutdown(2)
            return None
        if injected == 429:
            reset = int(time.time()) + 1
            return self._answer(handler, 429, _errors("too many requests"), {
                "X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
        if injected is not None and injected != SLOW:
            return self._answer(handler, int(injected), _errors("injected failure"))
        if self.max_body_bytes is not None and len(raw) > self.max_body_bytes:
            return self._answer(handler, 413, _errors("Payload Too Large"))
        message_id = uuid.uuid4().hex[:22]
        try:
            # Nothing of the parsed body outlives the pause: what is kept is `raw`, the `to`
            # addresses (strings) and, for the webhook, the recipients. orjson, not json: parsing
            # was half of what the stand-in cost a benchmark per reader.
            with _collector_paused():
                body = orjson.loads(raw)
                check_mail_send(body)
                addresses = to_addresses(body)
                accepted = recipients(body, message_id) if self.webhook_url else None
                del body
        except orjson.JSONDecodeError:  # not JSON, or not valid UTF-8 (a lone surrogate too)
            return self._answer(handler, 400, _errors("Bad Request"))
        except Invalid as exc:
            return self._answer(handler, 400, _errors(str(exc), exc.field_name))
        with self._lock:
            self._bodies.append(raw)
            self._message_ids.append(message_id)
            self.delivered.update(addresses)
        self.received.set()
        if accepted is not None:
            threading.Thread(target=self._report_processed, args=(accepted,), daemon=True).start()
        if injected == SLOW:
            time.sleep(HOLD_SECONDS)
        if self.latency:
            time.sleep(self.latency)
        self._answer(handler, 202, None, {"X-Message-Id": message_id})
        with self._lock:
            self.last_accepted_at = time.perf_counter()
            self.first_accepted_at = self.first_accepted_at or self.last_accepted_at

    # Each GET endpoint, and the scope a key needs to read it (None: any valid key).
    GET_ENDPOINTS = {"/v3/scopes": None, "/v3/whitelabel/domains": "whitelabel.read",
                     "/v3/user/webhooks/event/settings/all": "user.webhooks.event.settings.read"}

    def _handle_get(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._answer(handler, 401, UNAUTHORIZED)
        path = handler.path.partition("?")[0]
        if path not in self.GET_ENDPOINTS:
            return self._answer(handler, 404, _errors("not found"))
        scope = self.GET_ENDPOINTS[path]
        if scope is not None and scope not in self.scopes:
            return self._answer(handler, 403, {"errors": [{"field": None, "message": "access forbidden"}]})
        if path == "/v3/scopes":
            return self._answer(handler, 200, {"scopes": list(self.scopes)})
        if path == "/v3/whitelabel/domains":
            return self._answer(handler, 200, self.domains)
        return self._answer(handler, 200, {"max_allowed": 5, "webhooks": self.event_webhooks})

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


def to_addresses(body: dict) -> list[str]:
    """Each `to` address of a checked body, in order."""
    return list(map(itemgetter("email"), chain.from_iterable(map(itemgetter("to"), body["personalizations"]))))


def recipients(body: dict, message_id: str) -> list[tuple[str, dict, str]]:
    """(email, custom_args, message id) of each `to` address of a checked body: per SendGrid's
    Personalizations page, "Keys within objects such as custom_args will be merged. If any of the
    keys conflict, the keys in the personalizations object will replace the message level
    object's keys"."""
    message_args = body.get("custom_args") or {}
    return [(address["email"], {**message_args, **(p.get("custom_args") or {})}, message_id)
            for p in body["personalizations"] for address in p["to"]]


_paused_lock = threading.Lock()
_paused = 0  # requests inside _collector_paused
_was_on = False  # whether the collector was on when the first of them came in


@contextmanager
def _collector_paused():
    """Python's collector off while a body is parsed, checked and let go: all that makes no
    cycle, and a request of 1,000 readers is some 6,000 objects, which the collector otherwise
    walked several times over mid-parse, moved to its older generations (whose collections
    walk everything this process holds) and walked again once back on, had they outlived the
    pause. Counted across the server's threads: the collector is one for the process, and back
    on only when the last request inside has left."""
    global _paused, _was_on
    with _paused_lock:
        if _paused == 0:
            _was_on = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _paused_lock:
            _paused -= 1
            if _paused == 0 and _was_on:
                gc.enable()


def _errors(message: str, field_name: str | None = None) -> dict:
    return {"errors": [{"message": message, "field": field_name, "help": None}]}
