"""The release is written in one place, pyproject.toml: `digest --version` prints it (through the
installed package's metadata), and CHANGELOG.md has its entry."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from tests.cli import digest

REPO = Path(__file__).resolve().parent.parent


def _release() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def test_version_prints_the_release_pyproject_names():
    result = digest("--version")
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, f"digest {_release()}", "")


def test_the_changelog_has_an_entry_for_the_release_with_its_date():
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(_release())}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M), \
        f"CHANGELOG.md has no dated entry for {_release()}"
