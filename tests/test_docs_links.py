"""Every relative link in README.md and docs/*.md reaches a file, and every #anchor a heading.

Long explanations live in docs/, one file per topic, linked from the README: a link that no longer
resolves after a heading or a file moves is what this catches."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def prose(text: str) -> str:
    """The text without code blocks and code spans, whose brackets are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        slug = github_anchor(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    return [target for target in LINK.findall(prose(path.read_text()))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]  # http:, https:, mailto: are not ours


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no such heading")
    return broken


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(document):
    assert broken_links(document) == []


def test_every_topic_file_in_docs_is_linked_from_the_readme():
    readme = REPO / "README.md"
    linked = {(REPO / target.partition("#")[0]).resolve() for target in relative_links(readme)}
    assert [p.name for p in DOCUMENTS[1:] if p.resolve() not in linked] == []


def test_the_anchor_rule_matches_github():
    ledger = "3. The ledger: a reader's state in an edition"
    assert github_anchor(ledger) == "3-the-ledger-a-readers-state-in-an-edition"
    assert github_anchor("The editors' web app") == "the-editors-web-app"
    assert github_anchor("Rate limit and IP warm-up") == "rate-limit-and-ip-warm-up"


def test_a_missing_file_or_heading_is_reported(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Here\n\n[ok](#here) [gone](#there) [none](nowhere.md) `[code](x.md)`\n")
    assert [line.split(":")[0] for line in broken_links(page)] == ["#there", "nowhere.md"]
