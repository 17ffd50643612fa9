"""deploy/: the systemd units run what the Procfile runs, and systemd accepts them; the env file
example is every setting with its default; nginx accepts the site; the Redis snippet satisfies
`digest doctor`. Each file is written by hand (the env example by scripts/env_example) and these
tests keep it from drifting from the code."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from digest.config import Settings
from digest.doctor import redis_server
from tests.conftest import wait_for

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
UNITS = {"web": "digest-web.service", "worker": "digest-worker.service",
         "delivery": "digest-delivery.service", "beat": "digest-beat.service"}
VENV_BIN = "/opt/digest/.venv/bin/"
# Options whose value a deployment sets on purpose (the Procfile's are for a development machine).
DEPLOYMENT_VALUES = {"--host", "--port", "--schedule"}
WORKERS = ("worker", "delivery")


def procfile() -> dict[str, str]:
    lines = (line.strip() for line in (REPO / "Procfile").read_text().splitlines())
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def unit(process: str) -> dict[str, list[str]]:
    """A unit's settings as "Section.Key" -> every value given (comments and blank lines dropped)."""
    settings: dict[str, list[str]] = {}
    section = ""
    for line in (DEPLOY / "systemd" / UNITS[process]).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault(f"{section}.{key}", []).append(value)
    return settings


def one(settings: dict[str, list[str]], key: str) -> str:
    values = settings.get(key, [])
    assert len(values) == 1, f"{key}: {values}"
    return values[0]


def command(words: list[str]) -> list[str]:
    """The command with the program's directory dropped and deployment-chosen values masked."""
    words = [Path(words[0]).name, *words[1:]]
    return [("<deployment>" if before in DEPLOYMENT_VALUES else word)
            for before, word in zip(["", *words], words)]


def test_the_units_are_the_procfiles_processes():
    assert set(procfile()) == set(UNITS), "a Procfile process without a unit, or a unit without a process"


@pytest.mark.parametrize("process", UNITS)
def test_each_unit_runs_the_procfiles_command_from_the_venv(process):
    exec_start = one(unit(process), "Service.ExecStart")
    assert exec_start.startswith(VENV_BIN), exec_start
    # systemd turns %% into %: Celery's own %h (the host name) must reach Celery as it is.
    words = shlex.split(exec_start.replace("%%", "%"))
    expected = procfile()[process]
    # ${PORT:-8000} is the shell's, which systemd does not speak; --host/--port are masked anyway.
    assert command(words) == command(shlex.split(expected)), f"{UNITS[process]} drifted from the Procfile"
    assert "%h" not in exec_start.replace("%%h", ""), "an unescaped %h is systemd's home directory"


@pytest.mark.parametrize("process", UNITS)
def test_each_unit_runs_as_digest_restarts_and_is_confined(process):
    settings = unit(process)
    expected = {"User": "digest", "Group": "digest", "EnvironmentFile": "/etc/digest/digest.env",
                "Restart": "on-failure", "KillSignal": "SIGTERM", "NoNewPrivileges": "yes",
                "ProtectSystem": "strict", "PrivateTmp": "yes", "StateDirectory": "digest",
                "WorkingDirectory": "/var/lib/digest"}
    for key, value in expected.items():
        assert one(settings, f"Service.{key}") == value, key
    assert one(settings, "Install.WantedBy") == "multi-user.target"
    header = (DEPLOY / "systemd" / UNITS[process]).read_text().split("[Unit]")[0]
    assert "exactly one machine" in header and f"Procfile: {process}" in header


@pytest.mark.parametrize("process", WORKERS)
def test_a_worker_has_time_to_finish_its_task_on_stop(process):
    settings = unit(process)
    defaults = Settings(_env_file=None, SECRET_KEY="k" * 32)
    longest_task = max(defaults.SENDGRID_TIMEOUT_SECONDS + 2,  # a send and the rate limit's inline wait
                       defaults.FEED_TIMEOUT_SECONDS + defaults.FEED_HOST_WAIT_SECONDS)
    assert int(one(settings, "Service.TimeoutStopSec")) >= 2 * longest_task
    # SIGTERM to the main process only: Celery's warm shutdown stops its own pool.
    assert one(settings, "Service.KillMode") == "mixed"


def test_the_send_benchmark_starts_the_procfiles_workers():
    """bench/send.py's default lineup is the Procfile's queues and processes (what its figures
    describe is what production runs)."""
    from bench.send import PROCFILE_WORKERS

    lineup = []
    for process in WORKERS:
        words = shlex.split(procfile()[process])
        queues = words[words.index("--queues") + 1].split(",")
        sending = [queue for queue in queues if queue in ("editions", "delivery")]
        lineup.append((",".join(sending), int(words[words.index("--concurrency") + 1])))
    assert lineup == PROCFILE_WORKERS


def test_beats_schedule_is_in_its_state_directory():
    words = shlex.split(one(unit("beat"), "Service.ExecStart"))
    schedule = Path(words[words.index("--schedule") + 1])
    assert schedule.parent == Path("/var/lib") / one(unit("beat"), "Service.StateDirectory")


def systemd_verify(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["systemd-analyze", "verify", *sorted(str(path) for path in directory.glob("*.service"))],
                          capture_output=True, text=True, timeout=60)


def units_for_this_machine(tmp_path: Path) -> Path:
    """The units with /opt/digest/.venv/bin/ pointing at this interpreter's venv: verify
    refuses a command that is not there."""
    here = str(Path(sys.executable).parent) + "/"
    for name in UNITS.values():
        (tmp_path / name).write_text((DEPLOY / "systemd" / name).read_text().replace(VENV_BIN, here))
    return tmp_path


needs_systemd = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze is not installed (apt-get install systemd)")


@needs_systemd
def test_systemd_accepts_the_units(tmp_path):
    result = systemd_verify(units_for_this_machine(tmp_path))
    # An unknown or misspelt key is only a warning on stderr: any output fails.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@needs_systemd
def test_systemd_verify_reports_a_misspelt_key(tmp_path):
    units = units_for_this_machine(tmp_path)
    beat = units / UNITS["beat"]
    beat.write_text(beat.read_text().replace("NoNewPrivileges=", "NoNewPrivilege="))
    assert "Unknown key 'NoNewPrivilege'" in systemd_verify(units).stderr


def example_lines() -> list[str]:
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "env_example")],
                            capture_output=True, text=True, check=True, timeout=60)
    return result.stdout.splitlines()


def test_the_env_example_is_what_config_py_says():
    written = (DEPLOY / "digest.env.example").read_text().splitlines()
    assert written == example_lines(), "run: python scripts/env_example > deploy/digest.env.example"


def test_the_env_example_names_every_setting_once():
    names = [re.match(r"#?([A-Z][A-Z0-9_]*)=", line).group(1)
             for line in (DEPLOY / "digest.env.example").read_text().splitlines()
             if re.match(r"#?[A-Z][A-Z0-9_]*=", line)]
    assert sorted(names) == sorted(Settings.model_fields)


def test_the_env_example_reads_back_as_the_defaults(tmp_path, monkeypatch):
    for name in Settings.model_fields:  # the environment would win over the file
        monkeypatch.delenv(name, raising=False)
    key = "k" * 32
    example = tmp_path / "digest.env"
    example.write_text((DEPLOY / "digest.env.example").read_text().replace("\nSECRET_KEY=\n", f"\nSECRET_KEY={key}\n"))
    read = Settings(_env_file=example)
    assert read.SECRET_KEY == key
    assert read.model_dump() == Settings(_env_file=None, SECRET_KEY=key).model_dump()


def test_the_env_example_leaves_every_secret_empty_with_how_to_make_one():
    lines = (DEPLOY / "digest.env.example").read_text().splitlines()
    for name in ("SECRET_KEY", "SECRET_KEY_PREVIOUS", "SENDGRID_API_KEY", "SENDGRID_WEBHOOK_PUBLIC_KEY"):
        at = next(n for n, line in enumerate(lines) if re.fullmatch(f"#?{name}=", line))
        assert lines[at - 1].startswith("# "), name
    assert "secrets.token_urlsafe" in "\n".join(lines)


def site() -> str:
    return (DEPLOY / "nginx" / "digest.conf").read_text()


def directive(text: str, name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s+([^;{{\n]+);", text, re.MULTILINE)


def test_nginx_accepts_the_largest_body_the_app_does():
    defaults = Settings(_env_file=None, SECRET_KEY="k" * 32)
    (limit,) = directive(site(), "client_max_body_size")
    number, unit_letter = re.fullmatch(r"(\d+)([kmg]?)", limit.lower()).groups()
    accepted = int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit_letter]
    assert accepted == max(defaults.IMPORT_MAX_BYTES, defaults.WEBHOOK_MAX_BYTES, defaults.REQUEST_MAX_BYTES)


def test_nginx_proxies_to_the_web_unit_with_the_forwarded_headers():
    words = shlex.split(one(unit("web"), "Service.ExecStart"))
    address = f"{words[words.index('--host') + 1]}:{words[words.index('--port') + 1]}"
    assert directive(site(), "server") == [address]
    for location in re.findall(r"location [^{]+\{[^}]+\}", site()):
        headers = directive(location, "proxy_set_header")
        for header in ("Host $host", "X-Forwarded-For $proxy_add_x_forwarded_for", "X-Forwarded-Proto $scheme"):
            assert header in headers, (header, location)


def test_nginx_lets_only_prometheus_read_metrics():
    (metrics,) = re.findall(r"location = /metrics \{[^}]+\}", site())
    rules = re.findall(r"^\s*(allow|deny)\s+([^;]+);", metrics, re.MULTILINE)
    assert rules[-1] == ("deny", "all") and all(rule == "allow" and value != "all" for rule, value in rules[:-1])


def nginx_binary() -> str | None:
    return os.environ.get("TEST_NGINX") or shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")


@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (scripts/test installs it: "
                                                   "apt-get install nginx; or TEST_NGINX=/path/to/nginx)")
def test_nginx_accepts_the_site(tmp_path):
    # A self-signed certificate where the placeholders point, and a wrapper as nginx.conf would be.
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=digest.example.org", "-keyout", str(tmp_path / "privkey.pem"),
                    "-out", str(tmp_path / "fullchain.pem")], check=True, capture_output=True, timeout=60)
    assert site().count("/etc/ssl/digest/") == 2
    (tmp_path / "digest.conf").write_text(site().replace("/etc/ssl/digest/", f"{tmp_path}/"))
    temp = "\n".join(f"    {kind}_temp_path {tmp_path}/{kind};" for kind in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
                                         f"events {{}}\nhttp {{\n    access_log off;\n{temp}\n"
                                         f"    include {tmp_path}/digest.conf;\n}}\n")
    result = subprocess.run([nginx_binary(), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_the_redis_snippet_satisfies_the_doctor(tmp_path):
    # A Redis of the test's own on a socket in tmp_path, with the snippet as its only settings
    # (RDB snapshots off: the AOF alone must keep the queues).
    socket = tmp_path / "redis.sock"
    server = subprocess.Popen(["redis-server", str(DEPLOY / "redis.conf"), "--port", "0", "--unixsocket",
                               str(socket), "--dir", str(tmp_path), "--save", ""],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(unix_socket_path=str(socket), decode_responses=True)
        wait_for(lambda: socket.exists() and client.ping(), timeout=10, what="the private redis-server")
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        settings = Settings(_env_file=None, SECRET_KEY="k" * 32, REDIS_URL=f"unix://{socket}",
                            PUBLIC_BASE_URL="https://digest.example.org")
        found = {check.name: check for check in redis_server.checks(settings)}
        assert found["redis_eviction"].state == "ok", found["redis_eviction"]
        assert found["redis_persistence"].state == "ok", found["redis_persistence"]
        assert "AOF" in found["redis_persistence"].found
    finally:
        server.terminate()
        server.wait(timeout=30)
