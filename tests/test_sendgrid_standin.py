"""The SendGrid stand-in refuses what SendGrid documents it refuses; otherwise the delivery
tests would prove nothing about the real contract."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import standin_fixture


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
