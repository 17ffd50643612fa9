"""Every distinct email (tests/emails.py) holds in clients that drop <style> (Gmail's apps with
other accounts, Gmail mobile web): Debian's Chromium shows it at 320, 375 and 600 px with every
<style> element removed, and nothing is wider than the screen. Screenshots at 375 px go to
test-artifacts/ for people to look at."""

from __future__ import annotations

import re

import pytest

from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.emails import every_html

WIDTHS = (320, 375, 600)
WITHOUT_STYLE = "() => document.querySelectorAll('style').forEach((style) => style.remove())"
# What is wider than the screen: the page, and any element that reaches past its right edge.
OVERFLOW = """
() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.body.querySelectorAll('*')]
    .filter((el) => el.getBoundingClientRect().right > width + 0.5)
    .map((el) => el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''));
  return {scrollWidth: document.documentElement.scrollWidth, width, wide: wide.slice(0, 5)};
}
"""


@pytest.mark.postgresql_only  # the messages' bytes are the same from either database
def test_every_email_fits_a_phone_without_its_style_element(every_message):
    from playwright.sync_api import sync_playwright

    emails = every_html(every_message)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for width in WIDTHS:
            page = browser.new_page(viewport={"width": width, "height": 800})
            for label, html in emails.items():
                page.set_content(html)
                page.evaluate(WITHOUT_STYLE)
                assert page.locator("style").count() == 0
                found = page.evaluate(OVERFLOW)
                assert found["scrollWidth"] <= width and found["wide"] == [], f"{label} at {width} px: {found}"
                if width == 375:
                    name = re.sub(r"[^a-z0-9]+", "-", label.lower())
                    page.screenshot(path=str(ARTIFACTS / f"email-without-style-375-{name}.png"), full_page=True)
            page.close()
        browser.close()
