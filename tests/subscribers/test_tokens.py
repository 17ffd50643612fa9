"""Signed, scoped links: what each token opens, for how long, and that altering one fails."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from digest.config import get_settings
from digest.subscribers.tokens import (
    CONFIRM,
    PREFERENCES,
    UNSUBSCRIBE,
    BadToken,
    ExpiredToken,
    make_token,
    read_token,
)

START = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("made_for, used_for", [
    (CONFIRM, UNSUBSCRIBE), (UNSUBSCRIBE, CONFIRM), (PREFERENCES, UNSUBSCRIBE), (UNSUBSCRIBE, PREFERENCES),
    (CONFIRM, PREFERENCES), (PREFERENCES, CONFIRM),
])
def test_a_token_opens_only_what_it_was_made_for(made_for, used_for):
    token = make_token(made_for, 42)
    assert read_token(made_for, token).subscriber_id == 42
    with pytest.raises(BadToken):
        read_token(used_for, token)


@pytest.mark.parametrize("scope", [CONFIRM, UNSUBSCRIBE, PREFERENCES])
def test_an_altered_token_is_refused(scope):
    token = make_token(scope, 42)
    payload, signature = token.split(".")
    other_id = payload.replace("2a", "2b", 1)
    for forged in (f"{other_id}.{signature}", token[:-1], token + "A", f"{payload}.", payload,
                   "garbage", "", "2a.é", f"{payload}.{signature.swapcase()}"):
        with pytest.raises(BadToken):
            read_token(scope, forged)


def test_a_token_signed_with_another_key_is_refused(monkeypatch):
    token = make_token(UNSUBSCRIBE, 7)
    monkeypatch.setenv("SECRET_KEY", "a-different-secret-key-entirely")
    get_settings.cache_clear()
    try:
        with pytest.raises(BadToken):
            read_token(UNSUBSCRIBE, token)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_a_confirmation_link_expires_after_seven_days():
    with time_machine.travel(START, tick=False):
        token = make_token(CONFIRM, 5)
    with time_machine.travel(START + dt.timedelta(days=7) - dt.timedelta(seconds=1), tick=False):
        claims = read_token(CONFIRM, token)
        assert claims.subscriber_id == 5 and claims.issued_at == START
    with time_machine.travel(START + dt.timedelta(days=7, seconds=1), tick=False):
        with pytest.raises(ExpiredToken, match="expired"):
            read_token(CONFIRM, token)


@pytest.mark.parametrize("scope", [UNSUBSCRIBE, PREFERENCES])
def test_unsubscribe_and_preferences_links_never_expire(scope):
    with time_machine.travel(START, tick=False):
        token = make_token(scope, 9)
    with time_machine.travel(START + dt.timedelta(days=365 * 20), tick=False):
        assert read_token(scope, token).subscriber_id == 9
