"""Runs check.mjs (caniemail's data, html-validate) on emails: the npm packages in package.json,
installed by scripts/test from the npm registry (`npm ci`), never fetched while testing."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
INSTALL = "npm ci --prefix tests/email_lint (scripts/test does)"


def run_check(command: list[str], emails: dict[str, str]) -> dict[str, list[dict]]:
    """Label -> findings of `node check.mjs COMMAND...` on each email's HTML."""
    node = shutil.which("node")
    assert node, "node is missing: apt-get install nodejs npm (scripts/test does)"
    assert (HERE / "node_modules" / "caniemail").is_dir(), f"the email checkers are not installed: {INSTALL}"
    done = subprocess.run([node, str(HERE / "check.mjs"), *command], input=json.dumps(emails),
                          capture_output=True, text=True, cwd=HERE, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
