"""One signing scheme (digest/signing.py) for reader links, editor sessions and CSRF tokens:
links already sent keep working, a value signed for one scope passes for no other, and a
rotated SECRET_KEY is still accepted until its grace period ends."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from digest.config import ConfigError, get_settings
from digest.signing import COOKIE_MAC_BYTES, LINK_MAC_BYTES, sign, sign_all, verify
from digest.subscribers.tokens import (CONFIRM, PREFERENCES, UNFOLLOW_ALERT, UNSUBSCRIBE, BadToken,
                                       alert_unfollow_tokens, make_token, read_alert_unfollow, read_token,
                                       reader_payloads, signed_links)
from digest.web.app import app
from digest.web.auth import session_value
from digest.web.csrf import csrf_token
from tests.conftest import reset_caches
from tests.factories import subscribers
from tests.web.editor_helpers import make_editor

# Made by the code that signed links before digest/signing.py, with the tests' SECRET_KEY
# ("test-secret-key-not-for-production"): links in emails readers already keep.
SENT_UNSUBSCRIBE_42 = "2a._ZLj062nlOtF1aa3CnFsEaINX4k"
SENT_PREFERENCES_42 = "2a.bLD45Os7WrjqfNX67wp-dWKjS9Q"
SENT_CONFIRM_42 = "2a-1a1f8d3ea00.qyaG2O9FqLSCCOQ3BxH4bNJi7QQ"  # issued 2026-11-20 12:00 UTC
SENT_CSRF = ("fixed-nonce-for-the-test", "b_pzI-DVeA9mehZCgye7Og2oStWFeE1B")
OLD_KEY = "test-secret-key-not-for-production"
NEW_KEY = "a-brand-new-secret-key-after-rotation"


class _Request:
    """What csrf_token reads of a request: its cookies and state."""

    def __init__(self, nonce: str):
        self.cookies = {"digest_csrf": nonce}
        self.state = type("State", (), {})()


def _rotate(monkeypatch, until: dt.datetime | None) -> None:
    monkeypatch.setenv("SECRET_KEY", NEW_KEY)
    monkeypatch.setenv("SECRET_KEY_PREVIOUS", OLD_KEY)
    if until is not None:
        monkeypatch.setenv("SECRET_KEY_PREVIOUS_UNTIL", until.isoformat())
    reset_caches()


def test_links_and_tokens_made_before_still_verify(settings):
    assert read_token(UNSUBSCRIBE, SENT_UNSUBSCRIBE_42).subscriber_id == 42
    assert read_token(PREFERENCES, SENT_PREFERENCES_42).subscriber_id == 42
    issued = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    assert read_token(CONFIRM, SENT_CONFIRM_42, now=issued + dt.timedelta(days=1)).issued_at == issued
    assert make_token(UNSUBSCRIBE, 42) == SENT_UNSUBSCRIBE_42, "the same key signs the same link"
    nonce, token = SENT_CSRF
    assert csrf_token(_Request(nonce)) == token


def _tokens(scope: str, readers: list[int]) -> list[str]:
    return signed_links(scope, reader_payloads(readers))


def test_a_batch_signs_its_readers_links_exactly_as_one_link_is_signed(settings, monkeypatch):
    assert _tokens(UNSUBSCRIBE, [42]) == [SENT_UNSUBSCRIBE_42]
    assert _tokens(PREFERENCES, [42]) == [SENT_PREFERENCES_42]
    _rotate(monkeypatch, until=dt.datetime(2099, 1, 1, tzinfo=dt.UTC))
    readers = [1, 255, 10**9]
    assert _tokens(UNSUBSCRIBE, readers) == [make_token(UNSUBSCRIBE, n) for n in readers]
    assert signed_links(UNSUBSCRIBE, reader_payloads(readers), "https://x.example/u/", "?e=3") == \
        [f"https://x.example/u/{make_token(UNSUBSCRIBE, n)}?e=3" for n in readers]
    assert _tokens(UNSUBSCRIBE, [7]) != [make_token(PREFERENCES, 7)], "a batch's links keep their scope"
    with pytest.raises(ValueError):
        _tokens(CONFIRM, [7])  # a confirmation carries its issue time: signed one by one


@pytest.mark.parametrize("key", ["sixteen-byte-key", "k" * 64, "k" * 65, "a much longer key: " + "x" * 200,
                                 "ünïcödé-key-with-more-bytes-than-characters"])
def test_a_batch_signs_as_hmac_does_with_keys_of_any_length(settings, monkeypatch, key):
    """The batch signer prepares HMAC's hashes itself (RFC 2104): a key up to the hash's block
    is padded, a longer one hashed first; either way the signature is hmac's."""
    monkeypatch.setenv("SECRET_KEY", key)
    reset_caches()
    payloads = ["1", "2a", "3b9aca00", ""]
    signed = sign_all(UNSUBSCRIBE, payloads)
    assert signed == [sign(UNSUBSCRIBE, payload) for payload in payloads]
    assert all(verify(UNSUBSCRIBE, payload, signature) for payload, signature in zip(payloads, signed))


@pytest.mark.parametrize("size", [1, 2, 3, 19, LINK_MAC_BYTES, 21, COOKIE_MAC_BYTES, 32])
def test_signing_many_payloads_together_gives_each_ones_own_signature(settings, size):
    """sign_all encodes every MAC of a batch at once: each payload's signature is still sign()'s,
    for MACs of any length (base64 groups three bytes; a MAC's last group is cut where its own
    encoding ends)."""
    payloads = [format(n, "x") for n in (0, 1, 255, 4096, 10**9, 2**62)] + ["", "2a-1f", "ünï"]
    assert sign_all(UNSUBSCRIBE, payloads, size) == [sign(UNSUBSCRIBE, payload, size) for payload in payloads]
    assert sign_all(UNSUBSCRIBE, [], size) == []


def test_a_batchs_tokens_are_each_readers_own(settings):
    readers = [1, 42, 255, 10**9]
    assert _tokens(UNSUBSCRIBE, readers) == [make_token(UNSUBSCRIBE, n) for n in readers]
    assert _tokens(PREFERENCES, [42]) == [SENT_PREFERENCES_42]
    assert alert_unfollow_tokens(9, readers) == [f"{n:x}-9.{sign(UNFOLLOW_ALERT, f'{n:x}-9')}" for n in readers]
    assert all(read_alert_unfollow(token) == (n, 9) for token, n in zip(alert_unfollow_tokens(9, readers), readers))
    assert alert_unfollow_tokens(9, readers, "https://x.example/unfollow/") == \
        [f"https://x.example/unfollow/{token}" for token in alert_unfollow_tokens(9, readers)]
    with pytest.raises(ValueError):
        _tokens(CONFIRM, readers)


def test_a_signature_for_one_scope_passes_for_no_other(settings):
    with pytest.raises(BadToken):
        read_token(PREFERENCES, SENT_UNSUBSCRIBE_42)
    nonce, token = SENT_CSRF
    with pytest.raises(BadToken):
        read_token(UNSUBSCRIBE, f"{nonce}.{token}")


def test_a_rotated_key_is_accepted_for_its_grace_period(settings, monkeypatch):
    [reader] = subscribers("reader@example.org")
    old_link = make_token(UNSUBSCRIBE, reader)
    editor = make_editor("editor@example.org", "editor")
    old_session = session_value(editor)

    _rotate(monkeypatch, until=dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    new_link = make_token(UNSUBSCRIBE, reader)
    assert new_link != old_link, "new links are signed with the new key"
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        assert client.get(f"/u/{old_link}").status_code == 200, "a link in an email sent before the rotation"
        assert client.get(f"/u/{new_link}").status_code == 200
        assert client.get(f"/u/{SENT_UNSUBSCRIBE_42}").status_code == 200
        client.cookies.set("digest_session", old_session)
        assert client.get("/dashboard").status_code == 200, "editors stay logged in through the rotation"

    _rotate(monkeypatch, until=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        refused = client.get(f"/u/{old_link}")
        assert refused.status_code == 400 and "not valid" in refused.text
        assert client.get(f"/u/{new_link}").status_code == 200
        client.cookies.set("digest_session", old_session)
        assert client.get("/dashboard").status_code == 303, "after the grace period the old session ends"


def test_a_previous_key_needs_the_end_of_its_grace_period(settings, monkeypatch):
    _rotate(monkeypatch, until=None)
    with pytest.raises(ConfigError, match="SECRET_KEY_PREVIOUS_UNTIL .* is required when SECRET_KEY_PREVIOUS is set"):
        get_settings()
    monkeypatch.setenv("SECRET_KEY_PREVIOUS_UNTIL", "2027-03-01T00:00")
    reset_caches()
    with pytest.raises(ConfigError, match="SECRET_KEY_PREVIOUS_UNTIL 2027-03-01T00:00:00 needs a time zone"):
        get_settings()
