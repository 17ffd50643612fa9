"""No trap link (docs/reports.md, "People and machines"): every link of every distinct email
(tests/emails.py) is one a person can see and reach. Debian's Chromium lays each message out at
375 px, with its styles and without them (as clients that drop <style> show it), and every <a
href> has a size on screen, is visible, and is neither hidden from screen readers nor taken out
of the keyboard's order. A link that only machines could follow would call the reader who
reached it anyway (most likely with a screen reader) a machine."""

from __future__ import annotations

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.emails import every_html

WITHOUT_STYLE = "() => document.querySelectorAll('style').forEach((style) => style.remove())"
# The links no person could see or reach, each with why.
HIDDEN_LINKS = """
() => [...document.querySelectorAll('a[href]')].flatMap((link) => {
  const box = link.getBoundingClientRect();
  const style = getComputedStyle(link);
  const why = [];
  if (box.width < 1 || box.height < 1) why.push('no size');
  if (style.visibility !== 'visible' || Number(style.opacity) === 0) why.push('invisible');
  if (link.closest('[aria-hidden="true"]')) why.push('aria-hidden');
  if (link.getAttribute('tabindex') === '-1') why.push('tabindex -1');
  return why.length ? [link.getAttribute('href').slice(0, 80) + ': ' + why.join(', ')] : [];
})
"""


@pytest.mark.postgresql_only  # the messages' bytes are the same from either database
def test_every_link_of_every_email_is_one_a_person_can_see_and_reach(every_message):
    from playwright.sync_api import sync_playwright

    emails = every_html(every_message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 375, "height": 800})
        links = 0
        for label, html in emails.items():
            for styled in (True, False):
                page.set_content(html)
                if not styled:
                    page.evaluate(WITHOUT_STYLE)
                assert page.evaluate(HIDDEN_LINKS) == [], (label, "styled" if styled else "without <style>")
                links += page.locator("a[href]").count()
        browser.close()
    assert links > 20 * len(emails)  # the check saw the messages' links
