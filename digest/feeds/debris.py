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


def clean_text(text: str) -> str:
    """`text` without Word debris and backslash escapes; no-break spaces become spaces."""
    if not text:
        return text
    text = text.replace("\xa0", " ")
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
