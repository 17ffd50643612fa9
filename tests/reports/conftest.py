"""Report tests send through the SendGrid stand-in and feed its signed events back."""

from tests.delivery.conftest import standin  # noqa: F401 - the fixture, shared
