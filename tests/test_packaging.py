"""The wheel carries the templates and migrations, and an installed copy finds them."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(REPO)], check=True, capture_output=True)
    [built] = out.glob("analyst_digest-*.whl")
    return built


def test_the_wheel_holds_templates_migrations_and_both_packages(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "digest/_bundled/templates/email/edition/body.html" in names
    assert "digest/_bundled/templates/email/edition/body.txt" in names
    assert "digest/_bundled/templates/email/edition/subject.txt" in names
    assert "digest/_bundled/templates/web/static/edition.js" in names  # the pages allow no inline script
    assert "digest/_bundled/migrations/env.py" in names
    assert any(n.startswith("digest/_bundled/migrations/versions/0001") for n in names)
    assert "workers/tasks.py" in names and "digest/sample/analytical-articles.feed" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "digest = digest.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_an_unpacked_wheel_migrates_and_renders_from_its_own_files(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    script = f"""
import digest, sys
from digest.resources import resource_dir
from digest.store.migrate import upgrade
from digest.editions.templates import email_environment
assert digest.__file__.startswith({str(site)!r}), digest.__file__
assert str(resource_dir("templates")).startswith({str(site)!r})
upgrade("sqlite:///{tmp_path}/wheel.sqlite3")
email_environment().get_template("edition/body.html")
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            env={"PYTHONPATH": str(site), "SECRET_KEY": "x" * 20, "DIGEST_ENV_FILE": "",
                                 "PATH": "/usr/bin:/bin"})
    assert result.stdout.strip() == "ok", result.stderr
