"""Every message the service writes (tests/emails.py), as the bytes a reader's mail client receives:
MIME-clean (checked on the raw bytes) and scored under 1.0 by SpamAssassin (Debian's, local tests only)."""

from __future__ import annotations

import base64
import quopri
import re
from email import message_from_bytes, policy

import pytest
from digest.checklist.spam import spam_report, spamassassin_installed
from tests.emails import every_html

MAX_SPAM_SCORE = 1.0


def test_every_message_is_mime_clean_on_the_wire(every_message):
    for label, raw in every_message.items():
        problems = mime_problems(raw)
        assert not problems, f"{label}: {problems}"


@pytest.mark.postgresql_only  # the messages' bytes are the same from either database
def test_every_message_scores_under_one_point_in_spamassassin(every_message):
    if not spamassassin_installed():
        pytest.fail("spamassassin is missing: scripts/test installs Debian's package")
    for label, raw in every_message.items():
        score, rules = spam_score(raw)
        assert score < MAX_SPAM_SCORE, f"{label} scored {score}: {rules}"


def test_a_long_subject_folds_between_words_and_reads_back_whole():
    from email.message import EmailMessage

    from digest.delivery.mime import MIME_POLICY

    subject = "Confirm your subscription to the Central Asia-Caucasus Analyst digest, a second line"
    message = EmailMessage(policy=MIME_POLICY)
    message["Subject"] = subject
    message["List-Unsubscribe"] = "<https://digest.example.org/u/" + "x" * 90 + ">, <mailto:u@example.org>"
    message.set_content("body")
    raw = message.as_bytes()
    assert b"Subject: Confirm your subscription to the Central Asia-Caucasus Analyst\r\n digest" in raw
    assert b">,\r\n <mailto:u@example.org>" in raw  # folded between the URIs, never inside one
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == subject
    assert parsed["List-Unsubscribe"] == "<https://digest.example.org/u/" + "x" * 90 + ">, <mailto:u@example.org>"


def test_the_checks_catch_what_they_look_for():
    """The checks themselves: a message with a bare LF, a long encoded line and no Date fails."""
    bad = (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
           + b"x" * 90 + b"\nbare\r\n")
    problems = mime_problems(bad)
    assert any("bare LF" in p for p in problems)
    assert any("over 76" in p for p in problems)
    assert any("Date" in p for p in problems) and any("Message-ID" in p for p in problems)
    score, rules = spam_score(b"Subject: x\r\nTo: b@example.org\r\n\r\n" + b"<font color=white>" * 3)
    assert "MISSING_DATE" in rules or score > 0


# -- what is checked, on the raw bytes ---------------------------------------------------------

def mime_problems(raw: bytes) -> list[str]:
    problems = []
    if re.search(rb"(?<!\r)\n", raw):
        problems.append("a bare LF where the standard wants CRLF")
    head, _, _ = raw.partition(b"\r\n\r\n")
    header_lines = head.split(b"\r\n")
    for line in header_lines:
        if len(line) > 998:
            problems.append(f"header line over 998 characters: {line[:40]!r}")
        if line[:1] not in (b" ", b"\t") and b":" not in line:
            problems.append(f"header line neither a field nor a fold: {line[:40]!r}")
        if re.fullmatch(rb"[!-9;-~]+:\s*", line):
            problems.append(f"header folded right after its colon: {line!r}")
    names = {line.split(b":", 1)[0].lower() for line in header_lines if line[:1] not in (b" ", b"\t")}
    for required in (b"date", b"message-id", b"from", b"to", b"subject", b"mime-version"):
        if required not in names:
            problems.append(f"no {required.decode().title().replace('Id', 'ID')} header")
    for encoding, body in encoded_parts(raw):
        long_lines = [line for line in body.split(b"\r\n") if len(line) > 76]
        if long_lines:
            problems.append(f"{len(long_lines)} {encoding} line(s) over 76 characters: {long_lines[0][:40]!r}")
        decoded = quopri.decodestring(body) if encoding == "quoted-printable" else base64.b64decode(body)
        decoded.decode("utf-8")  # every part says utf-8: it must be
    return problems


def encoded_parts(raw: bytes):
    """(encoding, body) of every leaf part, split by hand on the boundaries the headers name."""
    boundaries = [b"--" + b for b in re.findall(rb'boundary="?([^";\r\n]+)"?', raw)]
    chunks = [raw]
    for boundary in boundaries:
        chunks = [piece for chunk in chunks for piece in chunk.split(boundary)]
    for chunk in chunks:
        head, separator, body = chunk.partition(b"\r\n\r\n")
        match = re.search(rb"(?im)^content-transfer-encoding:\s*(quoted-printable|base64)\s*$", head)
        if separator and match and b"multipart/" not in head.lower():
            yield match.group(1).decode().lower(), body.strip(b"\r\n-")


def spam_score(raw: bytes) -> tuple[float, str]:
    """SpamAssassin's score with network tests off, and the rules it hit with their points (the
    same run and reading as the pre-send checklist's)."""
    report = spam_report(raw)
    return report.score, report.describe_rules()


# -- contrast, as a browser paints it ----------------------------------------------------------

# For every visible piece of text: its colour and the first opaque background behind it, and the
# WCAG 2 contrast ratio between them (AA: 4.5, or 3 for large text).
LOW_CONTRAST_TEXT_JS = """
() => {
  const rgb = (value) => {
    const parts = (value.match(/rgba?\\(([^)]+)\\)/) || [null, ""])[1].split(",").map(Number);
    return parts.length < 3 ? null : {r: parts[0], g: parts[1], b: parts[2], a: parts.length > 3 ? parts[3] : 1};
  };
  const luminance = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c && c.a > 0) return c;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  const low = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement, style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (!node.textContent.trim() || !box.width || !box.height || style.visibility === "hidden") continue;
    const a = luminance(rgb(style.color)), b = luminance(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < needed) low.push(`${node.textContent.trim().slice(0, 30)} (${style.color} on ${JSON.stringify(background(el))}) ${ratio.toFixed(2)}`);
  }
  return low;
}
"""


def test_every_text_passes_wcag_aa_contrast_in_light_and_dark_mode(every_message):
    from playwright.sync_api import sync_playwright

    from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

    pages = every_html(every_message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for scheme in ("light", "dark"):
            page = browser.new_page(viewport={"width": 700, "height": 900}, color_scheme=scheme)
            for label, html in pages.items():
                page.set_content(html)
                assert page.evaluate(LOW_CONTRAST_TEXT_JS) == [], f"{label}, {scheme} mode"
                if label == "all sections":
                    ARTIFACTS.mkdir(exist_ok=True)
                    page.screenshot(path=str(ARTIFACTS / f"email-{scheme}.png"), full_page=True)
                    _bylines_at_two_widths(page, scheme)
                if label in ("alert", "for you"):  # as a desktop client and a phone show them
                    for width in (1280, 375):
                        page.set_viewport_size({"width": width, "height": 900})
                        page.screenshot(path=str(ARTIFACTS / f"email-{label.replace(' ', '-')}-{scheme}-{width}.png"),
                                        full_page=True)
                        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{label} at {width} px"
                    page.set_viewport_size({"width": 700, "height": 900})
            page.close()
        browser.close()



# The sample's articles whose line under the title shows an issue, a place and an affiliation.
SHOWN_BYLINES = {"Kazakhstan’s Grain Exporters": "affiliation", "Bulk Shipments Divide": "place",
                 "Joint Customs Posts": "issue-only"}


def _bylines_at_two_widths(page, scheme: str) -> None:
    """The edition as a desktop client's 600 px column and a phone show it, for an editor to read
    the lines under the titles (issue, place, affiliation): each line inside its column."""
    from tests.browser import ARTIFACTS

    for width in (600, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"email-bylines-{scheme}-{width}.png"), full_page=True)
        for title, shows in SHOWN_BYLINES.items():
            article = page.locator("table.article", has_text=title)
            article.screenshot(path=str(ARTIFACTS / f"email-byline-{shows}-{scheme}-{width}.png"))
        overflowing = page.evaluate(
            "[...document.querySelectorAll('.article-meta')].filter(p => p.scrollWidth > p.clientWidth).length")
        assert overflowing == 0 and page.evaluate("document.documentElement.scrollWidth") <= width, (scheme, width)
    page.set_viewport_size({"width": 700, "height": 900})
