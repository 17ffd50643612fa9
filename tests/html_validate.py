"""html-validate (npm, installed into tests/node by scripts/test) on the HTML our pages are served
as, with its recommended rules (tests/node/htmlvalidate.config.cjs says which rule is changed and
why). One run for many documents."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

NODE = Path(__file__).parent / "node"
BINARY = NODE / "node_modules" / ".bin" / "html-validate"


def problems(documents: dict[str, str]) -> list[str]:
    """Every finding in `documents` (name -> HTML), one line each: name, line:column, rule, message."""
    # No skip: a machine without it fails here (scripts/test installs it).
    assert BINARY.exists(), f"{BINARY} is missing: npm ci --prefix tests/node (scripts/test does)"
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for name, html in documents.items():
            path = Path(folder) / f"{name}.html"
            path.write_text(html, encoding="utf-8")
            paths[str(path)] = name
        # Into a file: node may exit before a long answer on a pipe is all written.
        report = Path(folder) / "report.json"
        run = subprocess.run([str(BINARY), "--config", str(NODE / "htmlvalidate.config.cjs"),
                              "--formatter", f"json={report}", *paths],
                             capture_output=True, text=True, timeout=120, cwd=NODE)
        assert run.returncode in (0, 1) and report.exists(), f"html-validate failed: {run.stderr[-2000:]}"
        results = json.loads(report.read_text(encoding="utf-8"))
    found = []
    for result in results:
        for message in result["messages"]:
            found.append(f"{paths[result['filePath']]} {message['line']}:{message['column']}: "
                         f"{message['ruleId']}: {message['message']}")
    return found
