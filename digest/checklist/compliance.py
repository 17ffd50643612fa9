"""What every bulk message must carry, checked on the message as a reader receives it: a visible
unsubscribe link and preferences link (in both parts), the sender's postal address, and the
one-click List-Unsubscribe headers (RFC 8058). Any of them missing blocks approval: mailbox
providers (and the law, in many countries) refuse bulk mail without them."""

from __future__ import annotations

from email.message import EmailMessage
from html.parser import HTMLParser

from digest.checklist.model import BLOCKING, PASSED, Check
from digest.delivery.message import Recipient


class _Text(HTMLParser):
    """The hrefs and the visible text of an HTML part."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.hrefs: set[str] = set()
        self.words: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.add(href)

    def handle_data(self, data):
        self.words += data.split()


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    rich = message.get_body(preferencelist=("html",))
    return (text.get_content() if text else ""), (rich.get_content() if rich else "")


def compliance_checks(message: EmailMessage, recipient: Recipient, postal_address: str) -> list[Check]:
    text, rich = _parts(message)
    parsed = _Text()
    parsed.feed(rich)
    checks = [_link_check("unsubscribe", "Unsubscribe link", recipient.values["unsubscribe_url"], text, rich, parsed),
              _link_check("preferences", "Preferences link", recipient.values["preferences_url"], text, rich, parsed),
              *([_link_check("unfollow", "Stop these alerts link", recipient.values["unfollow_url"], text, rich,
                             parsed)] if "unfollow_url" in recipient.values else []),
              _postal_check(postal_address, text, rich, parsed),
              _list_unsubscribe_check(message, recipient)]
    return checks


def _link_check(key: str, title: str, url: str, text: str, rich: str, parsed: _Text) -> Check:
    missing = []
    if rich and url not in parsed.hrefs:
        missing.append("the HTML part")
    if url not in text:
        missing.append("the plain-text part")
    if missing:
        return Check(key, title, BLOCKING, f"Missing from {' and '.join(missing)}: every edition must let a reader "
                     f"reach it in one click. Restore it in templates/email/edition/.")
    return Check(key, title, PASSED, "In the HTML and plain-text parts" if rich else "In the plain-text part")


def _postal_check(address: str, text: str, rich: str, parsed: _Text) -> Check:
    words = " ".join(address.split())
    if not words:
        return Check("postal_address", "Postal address", BLOCKING,
                     "POSTAL_ADDRESS is empty: bulk mail must carry the sender's postal address. Set it.")
    missing = []
    if rich and words not in " ".join(parsed.words):
        missing.append("the HTML part")
    if words not in " ".join(text.split()):
        missing.append("the plain-text part")
    if missing:
        return Check("postal_address", "Postal address", BLOCKING,
                     f"Missing from {' and '.join(missing)}: bulk mail must carry the sender's postal address.")
    return Check("postal_address", "Postal address", PASSED, words)


def _list_unsubscribe_check(message: EmailMessage, recipient: Recipient) -> Check:
    header = " ".join(str(message.get("List-Unsubscribe", "")).split())
    post = str(message.get("List-Unsubscribe-Post", "")).strip()
    problems = []
    # An alert's one-click URL ends its follows only; any other edition's unsubscribes.
    one_click = recipient.values.get("unfollow_url") or recipient.values["unsubscribe_url"]
    if f"<{one_click}>" not in header:
        problems.append("no one-click URL in List-Unsubscribe")
    if "<mailto:" not in header:
        problems.append("no mailto in List-Unsubscribe")
    if post != "List-Unsubscribe=One-Click":
        problems.append("no List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    if problems:
        return Check("list_unsubscribe", "List-Unsubscribe header", BLOCKING,
                     "; ".join(problems).capitalize() + ": Gmail and Yahoo refuse bulk mail without one-click unsubscribe.")
    return Check("list_unsubscribe", "List-Unsubscribe header", PASSED, "One-click URL and mailto, with List-Unsubscribe-Post")
