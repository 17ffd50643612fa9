"""What editors' copy-and-paste leaves in feed HTML: Word's debris (a broken `<span
style="mso-spacerun: yes">` that shows as `yes">`, `mso-` style rules as text, empty spans)
and the backslash escapes of an old export (`Bush\\'s`). Removed from the text before anything
reads it, so no reader sees it in a lead, a byline or the text part."""

from __future__ import annotations

import re

from lxml import etree

# `yes">` (or `yes'>`) left in the text where a tag's attribute was cut off.
_BROKEN_ATTRIBUTE = re.compile(r"""(?:\b[\w-]+\s*:\s*)?\byes\s*["']\s*>""")
# Style rules pasted as text: `p.MsoNormal, li.MsoNormal {mso-style-parent:""; margin:0in;}`.
_MSO_RULE = re.compile(r"[^{}<>]{0,200}\{[^{}]*\bmso-[^{}]*\}")
# A lone `mso-...: value;` declaration shown as text.
_MSO_DECLARATION = re.compile(r"\bmso-[\w-]+\s*:\s*[^;<>\n]*;?")
_BACKSLASH_ESCAPE = re.compile(r"""\\+(['"])""")
# Characters XML cannot hold (C0 controls but tab and line breaks, lone surrogates, U+FFFE/FFFF):
# an HTML parser lets them through from a feed or a page, but lxml refuses to set them as text.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CHARACTER_REFERENCE = re.compile(r"&#(?:[xX]([0-9A-Fa-f]+)|([0-9]+));")


def without_non_xml(text: str) -> str:
    """`text` without the characters XML cannot hold."""
    return _NOT_XML.sub("", text)


def xml_safe_markup(markup: str) -> str:
    """Markup (a feed, an HTML fragment) without characters XML cannot hold, raw or as a character
    reference (`&#0;`, `&#1;`, `&#xD800;`, past U+10FFFF: each becomes U+FFFD). feedparser's
    lenient parser fails on some of them, and lxml refuses to set the text it parsed from them."""
    return _CHARACTER_REFERENCE.sub(_checked_reference, without_non_xml(markup))


def _checked_reference(match: re.Match) -> str:
    hexadecimal, decimal = match.groups()
    digits = (hexadecimal or decimal).lstrip("0")
    if len(digits) > 7:  # past U+10FFFF whatever the digits
        return "\ufffd"
    code = int(digits or "0", 16 if hexadecimal else 10)
    return match.group() if code <= 0x10FFFF and without_non_xml(chr(code)) else "\ufffd"


def clean_text(text: str) -> str:
    """`text` without Word debris, backslash escapes and characters XML cannot hold; no-break
    spaces become spaces."""
    if not text:
        return text
    text = without_non_xml(text.replace("\xa0", " "))
    text = _BACKSLASH_ESCAPE.sub(r"\1", text)
    if "yes" in text:
        text = _BROKEN_ATTRIBUTE.sub("", text)
    if "mso-" in text:
        text = _MSO_DECLARATION.sub("", _MSO_RULE.sub("", text))
    return text


def clean_tree(root: etree._Element) -> etree._Element:
    """Clean every text run of `root` in place (and drop spans left with nothing in them)."""
    for element in list(root.iter()):
        if element.text:
            element.text = clean_text(element.text)
        if element.tail:
            element.tail = clean_text(element.tail)
        if isinstance(element.tag, str):
            for name in ("alt", "title"):
                if element.get(name):
                    element.set(name, clean_text(element.get(name)))
    for span in root.xpath(".//span[not(node())]"):
        span.drop_tag()
    return root
