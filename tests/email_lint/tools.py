"""Runs tests/node/email_check.mjs (caniemail's data, html-validate) on emails: the npm packages
of tests/node/package.json, installed by scripts/test from the npm registry (`npm ci`), never
fetched while testing."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
NODE = HERE.parent / "node"
INSTALL = "npm ci --prefix tests/node (scripts/test does)"


def run_check(command: list[str], emails: dict[str, str]) -> dict[str, list[dict]]:
    """Label -> findings of `node email_check.mjs COMMAND...` on each email's HTML."""
    node = shutil.which("node")
    assert node, "node is missing: apt-get install nodejs npm (scripts/test does)"
    assert (NODE / "node_modules" / "caniemail").is_dir(), f"the email checkers are not installed: {INSTALL}"
    done = subprocess.run([node, str(NODE / "email_check.mjs"), *command], input=json.dumps(emails),
                          capture_output=True, text=True, cwd=NODE, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
