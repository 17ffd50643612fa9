"""What a checklist says: checks, each passed, a warning (approval asks the editor to confirm),
blocking (approval is refused), pending (a slow check still running in a worker: approval waits
for it) or skipped (could not be run here), with what each one found."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

BLOCKING, WARNING, PENDING, PASSED, SKIPPED = "blocking", "warning", "pending", "passed", "skipped"
# The order an editor reads them in: what stops approval first, what merely ran last.
LEVEL_ORDER = (BLOCKING, WARNING, PENDING, PASSED, SKIPPED)


@dataclass(frozen=True)
class Finding:
    """One thing a check found: a link and its answer, an article missing its author, a rule hit."""
    level: str
    text: str
    url: str | None = None

    def as_dict(self) -> dict:
        return {"level": self.level, "text": self.text, "url": self.url}


@dataclass(frozen=True)
class Check:
    key: str
    title: str
    level: str
    summary: str
    findings: tuple[Finding, ...] = ()
    data: dict = field(default_factory=dict)  # figures for --json (score, rules, links)

    def as_dict(self) -> dict:
        return {"key": self.key, "title": self.title, "level": self.level, "summary": self.summary,
                "findings": [finding.as_dict() for finding in self.findings], **self.data}

    def describe(self) -> str:
        """One line for an error message or the audit log."""
        problems = [f.text for f in self.findings if f.level == self.level]
        return f"{self.title}: {self.summary}" + (f" ({'; '.join(problems)})" if problems else "")


@dataclass(frozen=True)
class Checklist:
    edition_id: int
    content_hash: str  # of the content checked: the same edition changed is another checklist
    checks: tuple[Check, ...]

    def __post_init__(self):
        ordered = sorted(self.checks, key=lambda check: LEVEL_ORDER.index(check.level))
        object.__setattr__(self, "checks", tuple(ordered))

    def at(self, level: str) -> list[Check]:
        return [check for check in self.checks if check.level == level]

    @property
    def blocking(self) -> list[Check]:
        return self.at(BLOCKING)

    @property
    def warnings(self) -> list[Check]:
        return self.at(WARNING)

    @property
    def pending(self) -> list[Check]:
        return self.at(PENDING)

    @property
    def counts(self) -> dict[str, int]:
        return {level: len(self.at(level)) for level in LEVEL_ORDER}

    @property
    def fingerprint(self) -> str:
        """What an editor confirms by approving despite the warnings: this content with exactly
        these warnings. A change to either asks again."""
        seen = [self.content_hash] + [check.describe() for check in self.warnings]
        return hashlib.sha256(json.dumps(seen).encode()).hexdigest()[:32]

    def as_dict(self) -> dict:
        return {"edition_id": self.edition_id, "content_hash": self.content_hash, "fingerprint": self.fingerprint,
                **self.counts, "checks": [check.as_dict() for check in self.checks]}
