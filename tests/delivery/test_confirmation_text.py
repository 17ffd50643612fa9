"""The sign-up confirmation reads as a friendly note to the person who signed up: their name,
plain words, and a button that shows in every mail client."""

from __future__ import annotations

import re

import pytest

from digest.delivery.confirmation import confirmation_email
from digest.store.models import Subscriber


@pytest.fixture
def mail(settings):
    return lambda name: confirmation_email(Subscriber(id=7, email="ada@example.org", name=name))


def test_it_greets_the_reader_by_the_name_given(mail):
    named = mail("Ada Lovelace")
    assert "<p>Hello Ada Lovelace,</p>" in named.html and "Hello Ada Lovelace," in named.text
    anonymous = mail(None)
    assert "<p>Hello,</p>" in anonymous.html and "Hello,\n" in anonymous.text
    assert "Someone" not in named.text + named.html and "we hope you" not in named.text


def test_a_name_is_text_never_markup(mail):
    hostile = mail('<a href="https://evil.example">x</a>')
    assert '<a href="https://evil.example"' not in hostile.html
    assert "Hello &lt;a href=" in hostile.html


def test_the_call_to_action_is_a_bulletproof_button(mail):
    html = mail("Ada").html
    # A table cell painted with bgcolor (clients that drop CSS still show a button), the link inside.
    button = re.search(r'<td[^>]*bgcolor="#8c1d18"[^>]*>\s*<a [^>]*href="([^"]+/confirm/[^"]+)"[^>]*>Confirm my subscription</a>', html)
    assert button, html
    assert "/confirm/" in mail("Ada").text  # the plain-text part carries the link itself
