"""An editor's "send a test": the edition as a reader of one variant would see it, to a few
addresses, through the configured backend. Marked as a test (subject, header, category) and never
a delivery row: it counts in no figure and stops no reader from receiving the edition."""

from __future__ import annotations

import re

from digest.delivery.message import Sender
from digest.delivery.transactional import send_transactional
from digest.editions.preview import preview_edition
from digest.editions.render import DEFAULT_VARIANT, RenderedEdition, Variant
from digest.errors import InputError
from digest.store.models import Edition
from digest.addresses import normalize_email

MAX_TEST_ADDRESSES = 10
TEST_PREFIX = "[Test] "


def parse_test_addresses(value: str) -> list[str]:
    """Addresses separated by commas, spaces or lines; each checked, at most MAX_TEST_ADDRESSES."""
    parts = [part for part in re.split(r"[\s,;]+", value) if part]
    if not parts:
        raise InputError("test addresses: give at least one email address")
    if len(parts) > MAX_TEST_ADDRESSES:
        raise InputError(f"test addresses: at most {MAX_TEST_ADDRESSES} at a time ({len(parts)} given)")
    addresses, bad = [], []
    for part in parts:  # every bad address named at once, not only the first
        try:
            addresses.append(normalize_email(part, what="test address"))
        except InputError as exc:
            bad.append(str(exc))
    if bad:
        raise InputError("; ".join(bad))
    return list(dict.fromkeys(addresses))


def send_test(edition: Edition, addresses: list[str], sender: Sender, requested_by: str,
              variant: Variant = DEFAULT_VARIANT) -> list[str]:
    """Send the variant to each address; returns the message ids. Raises SendError."""
    filled = preview_edition(edition, variant)
    rendered = RenderedEdition(subject=TEST_PREFIX + filled.subject, html=filled.html, text=filled.text)
    return [
        send_transactional(sender, to=address, name=None, rendered=rendered, category="test",
                           custom_args={"test": "true", "edition_id": str(edition.id), "requested_by": requested_by})
        for address in addresses
    ]
