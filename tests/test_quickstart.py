"""scripts/quickstart as a new user runs it: ports checked before anything starts (the one taken
named, with the setting that moves it), the Redis it uses written into .env so that a second
shell finds the same workers, and its banner printed once the processes answer; `digest doctor`
there names what is not ready for production (http, SQLite, the outbox, a Redis that keeps
nothing on disk) as warnings, and exits 0.

The quickstart runs in a copy of the repository. Its `.venv` is a fresh one that reads this
project's installed packages (no network, no install), with the copy's own `digest` first."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO, wait_for
from tests.live_app import free_port
from tests.servers import start_redis_server

# Only what a shell on a new user's machine has: none of the test session's settings.
USER_ENV = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TERM") if name in os.environ}


def scripts_only(tmp_path: Path) -> Path:
    """A directory holding only scripts/: a quickstart that went past its port check would
    have nothing to install (and PYTHON=/bin/false stops it at once)."""
    shutil.copytree(REPO / "scripts", tmp_path / "scripts")
    return tmp_path


def run_quickstart(directory: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(directory / "scripts" / "quickstart")], capture_output=True, text=True,
                          env=dict(USER_ENV, PYTHON="/bin/false", **env), timeout=60)


@pytest.fixture
def taken_port():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def test_a_taken_web_port_is_named_with_the_setting_that_moves_it_and_nothing_starts(tmp_path, taken_port):
    directory = scripts_only(tmp_path)
    ran = run_quickstart(directory, WEB_PORT=str(taken_port), SAMPLE_PORT=str(free_port()),
                         FLOWER_PORT=str(free_port()))
    assert ran.returncode == 1
    assert (f"error: port {taken_port} (WEB_PORT) is taken: something already listens on 127.0.0.1:{taken_port}; "
            f"stop it, or choose another port, e.g. WEB_PORT=") in ran.stderr
    suggested = int(ran.stderr.split("e.g. WEB_PORT=")[1].split()[0])
    assert suggested > taken_port
    assert sorted(path.name for path in directory.iterdir()) == ["scripts"]  # no .env, var/ or .venv


def test_every_bad_port_is_named_at_once(tmp_path, taken_port):
    directory = scripts_only(tmp_path)
    ran = run_quickstart(directory, WEB_PORT="8o00", SAMPLE_PORT=str(taken_port), FLOWER_PORT=str(taken_port))
    assert ran.returncode == 1
    assert "error: WEB_PORT=8o00 is not a port number (1 to 65535)" in ran.stderr
    assert f"error: port {taken_port} (SAMPLE_PORT) is taken" in ran.stderr
    assert f"error: FLOWER_PORT={taken_port} is the port of another process here" in ran.stderr
    assert sorted(path.name for path in directory.iterdir()) == ["scripts"]


def test_set_env_value_replaces_the_line_in_place_or_appends_it(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("SECRET_KEY=abc\nREDIS_URL=redis://127.0.0.1:6379/0\nFROM_EMAIL=a@example.org\n")
    set_value = f'source {REPO}/scripts/lib.sh; set_env_value "$1" "$2" "$3"'
    for name, value in [("REDIS_URL", "redis://:p&ss\\word@127.0.0.1:6390/0"), ("OUTBOX_DIR", "var/outbox")]:
        subprocess.run(["bash", "-c", set_value, "bash", str(env_file), name, value], check=True)
    assert env_file.read_text() == ("SECRET_KEY=abc\nREDIS_URL=redis://:p&ss\\word@127.0.0.1:6390/0\n"
                                    "FROM_EMAIL=a@example.org\nOUTBOX_DIR=var/outbox\n")


# --- the whole quickstart -------------------------------------------------------------------

def copy_with_venv(tmp_path: Path) -> Path:
    """A copy of the repository with a `.venv` the quickstart takes as installed."""
    copy = tmp_path / "clone"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".git", ".venv", "var", "node_modules",
                                                              "__pycache__", ".env", "*.sqlite3"))
    venv = copy / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # The copy's own code first, then the packages this test session runs on.
    (site / "00-clone.pth").write_text(f"{copy}\n{sysconfig.get_paths()['purelib']}\n")
    for command in ("digest", "honcho", "celery"):
        lines = (Path(sys.executable).parent / command).read_text().splitlines()
        (venv / "bin" / command).write_text("\n".join([f"#!{python}", *lines[1:]]) + "\n")
        (venv / "bin" / command).chmod(0o755)
    pyproject = hashlib.sha256((copy / "pyproject.toml").read_bytes()).hexdigest()
    (venv / ".installed-test").write_text(pyproject + "\n")
    return copy


@pytest.fixture
def own_redis(tmp_path):
    port = free_port()
    process = start_redis_server(port, tmp_path)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


@pytest.mark.slow
def test_the_quickstart_writes_its_redis_into_env_and_prints_its_banner_once_ready(tmp_path, own_redis):
    copy = copy_with_venv(tmp_path)
    web, sample, flower = free_port(), free_port(), free_port()
    log = tmp_path / "quickstart.log"
    with log.open("wb") as out:
        quickstart = subprocess.Popen(
            ["bash", "scripts/quickstart"], cwd=copy, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env=dict(USER_ENV, REDIS_URL=own_redis, WEB_PORT=str(web), SAMPLE_PORT=str(sample),
                     FLOWER_PORT=str(flower)))
    try:
        wait_for(lambda: "Analyst Digest is ready." in log.read_text(errors="replace") or quickstart.poll() is not None,
                 timeout=240, what="the quickstart's banner")
        output = log.read_text(errors="replace")
        assert "Analyst Digest is ready." in output, output[-3000:]
        # In a second shell, with nothing exported, .venv/bin/digest finds the same Redis: the
        # workers the quickstart started are online there.
        env_file = (copy / ".env").read_text()
        assert f"REDIS_URL={own_redis}\n" in env_file and f"PUBLIC_BASE_URL=http://127.0.0.1:{web}\n" in env_file
        second = subprocess.run([str(copy / ".venv/bin/digest"), "ops", "status", "--json"], cwd=copy,
                                capture_output=True, text=True, env=USER_ENV, timeout=60)
        assert '"state": "online"' in second.stdout, second.stdout[-2000:] + second.stderr[-2000:]
        # The doctor there says what is not ready for production, as warnings: nothing is broken.
        doctor = subprocess.run([str(copy / ".venv/bin/digest"), "doctor", "--json"], cwd=copy,
                                capture_output=True, text=True, env=USER_ENV, timeout=60)
    finally:
        os.killpg(quickstart.pid, signal.SIGINT)
        quickstart.wait(60)
    not_ok = {c["name"]: c["state"] for c in json.loads(doctor.stdout)["checks"] if c["state"] != "ok"}
    assert not_ok == {"public_base_url": "warning", "database_kind": "warning", "delivery_backend": "warning",
                      "redis_persistence": "warning"}, doctor.stdout
    assert doctor.returncode == 0
    banner = output.index("Analyst Digest is ready.")
    # The banner follows the processes' start-up noise, and names the ports in use.
    assert output.index("Uvicorn running") < banner and output.index(" ready.") < banner
    assert f"Open        http://127.0.0.1:{web}/" in output[banner:]
    assert f"Flower      http://127.0.0.1:{flower}/" in output[banner:]
    assert f"sample feed at http://127.0.0.1:{sample}/" in output
