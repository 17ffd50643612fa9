"""Signed values an attacker holds and can change: reader links' tokens, editor session cookies and
CSRF tokens. A genuine token reads back as what it was made for; any change to it, any other
string, and a token of another scope are refused with BadToken (a cookie: no editor), never an
exception."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from digest.signing import sign, verify
from digest.store.db import unit_of_work
from digest.subscribers.tokens import CONFIRM, PREFERENCES, UNSUBSCRIBE, BadToken, make_token, read_token
from digest.web.auth import _editor_from_session, session_value
from tests.fuzz.strategies import budget, hostile_text
from tests.web.editor_helpers import make_editor

SCOPES = [UNSUBSCRIBE, CONFIRM, PREFERENCES]
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
ids = st.integers(1, 2**63 - 1)
# Strings shaped like tokens: hex payloads, dots, dashes, base64 signatures, and anything.
token_like = st.one_of(
    hostile_text,
    st.from_regex(r"[0-9a-fA-F-]{0,30}\.[A-Za-z0-9_-]{0,40}", fullmatch=True),
    st.builds("{}.{}.{}.{}".format, st.from_regex(r"-?[0-9]{0,400}", fullmatch=True),
              st.from_regex(r"-?[0-9]{0,400}", fullmatch=True), hostile_text, hostile_text),
)


@pytest.fixture(autouse=True)
def _settings(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "test-secret-key-not-for-production")
    from tests.conftest import reset_caches
    reset_caches()


@settings(max_examples=budget(200))
@given(st.sampled_from(SCOPES), ids)
def test_a_token_reads_back_as_what_it_was_made_for(scope, subscriber_id):
    claims = read_token(scope, make_token(scope, subscriber_id, now=NOW), now=NOW)
    assert claims.subscriber_id == subscriber_id
    assert (claims.issued_at is not None) == (scope == CONFIRM)


@st.composite
def tampered(draw) -> tuple[str, str, str]:
    """A genuine token changed: a character replaced, some cut, some added, or its scope swapped."""
    scope, subscriber_id = draw(st.sampled_from(SCOPES)), draw(ids)
    token = make_token(scope, subscriber_id, now=NOW)
    how = draw(st.sampled_from(["replace", "cut", "add", "scope"]))
    if how == "scope":
        return token, draw(st.sampled_from([s for s in SCOPES if s != scope])), token
    position = draw(st.integers(0, len(token) - 1))
    if how == "replace":
        changed = token[:position] + draw(st.characters()) + token[position + 1:]
    elif how == "cut":
        changed = token[:position] + token[position + draw(st.integers(1, len(token))):]
    else:
        changed = token[:position] + draw(hostile_text.filter(bool)) + token[position:]
    return token, scope, changed


@settings(max_examples=budget(300))
@given(tampered())
def test_any_change_to_a_token_is_refused(case):
    genuine, scope, changed = case
    assume(changed != genuine)
    with pytest.raises(BadToken):
        read_token(scope, changed, now=NOW)


@settings(max_examples=budget(300))
@given(st.sampled_from(SCOPES), token_like)
def test_any_string_is_refused_as_a_token(scope, value):
    with pytest.raises(BadToken):
        read_token(scope, value, now=NOW)


@settings(max_examples=budget(200))
@given(hostile_text, hostile_text, token_like)
def test_a_signature_verifies_only_its_own_payload(payload, other, signature):
    assert verify("csrf", payload, sign("csrf", payload, 24), 24)
    assert not verify("csrf", payload, signature, 24) or signature == sign("csrf", payload, 24)
    assert payload == other or not verify("csrf", other, sign("csrf", payload, 24), 24)


@pytest.fixture
def editor(settings):
    return make_editor("publisher@example.org", "publisher")


@settings(max_examples=budget(60), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(token_like, st.builds("{}.{}.{}.{}".format, st.integers(-2**70, 2**70),
                                       st.integers(-2**70, 2**70), hostile_text, hostile_text)))
def test_a_forged_session_cookie_is_no_editor(editor, value):
    with unit_of_work() as session:
        genuine = session_value(editor)
        assert _editor_from_session(session, genuine).id == editor.id
        assume(value != genuine)
        assert _editor_from_session(session, value) is None
