"""The SendGrid backend: one v3 mail/send request per batch, one personalization per reader.

The edition goes once as `content`; SendGrid fills each reader's placeholders from that
personalization's `substitutions`, so a batch of 1000 readers is one request, not 1000.

Requests go through one kept-alive HTTP client per process, not the `sendgrid` library's client:
that one opens a connection per call and formats the whole request body (about 1 MB for a batch
of 1000) into a debug message on every call, logged or not, which cost a worker more than the
JSON itself.

The body is the JSON json.dumps would write (ASCII), but an edition reader's personalization is
written straight as text, with json's own C string escaper: no dicts made per reader only to be
serialized, the batch's shared parts escaped once, and links known to need no escaping (plain,
digest.delivery.message) written as they are. What a batch's readers have alike (List-Unsubscribe-
Post, the edition's and batch's ids) goes once at the message level, where SendGrid merges the
`headers` and `custom_args` of each personalization with the message's ("Keys within objects
such as custom_args will be merged"; a personalization's key would win): a tenth of the body
less to write, send and parse. A test holds each reader's merged message to what json.dumps of
their dicts gives (tests/delivery/test_sendgrid_body.py).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from functools import lru_cache
from json.encoder import encode_basestring_ascii as json_string

import httpx
import redis

from digest.config import get_settings
from digest.delivery.message import (ONE_CLICK_UNSUBSCRIBE, BatchTooLarge, CredentialsRefused, EditionReader,
                                     EditionReaders, OutgoingBatch, Recipient, Sender, SendError, Throttled)
from digest.editions.placeholders import NAMELESS_READER, html_escaped, markers, substitutions
from digest.redis_clients import redis_client

log = logging.getLogger(__name__)
# SendGrid's last answer, for the ops page (digest.ops.status reads it).
SENDGRID_KEY = "digest:ops:sendgrid"
RETRYABLE_STATUS = {408, 500, 502, 503, 504}
# A 429 without a reset time: wait about this long (seconds) before asking again.
THROTTLED_WAIT = 5.0
# The same successful answer is recorded for operators at most this often (seconds) per process.
SUCCESS_RECORD_SECONDS = 1.0


def request_body(batch: OutgoingBatch, asm_group_id: int | None = None) -> bytes:
    """The mail/send request's JSON: one personalization per reader, then the batch's fields."""
    # The body (about 1 MB for 1000 readers) is made by one join of small pieces: every larger
    # part joined first and copied again cost a batch 0.3 to 0.6 ms more, mostly the page faults
    # of fresh memory.
    return b"".join(_body_pieces(batch, asm_group_id))


def _body_pieces(batch: OutgoingBatch, asm_group_id: int | None):
    yield b'{"personalizations": ['
    recipients = batch.recipients
    alike = None
    if _alike_edition_readers(recipients):
        alike = recipients[0].alike
        yield from _edition_readers_json(recipients, apart=True)
    else:
        separator = b""
        for recipient in recipients:
            yield separator
            yield _personalization_json(recipient).encode()
            separator = b", "
    yield b"], "
    yield json.dumps(_batch_fields(batch, asm_group_id, alike))[1:].encode()


def _batch_fields(batch: OutgoingBatch, asm_group_id: int | None, alike: EditionReaders | None = None) -> dict:
    """The message-level fields; with `alike`, also the headers and custom_args that every
    personalization of the batch left out because its readers have them alike."""
    body = {
        "from": _address(batch.from_email, batch.from_name),
        "subject": batch.rendered.subject,
        # SendGrid requires text/plain first, then text/html (absent for text-only readers).
        "content": [{"type": "text/plain", "value": batch.rendered.text}]
        + ([{"type": "text/html", "value": batch.rendered.html}] if batch.rendered.html else []),
    }
    if alike is not None:
        body["headers"], body["custom_args"] = alike.headers, alike.custom_args
    if batch.reply_to:
        body["reply_to"] = {"email": batch.reply_to}
    if batch.categories:
        body["categories"] = batch.categories
    if batch.send_at:
        body["send_at"] = batch.send_at
    if batch.provider_batch_id:
        body["batch_id"] = batch.provider_batch_id
    if asm_group_id is not None:
        body["asm"] = {"group_id": asm_group_id}
    body["tracking_settings"] = tracking_settings()
    return body


def personalization(recipient: Recipient | EditionReader, apart: bool = False) -> dict:
    """One reader's personalization, as a dict; `apart`: an edition reader's own headers and
    custom_args alone, what the batch's readers have alike being given at the message level."""
    return {
        "to": [_address(recipient.email, recipient.name)],
        "substitutions": substitutions(recipient.values),
        "headers": recipient.own_headers if apart else recipient.headers,
        "custom_args": recipient.own_custom_args if apart else recipient.custom_args,
    }


def _personalization_json(recipient: Recipient | EditionReader) -> str:
    # Written as text only where its layout is known and its links need no escaping; a one-off
    # message's reader, or links under a base URL with '&' or "'", go through the dicts.
    if type(recipient) is EditionReader and recipient.alike.plain_links:
        return _edition_reader_json(recipient)
    return json.dumps(personalization(recipient))


_NAME_KEY, _UNSUBSCRIBE_KEY, _PREFERENCES_KEY = (
    json_string(markers("text")[field]) for field in ("name", "unsubscribe_url", "preferences_url"))
_NAME_HTML_KEY, _UNSUBSCRIBE_HTML_KEY, _PREFERENCES_HTML_KEY = (
    json_string(markers("html")[field]) for field in ("name", "unsubscribe_url", "preferences_url"))
_UNFOLLOW_KEY, _UNFOLLOW_HTML_KEY = json_string(markers("text")["unfollow_url"]), json_string(markers("html")["unfollow_url"])
_FOR_YOU_KEY, _FOR_YOU_HTML_KEY = json_string(markers("text")["for_you"]), json_string(markers("html")["for_you"])
_ONE_CLICK = json_string(ONE_CLICK_UNSUBSCRIBE)


def _edition_reader_json(reader: EditionReader) -> str:
    """json.dumps(personalization(reader)), written without the dicts: the links are plain."""
    [written] = _edition_readers_json([reader], apart=False)
    return written.decode()


def _alike_edition_readers(recipients: list) -> bool:
    """Whether every recipient is an edition's reader of one batch (one EditionReaders) with
    plain links: what _edition_readers_json writes."""
    if not recipients or type(recipients[0]) is not EditionReader or not recipients[0].alike.plain_links:
        return False
    alike = recipients[0].alike
    return all(type(recipient) is EditionReader and recipient.alike is alike for recipient in recipients)


def _edition_readers_json(readers: list[EditionReader], apart: bool):
    """json.dumps(personalization(reader, apart)) of each reader of one batch, ", " between them,
    as ASCII bytes, written without the dicts: the links are plain, and what the readers share is
    escaped once. One loop, no call per reader but json's C string escaper and the name's
    checks. The layout is EditionReader's (values, headers, custom_args) and
    substitutions()'s, which tests/delivery/test_sendgrid_body.py holds this to."""
    alike = readers[0].alike
    mailto, edition_arg, batch_arg = _alike_json(alike)
    # Apart, a reader's headers and custom_args are their own alone: List-Unsubscribe, their id.
    one_click = "" if apart else f', "List-Unsubscribe-Post": {_ONE_CLICK}'
    edition_part, batch_part = ("", "") if apart else (f'"edition_id": {edition_arg}, ', f', "batch_id": {batch_arg}')
    for_you, nameless = alike.for_you, json_string(NAMELESS_READER)
    separator = ""
    for reader_id, email, name, unsubscribe, preferences, _, unfollow, for_you_text, for_you_html in readers:
        if name and _PLAIN_NAME.fullmatch(name):  # most names: escaped once, written in all three places
            name_json = html_name_json = json_string(name)
            address = f'{{"email": {json_string(email)}, "name": {name_json}}}'
        elif name:
            name_json = json_string(name)
            html_name = html_escaped(name)
            html_name_json = name_json if html_name is name else json_string(html_name)
            clean = _clean_name(name)
            if clean == name:
                address = f'{{"email": {json_string(email)}, "name": {name_json}}}'
            elif clean:
                address = f'{{"email": {json_string(email)}, "name": {json_string(clean)}}}'
            else:
                address = f'{{"email": {json_string(email)}}}'
        else:
            name_json = html_name_json = nameless
            address = f'{{"email": {json_string(email)}}}'
        # An alert's reader carries one link more, which is also their one-click List-Unsubscribe.
        own_part = f', {_UNFOLLOW_KEY}: "{unfollow}", {_UNFOLLOW_HTML_KEY}: "{unfollow}"' if unfollow else ""
        # A digest's reader fills its "For you" placeholder, if only with nothing.
        if for_you:
            own_part += (f', {_FOR_YOU_KEY}: {json_string(for_you_text)}, '
                         f'{_FOR_YOU_HTML_KEY}: {json_string(for_you_html)}')
        yield (f'{separator}{{"to": [{address}], "substitutions": {{'
               f'{_NAME_KEY}: {name_json}, {_NAME_HTML_KEY}: {html_name_json}, '
               f'{_UNSUBSCRIBE_KEY}: "{unsubscribe}", {_UNSUBSCRIBE_HTML_KEY}: "{unsubscribe}", '
               f'{_PREFERENCES_KEY}: "{preferences}", {_PREFERENCES_HTML_KEY}: "{preferences}"{own_part}}}, '
               f'"headers": {{"List-Unsubscribe": "<{unfollow or unsubscribe}>, {mailto}"{one_click}}}, '
               f'"custom_args": {{{edition_part}"subscriber_id": "{reader_id}"{batch_part}}}}}').encode()
        separator = ", "


# A name that needs nothing but JSON's escaping: none of what HTML escapes (& < > " '), nor of
# what SendGrid refuses in an address's name (; ,), nor white space at either end (cut from it).
_PLAIN_NAME = re.compile(r"""[^&<>"';,\s](?:[^&<>"';,]*[^&<>"';,\s])?""")


@lru_cache(maxsize=8)
def _alike_json(alike: EditionReaders) -> tuple[str, str, str]:
    """What a batch's readers share, escaped once: the mailto part (inside the List-Unsubscribe
    string), the edition id and the batch id (JSON strings)."""
    return json_string(alike.mailto)[1:-1], json_string(alike.edition_arg), json_string(alike.batch_arg)


def tracking_settings() -> dict:
    """What SendGrid may track, stated in every request so that the account's defaults never
    decide it. Text links stay as written (readers see the real address); SendGrid's own
    unsubscribe footer stays off (every edition carries ours)."""
    settings = get_settings()
    return {
        "click_tracking": {"enable": settings.TRACK_CLICKS, "enable_text": False},
        "open_tracking": {"enable": settings.TRACK_OPENS},
        "subscription_tracking": {"enable": False},
    }


def _address(email: str, name: str | None) -> dict:
    address = {"email": email}
    clean = _clean_name(name)
    if clean:
        address["name"] = clean
    return address


def _clean_name(name: str | None) -> str:
    # SendGrid refuses names containing ';' or ','.
    return (name or "").replace(";", " ").replace(",", " ").strip()


def record_sendgrid_answer(status: int | None, detail: str = "", at: float | None = None) -> None:
    """Keep SendGrid's last answer (status None: it could not be reached) for operators; never
    worth failing a send for, so Redis being down is only logged."""
    entry = json.dumps({"status": status, "detail": detail[:500], "at": time.time() if at is None else at})
    try:
        redis_client(decode_responses=True).set(SENDGRID_KEY, entry)
    except (redis.RedisError, OSError) as exc:
        log.warning("could not record SendGrid's answer: %s", exc)


class SendGridSender(Sender):
    scheduled_sends = True  # send_at in the request: SendGrid holds the messages until then
    cancellable_batches = True  # mail/batch ids and user/scheduled_sends
    message_id_per_request = True  # X-Message-Id

    def __init__(self, api_key: str, host: str, timeout: float, asm_group_id: int | None = None):
        self.base_url = f"{host.rstrip('/')}/v3/"
        self.headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self.timeout = timeout
        self.asm_group_id = asm_group_id
        self._client: httpx.Client | None = None
        self._client_pid = 0
        self._success_recorded = (0, 0.0)  # the success last recorded for the ops page, and when

    def _http(self) -> httpx.Client:
        # One client per process: a worker's pool children must not share the parent's sockets.
        if self._client is None or self._client_pid != os.getpid():
            # The time-out applies to connecting, each read and each write: a stalled connection
            # would otherwise hold a worker (and its claimed batch) forever.
            self._client = httpx.Client(base_url=self.base_url, headers=self.headers, timeout=self.timeout,
                                        trust_env=False, follow_redirects=False)
            self._client_pid = os.getpid()
        return self._client

    def prepare(self) -> None:
        # The client's transport imports its HTTP modules and loads the CA certificates: about
        # 0.1 s, which the first batch of each worker process waited for.
        self._http()

    def _call(self, path: str, body: bytes | None = None) -> httpx.Response:
        # JSON as the library serialized it (json.dumps, ASCII): the same bytes SendGrid got before.
        request = {} if body is None else {"content": body, "headers": {"Content-Type": "application/json"}}
        try:
            response = self._http().post(path, **request)
        except httpx.HTTPError as exc:
            record_sendgrid_answer(None, f"unreachable: {exc}")
            raise SendError(f"SendGrid unreachable: {exc!r}", permanent=False) from exc
        if response.status_code >= 400:
            error = _classify(response)
            record_sendgrid_answer(response.status_code, str(error))
            self._success_recorded = (0, 0.0)
            raise error
        self._record_success(response.status_code)
        return response

    def _record_success(self, status: int) -> None:
        # Every error is recorded at once; the same success again only once every
        # SUCCESS_RECORD_SECONDS (the ops page shows the last answer and its time): a Redis write
        # for each batch cost a worker more than a fifth of a millisecond per request.
        now = time.monotonic()
        recorded_status, recorded_at = self._success_recorded
        if status != recorded_status or now - recorded_at >= SUCCESS_RECORD_SECONDS:
            record_sendgrid_answer(status)
            self._success_recorded = (status, now)

    def send(self, batch: OutgoingBatch) -> dict[int, str]:
        response = self._call("mail/send", request_body(batch, self.asm_group_id))
        message_id = response.headers.get("X-Message-Id") or ""
        return {recipient.reader_id: message_id for recipient in batch.recipients}

    def create_batch_id(self) -> str:
        """A batch id for a scheduled send, so that it can be cancelled before send_at."""
        return self._call("mail/batch").json()["batch_id"]

    def cancel_scheduled(self, batch_id: str) -> None:
        self._call("user/scheduled_sends", json.dumps({"batch_id": batch_id, "status": "cancel"}).encode())


def _classify(response: httpx.Response) -> SendError:
    status = response.status_code
    detail = _error_messages(response.content)
    message = f"SendGrid answered {status}: {detail}"
    if status in (401, 403):
        return CredentialsRefused(message)
    if status == 413:
        return BatchTooLarge(message)
    if status == 429:
        reset = response.headers.get("X-RateLimit-Reset")
        wait = max(1.0, int(reset) - time.time()) if reset and reset.isdigit() else THROTTLED_WAIT
        return Throttled(message, min(wait, 3600.0))
    return SendError(message, permanent=status not in RETRYABLE_STATUS)


def _error_messages(body: bytes | str | None) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        errors = json.loads(body or "")["errors"]
        return "; ".join(
            f"{e.get('message')}" + (f" ({e['field']})" if e.get("field") else "") for e in errors
        )
    except (ValueError, KeyError, TypeError):
        return (body or "no body")[:500]
