"""The SendGrid stand-in refuses what SendGrid documents it refuses; otherwise the delivery
tests would prove nothing about the real contract."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.conftest import standin_fixture
from tests.servers import serve_in_thread


def _body(**overrides) -> dict:
    body = {
        "personalizations": [{"to": [{"email": "a@example.org"}], "custom_args": {"delivery_id": "1"},
                              "substitutions": {"[%name%]": "A"}, "headers": {"List-Unsubscribe-Post": "x"}}],
        "from": {"email": "digest@example.org", "name": "Digest"},
        "subject": "Hello",
        "content": [{"type": "text/plain", "value": "Hi"}, {"type": "text/html", "value": "<p>Hi</p>"}],
    }
    body.update(overrides)
    return body


standin = standin_fixture("module")


def _post(standin, body, key="SG.test-key") -> httpx.Response:
    return httpx.post(f"{standin.url}/v3/mail/send", json=body, headers={"Authorization": f"Bearer {key}"})


def test_a_valid_request_is_accepted_with_a_message_id(standin):
    answer = _post(standin, _body())
    assert answer.status_code == 202 and answer.headers["X-Message-Id"]


def test_a_wrong_key_gets_sendgrids_401(standin):
    answer = _post(standin, _body(), key="SG.wrong")
    assert answer.status_code == 401
    assert answer.json()["errors"][0]["message"].startswith("The provided authorization grant is invalid")


def _person(i: int) -> dict:
    return {"to": [{"email": f"r{i}@example.org"}]}


@pytest.mark.parametrize("body, field", [
    (_body(personalizations=[_person(i) for i in range(1001)]), "personalizations"),
    (_body(personalizations=[{"to": [{"email": f"r{i}@example.org"} for i in range(1001)]}]), "personalizations"),
    (_body(personalizations=[_person(1), _person(1)]), "personalizations.1.to"),
    (_body(personalizations=[]), "personalizations"),
    (_body(**{"from": {}}), "from"),
    (_body(subject=""), "subject"),
    (_body(content=[]), "content"),
    (_body(content=[{"type": "text/html", "value": "<p>x</p>"}, {"type": "text/plain", "value": "x"}]), "content"),
    (_body(personalizations=[{"to": [{"email": "a@example.org"}], "custom_args": {"id": 1}}]),
     "personalizations.0.custom_args"),
    (_body(personalizations=[{"to": [{"email": "a@example.org"}], "substitutions": {"-x-": {"a": 1}}}]),
     "personalizations.0.substitutions"),
    (_body(personalizations=[{"to": [{"email": "a@example.org"}], "headers": {"Subject": "x"}}]),
     "personalizations.0.headers"),
    (_body(personalizations=[{"to": [{"email": "a@example.org"}], "substitutions": {"-a-": "x" * 9_000, "-b-": "y" * 995}}]),
     "personalizations.0.substitutions"),
    # Bytes as UTF-8 counts them, not characters: 2,500 four-byte characters are 10,000 bytes.
    (_body(personalizations=[{"to": [{"email": "a@example.org"}], "substitutions": {"-a-": "\U0001F600" * 2_500}}]),
     "personalizations.0.substitutions"),
    (_body(personalizations=[_person(1), {"to": [{"email": "b@example.org"}], "custom_args": {"a": "1", "b": None}}]),
     "personalizations.1.custom_args"),
])
def test_what_sendgrid_refuses_is_refused(standin, body, field):
    answer = _post(standin, body)
    assert answer.status_code == 400
    [error] = answer.json()["errors"]
    assert error["field"] == field and error["message"] and "help" in error


@pytest.mark.parametrize("tracking, field_name", [
    ("on", "tracking_settings"),
    ({"click_tracking": {"enable": "true"}}, "tracking_settings.click_tracking.enable"),
    ({"click_tracking": {"enable": True, "enable_text": 1}}, "tracking_settings.click_tracking.enable_text"),
    ({"open_tracking": {"enable": True, "substitution_tag": 7}}, "tracking_settings.open_tracking.substitution_tag"),
    ({"open_tracking": True}, "tracking_settings.open_tracking"),
    ({"subscription_tracking": {"enable": False, "html": None}}, "tracking_settings.subscription_tracking.html"),
    ({"ganalytics": {"enable": True, "utm_source": ["x"]}}, "tracking_settings.ganalytics.utm_source"),
    ({"pixel_tracking": {"enable": True}}, "tracking_settings"),
    ({"open_tracking": {"enable": True, "pixel": "top"}}, "tracking_settings.open_tracking"),
])
def test_tracking_settings_of_the_wrong_shape_are_refused(standin, tracking, field_name):
    answer = _post(standin, _body(tracking_settings=tracking))
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == field_name


def test_every_documented_tracking_setting_is_accepted(standin):
    tracking = {"click_tracking": {"enable": True, "enable_text": False},
                "open_tracking": {"enable": True, "substitution_tag": "%open%"},
                "subscription_tracking": {"enable": False, "text": "t", "html": "<p>h</p>", "substitution_tag": "%u%"},
                "ganalytics": {"enable": True, "utm_source": "digest", "utm_medium": "email", "utm_term": "",
                               "utm_content": "", "utm_campaign": "edition"}}
    assert _post(standin, _body(tracking_settings=tracking)).status_code == 202


def test_substitutions_just_within_the_limit_are_accepted(standin):
    body = _body(personalizations=[{"to": [{"email": "a@example.org"}], "substitutions": {"-a-": "\U0001F600" * 2_499}}])
    assert _post(standin, body).status_code == 202


def test_the_accepted_bodies_are_kept_as_they_were_sent(standin):
    before = len(standin.requests)  # the module's earlier tests share this stand-in
    first, second = _body(subject="First"), _body(subject="Second \u00e9")
    assert _post(standin, first).status_code == 202 and _post(standin, _body(subject="")).status_code == 400
    assert standin.requests[before:] == [first] and standin.accepted_requests == before + 1
    assert _post(standin, second).status_code == 202
    assert standin.requests[before:] == [first, second] and standin.accepted_requests == before + 2


# --- the message's own headers and custom_args ------------------------------------------------
# SendGrid's Personalizations page: "Keys within objects such as custom_args will be merged. If
# any of the keys conflict, the keys in the personalizations object will replace the message
# level object's keys."

def test_each_recipient_carries_the_messages_custom_args_with_their_own_over_them(standin):
    before = len(standin.accepted)
    body = _body(custom_args={"edition_id": "7", "batch_id": "3", "kind": "edition"},
                 headers={"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
                 personalizations=[
                     {"to": [{"email": "own@example.org"}], "custom_args": {"subscriber_id": "1", "kind": "own"}},
                     {"to": [{"email": "plain@example.org"}, {"email": "second@example.org"}]},
                     {"to": [{"email": "null@example.org"}], "custom_args": None}])
    answer = _post(standin, body)
    assert answer.status_code == 202
    message_id = answer.headers["X-Message-Id"]
    message = {"edition_id": "7", "batch_id": "3", "kind": "edition"}
    assert standin.accepted[before:] == [
        ("own@example.org", {"edition_id": "7", "batch_id": "3", "kind": "own", "subscriber_id": "1"}, message_id),
        ("plain@example.org", message, message_id), ("second@example.org", message, message_id),
        ("null@example.org", message, message_id)]
    own, *_ = standin.events("delivered")[before:]
    assert (own["email"], own["kind"], own["edition_id"], own["subscriber_id"]) == ("own@example.org", "own", "7", "1")
    assert standin.requests[-1] == body  # kept as sent, unmerged


def test_the_processed_events_carry_the_merged_custom_args(standin):
    posted: list[list[dict]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            posted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    serve_in_thread(receiver)
    standin.webhook_url = f"http://127.0.0.1:{receiver.server_address[1]}/webhooks/sendgrid"
    try:
        body = _body(custom_args={"edition_id": "7", "subscriber_id": "0"},
                     personalizations=[{"to": [{"email": "a@example.org"}], "custom_args": {"subscriber_id": "1"}},
                                       {"to": [{"email": "b@example.org"}]}])
        assert _post(standin, body).status_code == 202
        deadline = time.monotonic() + 10
        while not posted and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        standin.webhook_url = None
        receiver.shutdown()
        receiver.server_close()
    [events] = posted
    assert [(e["event"], e["email"], e["edition_id"], e["subscriber_id"]) for e in events] == [
        ("processed", "a@example.org", "7", "1"), ("processed", "b@example.org", "7", "0")]


@pytest.mark.parametrize("overrides, field", [
    ({"headers": {"Reply-To": "x@example.org"}}, "headers"),
    ({"headers": {"X-Mailer": "digest", "dkim-signature": "x"}}, "headers"),
    ({"headers": ["List-Unsubscribe-Post"]}, "headers"),
    ({"custom_args": {"edition_id": 7}}, "custom_args"),
    ({"custom_args": {"edition_id": "7", "batch_id": None}}, "custom_args"),
    ({"custom_args": "edition"}, "custom_args"),
    # At most 10,000 bytes, keys and values as UTF-8 counts them: the message's alone...
    ({"custom_args": {"a": "x" * 10_000}}, "custom_args"),
    ({"custom_args": {"-a-": "\U0001F600" * 2_500}}, "custom_args"),
    # ... a personalization's alone, and the two merged.
    ({"personalizations": [{"to": [{"email": "a@example.org"}], "custom_args": {"a": "x" * 10_000}}]},
     "personalizations.0.custom_args"),
    ({"custom_args": {"a": "x" * 6_000},
      "personalizations": [_person(1), {"to": [{"email": "b@example.org"}], "custom_args": {"b": "y" * 4_000}}]},
     "personalizations.1.custom_args"),
    ({"personalizations": [{"to": [{"email": "a@example.org"}], "custom_args": ["id"]}]},
     "personalizations.0.custom_args"),
    ({"personalizations": [{"to": [{"email": "a@example.org"}], "headers": {"x-sg-id": "1"}}]},
     "personalizations.0.headers"),
])
def test_what_sendgrid_refuses_at_the_message_level_is_refused(standin, overrides, field):
    answer = _post(standin, _body(**overrides))
    assert answer.status_code == 400
    [error] = answer.json()["errors"]
    assert error["field"] == field and error["message"]


def test_custom_args_are_counted_merged(standin):
    """A key the personalization replaces counts once: 6,001 bytes merged, not 12,002."""
    body = _body(custom_args={"a": "x" * 6_000},
                 personalizations=[{"to": [{"email": "a@example.org"}], "custom_args": {"a": "y" * 6_000}}])
    assert _post(standin, body).status_code == 202
    assert standin.accepted[-1][1] == {"a": "y" * 6_000}
    # 3 + 9,992 bytes the message's, 2 the personalization's: 9,997 bytes merged; 4 more are too many.
    people = [{"to": [{"email": "a@example.org"}], "custom_args": {"b": "1"}}]
    assert _post(standin, _body(custom_args={"-a-": "\U0001F600" * 2_498}, personalizations=people)).status_code == 202
    answer = _post(standin, _body(custom_args={"-a-": "\U0001F600" * 2_499}, personalizations=people))
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "personalizations.0.custom_args"


def test_a_large_substitution_beside_non_ascii_ones_is_measured_exactly(standin):
    """The check's quick bound (4 bytes a character, each value the longest) says 'maybe too
    large'; the exact count says 9,003 bytes, within the limit."""
    people = [{"to": [{"email": "a@example.org"}], "substitutions": {"-a-": "x" * 9_000}},
              {"to": [{"email": "b@example.org"}], "substitutions": {"-a-": "Se\u00e1n"}}]
    assert _post(standin, _body(personalizations=people)).status_code == 202
