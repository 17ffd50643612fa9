"""SpamAssassin's verdict on a message as a reader receives it: Debian's `spamassassin`, run
locally with network tests off (`-L`), in test mode (`-t`), which appends its report. Used by the
pre-send checklist and by the deliverability tests, so both read the score the same way."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

COMMAND = "spamassassin"
# Scoring a digest takes a second or two; a run still going after this has hung.
TIMEOUT_SECONDS = 60

_STATUS = re.compile(r"X-Spam-Status: \w+, score=(-?\d+(?:\.\d+)?)")
# " 0.6 MISSING_MID            Missing Message-Id: header", continued on indented lines.
_RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z][A-Z0-9_]+)\s*(.*)$")


class SpamCheckUnavailable(Exception):
    """SpamAssassin is not installed, or gave no score: the check is skipped, never failed."""


@dataclass(frozen=True)
class Rule:
    name: str
    points: float
    description: str


@dataclass(frozen=True)
class SpamReport:
    score: float
    rules: tuple[Rule, ...]

    def describe_rules(self) -> str:
        return ", ".join(f"{rule.name} {rule.points:g}" for rule in self.rules) or "no rule"

    def as_dict(self) -> dict:
        return {"score": self.score,
                "rules": [{"name": r.name, "points": r.points, "description": r.description} for r in self.rules]}

    @classmethod
    def from_dict(cls, data: dict) -> "SpamReport":
        return cls(float(data["score"]), tuple(Rule(r["name"], float(r["points"]), r["description"])
                                               for r in data["rules"]))


def spamassassin_installed() -> bool:
    return shutil.which(COMMAND) is not None


def spam_report(raw: bytes) -> SpamReport:
    """Score the RFC 5322 message `raw`; SpamCheckUnavailable when SpamAssassin is missing,
    hangs or answers without a score."""
    if not spamassassin_installed():
        raise SpamCheckUnavailable(f"{COMMAND} is not installed (Debian: apt-get install spamassassin)")
    try:
        run = subprocess.run([COMMAND, "-L", "-t"], input=raw, capture_output=True, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise SpamCheckUnavailable(f"{COMMAND} gave no answer within {TIMEOUT_SECONDS} s") from None
    except OSError as exc:
        raise SpamCheckUnavailable(f"{COMMAND} could not run: {exc}") from None
    return parse_report(run.stdout.decode("utf-8", "replace"))


def parse_report(text: str) -> SpamReport:
    """The score and the rules hit, from the message `spamassassin -t` writes back."""
    status = _STATUS.search(text)
    if status is None:
        raise SpamCheckUnavailable(f"{COMMAND} answered without a score")
    _, _, details = text.partition("Content analysis details:")
    rules: list[Rule] = []
    for line in details.splitlines():
        match = _RULE.match(line)
        if match:
            rules.append(Rule(match.group(2), float(match.group(1)), match.group(3).strip()))
        elif rules and line.startswith(" " * 10) and line.strip():
            # The description column continues on an indented line.
            last = rules[-1]
            rules[-1] = Rule(last.name, last.points, f"{last.description} {line.strip()}")
        elif rules and not line.strip():
            break  # the report ends at the first blank line after the table
    return SpamReport(float(status.group(1)), tuple(rules))
