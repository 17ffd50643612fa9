"""Fixtures for delivery tests: a SendGrid stand-in and settings that point at it."""

import pytest

from tests.conftest import reset_caches
from tests.sendgrid_standin import SendGridStandIn


@pytest.fixture
def standin(settings, monkeypatch):
    with SendGridStandIn() as server:
        monkeypatch.setenv("DELIVERY_BACKEND", "sendgrid")
        monkeypatch.setenv("SENDGRID_API_KEY", server.api_key)
        monkeypatch.setenv("SENDGRID_API_HOST", server.url)
        monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", server.public_key)
        reset_caches()
        yield server
