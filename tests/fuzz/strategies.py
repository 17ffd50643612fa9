"""What the fuzz tests share: the example budget, and text as an attacker would type it."""

from __future__ import annotations

import os

from hypothesis import strategies as st


def budget(examples: int) -> int:
    """`examples` in the suite; DIGEST_FUZZ_EXAMPLES when that is larger (scripts/fuzz)."""
    return max(examples, int(os.environ.get("DIGEST_FUZZ_EXAMPLES") or 0))


# Characters that break parsers: controls (NUL included), markup, quotes, bidi and zero-width
# marks, no-break and odd spaces, non-characters, astral-plane characters.
HOSTILE_CHARACTERS = st.sampled_from(list(
    "\x00\x01\x08\x0b\x0c\x1b\x7f\x85\xa0\u200b\u200e\u202e\u2028\u2029\ufeff\ufffd\uffff"
    "<>&\"'`=/\\;:#%?[]{}()\t\r\n \U0001f600\U000e0001"))
# Pieces of markup and references that parsers treat specially.
HOSTILE_PIECES = st.sampled_from(["&amp;", "&#0;", "&#xD800;", "&#1;", "<![CDATA[", "]]>", "<!--", "-->",
                                  "javascript:", "&nbsp;", "<script>", "</p>", "<br>", "&unknown;"])
hostile_text = st.lists(st.one_of(st.characters(codec="utf-8"), HOSTILE_CHARACTERS, HOSTILE_PIECES),
                        max_size=40).map("".join)
# Words and names as the journal's readers and authors write them.
words = st.lists(st.text(st.characters(categories=("L",)), min_size=1, max_size=12),
                 min_size=1, max_size=8).map(" ".join)
