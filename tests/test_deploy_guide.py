"""docs/deploy.md as an operator follows it, as far as this machine allows: its marked blocks
(```` ```sh deploy-test=NAME ````) are run as written, with only the differences below. A fresh
virtual environment installed from the checkout without the test extras, the env file, the
migrations, the units verified by systemd, the four processes started from the units' own
ExecStart lines with the env file, an edition sent through the SendGrid stand-in (its signed
events posted back to the web process), `digest doctor` clean, then the backup restored into a new
database from which the next edition goes out. Apart from the run, every `digest` command and
option, setting, unit and `deploy/` file the guide names must exist (a fast test)."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
import redis
import typer
from dotenv import dotenv_values
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from digest.cli import app as cli_app
from digest.config import Settings
from digest.ops.records import BEATS_KEY
from tests.conftest import REPO, TEST_POSTGRES_URL, wait_for
from tests.databases import scratch_postgres
from tests.dns_server import DNSServerOnLoopback
from tests.feed_documents import recent_items
from tests.factories import serve_feed
from tests.live_app import free_port
from tests.ops.test_doctor_live import EXAMPLE_ORG
from tests.sendgrid_standin import SendGridStandIn
from tests.servers import FeedServer, start_redis_server

GUIDE = REPO / "docs" / "deploy.md"
UNITS = REPO / "deploy" / "systemd"
BLOCK = re.compile(r"^```(\w*)( deploy-test=([\w-]+))?\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# Names in the guide that are not settings of digest/config.py.
NOT_SETTINGS = {"DIGEST_ENV_FILE"}
READERS = ("ana@example.org", "bek@example.org", "cyrus@example.org")
EDITOR_PASSWORD = "a long passphrase for the guide"


def blocks() -> list[tuple[str, str | None, str]]:
    """Every fenced block of the guide: (language, test mark or None, text)."""
    return [(match[1], match[3], match[4]) for match in BLOCK.finditer(GUIDE.read_text())]


def marked(name: str) -> str:
    (found,) = [body for _, mark, body in blocks() if mark == name]
    return found


def commands(body: str) -> list[str]:
    return [line for line in body.splitlines() if line.strip() and not line.lstrip().startswith("#")]


# --- what the guide names exists ---------------------------------------------------------------

def resolve(words: list[str]):
    """The `digest` (sub)command `words` name, and the words after it; fails on an unknown one.
    (Typer carries its own copy of Click: a group is what has `commands`.)"""
    command = typer.main.get_command(cli_app)
    rest = list(words)
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        assert name in command.commands, f"`digest {' '.join(words)}`: no command {name!r}"
        command = command.commands[name]
    assert not hasattr(command, "commands") or rest, f"`digest {' '.join(words)}` names a group, not a command"
    return command, rest


def digest_invocations() -> list[list[str]]:
    """Every `digest ...` the guide runs in a block or names in prose (the words after `digest`)."""
    found = []
    for language, _, body in blocks():
        if language != "sh":
            continue
        for line in commands(body):
            for match in re.finditer(r"(?:^|[;&|]\s*|/bin/)digest (?!\(\))([^;&|<>]*)", line):
                words = shlex.split(match[1])
                if words != ["$@"]:  # the guide's `digest` shell function passes its arguments on
                    found.append(words)
    for match in re.finditer(r"`digest ([a-z][a-z -]*[a-z])", GUIDE.read_text()):
        found.append(match[1].split())
    return found


def test_every_digest_command_and_option_in_the_guide_exists():
    invocations = digest_invocations()
    assert ["db", "upgrade"] in invocations and ["doctor"] in invocations
    for words in invocations:
        command, rest = resolve(words)
        options = {name for param in command.params for name in param.opts}
        for word in rest:
            if word.startswith("--"):
                assert word.split("=")[0] in options, f"`digest {' '.join(words)}`: no option {word}"


def test_every_setting_the_guide_names_is_one():
    text_ = GUIDE.read_text()
    named = set(re.findall(r"`([A-Z][A-Z0-9_]{2,})[=`]", text_))
    named |= {line.split("=", 1)[0] for language, _, body in blocks() if language == "ini" for line in commands(body)}
    assert {"SECRET_KEY", "DATABASE_URL", "SENDGRID_WEBHOOK_PUBLIC_KEY"} <= named
    assert named - NOT_SETTINGS <= set(Settings.model_fields), named - NOT_SETTINGS - set(Settings.model_fields)


def test_every_unit_and_deploy_file_the_guide_names_exists():
    text_ = GUIDE.read_text()
    units = set(re.findall(r"(?<![\w#-])digest-([a-z]+)\b", text_))
    assert units == {path.stem.removeprefix("digest-") for path in UNITS.glob("*.service")}
    for path in re.findall(r"(?<![\w.-])(deploy/[\w./*-]*\w)", text_):
        assert list(REPO.glob(path)), f"docs/deploy.md names {path}, which is not in the repository"


# --- following it ------------------------------------------------------------------------------

class Machine:
    """This machine as the guide's server: its paths under `root`, the test's database and Redis."""

    def __init__(self, root: Path, postgres: str):
        self.root = root
        self.postgres = make_url(postgres)
        self.env_file = root / "etc/digest/digest.env"
        self.state = root / "var/lib/digest"
        self.web_port = free_port()

    def here(self, text_: str) -> str:
        """The guide's text with its paths moved under `root` and run as this test's user."""
        for server, here in [("/opt/digest/src", str(REPO)), ("/opt/digest", f"{self.root}/opt/digest"),
                             ("/etc/digest", f"{self.root}/etc/digest"),
                             ("/var/lib/digest", str(self.state)), ("/var/backups/digest", f"{self.root}/backups"),
                             ("sudo -u digest ", ""), ("sudo -u postgres ", "")]:
            text_ = text_.replace(server, here)
        return text_

    def shell(self, body: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
        """Run the guide's `body` in bash, after its `digest` shell function, with a shell's
        environment and none of the test session's settings."""
        script = "set -euo pipefail\n" + self.here(marked("shell")) + self.here(body)
        base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
        return subprocess.run(["bash", "-c", script], input=stdin, capture_output=True, text=True,
                              env=dict(base, **self.libpq(), **env), cwd=self.root, timeout=600)

    def run(self, body: str, stdin: str = "", **env: str) -> str:
        ran = self.shell(body, stdin, **env)
        assert ran.returncode == 0, f"{body}\nexit {ran.returncode}\n{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}"
        return ran.stdout

    def libpq(self) -> dict[str, str]:
        """`sudo -u postgres` on the server: here the test's PostgreSQL server and user."""
        url = self.postgres
        env = {"PGHOST": url.host or "127.0.0.1", "PGPORT": str(url.port or 5432), "PGUSER": url.username or "postgres"}
        return dict(env, PGPASSWORD=url.password) if url.password else env

    def set_settings(self, values: dict[str, str]) -> None:
        """Each NAME=VALUE in the env file, where the example has its line (commented or not)."""
        lines = self.env_file.read_text().splitlines()
        for name, value in values.items():
            at = [n for n, line in enumerate(lines) if re.fullmatch(f"#?{name}=.*", line)]
            assert len(at) == 1, f"{name}: {len(at)} lines in the env file"
            lines[at[0]] = f"{name}={value}"
        self.env_file.write_text("\n".join(lines) + "\n")

    def unit_command(self, unit: Path) -> list[str]:
        """The ExecStart of a unit copied here (paths already moved) as systemd runs it (%% is %);
        the web on a free port."""
        (exec_start,) = [line.split("=", 1)[1] for line in unit.read_text().splitlines()
                         if line.startswith("ExecStart=")]
        words = shlex.split(exec_start.replace("%%", "%"))
        if "--port" in words:
            words[words.index("--port") + 1] = str(self.web_port)
        return words

    def unit_environment(self, unit: Path) -> dict[str, str]:
        """EnvironmentFile= then Environment= of a unit copied here, as systemd gives them, with
        only a minimal PATH."""
        settings = unit.read_text().splitlines()
        (env_file,) = [line.split("=", 1)[1] for line in settings if line.startswith("EnvironmentFile=")]
        env = {"PATH": "/usr/bin:/bin", **dotenv_values(env_file)}
        for line in settings:
            if line.startswith("Environment="):
                name, _, value = line.split("=", 1)[1].partition("=")
                env[name] = value
        return env


class Units:
    """The four units' processes, started and stopped as systemd does."""

    def __init__(self, machine: Machine, directory: Path, logs: Path):
        self.machine, self.directory, self.logs = machine, directory, logs
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        self.machine.state.mkdir(parents=True, exist_ok=True)  # StateDirectory=
        for unit in sorted(self.directory.glob("digest-*.service")):
            with (self.logs / f"{unit.stem}.log").open("ab") as log:
                self.processes[unit.stem] = subprocess.Popen(
                    self.machine.unit_command(unit), env=self.machine.unit_environment(unit), cwd=self.machine.state,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def alive(self) -> bool:
        for name, process in self.processes.items():
            assert process.poll() is None, f"{name} exited {process.returncode}:\n{self.log(name)[-3000:]}"
        return True

    def wait_ready(self, broker: redis.Redis) -> None:
        def ready() -> bool:
            self.alive()
            try:
                web = httpx.get(f"http://127.0.0.1:{self.machine.web_port}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                web = False
            workers = all(" ready." in self.log(name) for name in ("digest-worker", "digest-delivery"))
            return web and workers and broker.hlen(BEATS_KEY) == 1
        wait_for(ready, timeout=90, what="web, workers and beat of the units")

    def stop(self) -> None:
        """KillSignal=SIGTERM to the main process, then SIGKILL to the rest after the time-out."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        self.processes.clear()


def accepted_copies(standin: SendGridStandIn, edition_id: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for email, custom_args, _ in standin.accepted:
        if str(custom_args.get("edition_id")) == str(edition_id):
            counts[email] = counts.get(email, 0) + 1
    return counts


def edition_status(machine: Machine, edition_id: int) -> str:
    editions = json.loads(machine.run("digest editions list --json"))["editions"]
    return next(row["status"] for row in editions if row["id"] == edition_id)


def send_and_check(machine: Machine, standin: SendGridStandIn, edition_id: int) -> None:
    wait_for(lambda: edition_status(machine, edition_id) == "sent", timeout=120, what=f"edition {edition_id} sent")
    assert accepted_copies(standin, edition_id) == {email: 1 for email in READERS}
    wait_for(lambda: len(standin.posted) >= 1 and all(200 <= status < 300 for status in standin.posted),
             timeout=30, what="the signed events accepted by the web process")


@pytest.fixture
def postgres_role():
    """`digest`, the role the guide's restore gives the objects to: one of this test's own."""
    role = f"digest_guide_{uuid.uuid4().hex[:8]}"
    admin = create_engine(TEST_POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    yield role
    with admin.connect() as connection:
        for database in connection.scalars(text("SELECT datname FROM pg_database WHERE datname LIKE :prefix"),
                                           {"prefix": f"{role}%"}):
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
    admin.dispose()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_guide_from_an_empty_server_to_an_edition_and_a_restored_backup(tmp_path, postgres_role):
    machine = Machine(tmp_path / "server", TEST_POSTGRES_URL)
    machine.root.mkdir()
    database, drop_database = scratch_postgres(TEST_POSTGRES_URL, "digest_guide")
    redis_port = free_port()
    snippet = [word for line in (REPO / "deploy" / "redis.conf").read_text().splitlines()
               if line.strip() and not line.startswith("#") for word in (f"--{line.split()[0]}", *line.split()[1:])]
    broker_server = start_redis_server(redis_port, tmp_path, *snippet)
    broker = redis.Redis(port=redis_port)
    feeds, standin, dns = FeedServer().__enter__(), SendGridStandIn().__enter__(), DNSServerOnLoopback().__enter__()
    units = Units(machine, tmp_path / "units", tmp_path)
    try:
        # Step 4: a fresh virtual environment, the project installed from the checkout.
        assert "digest 0." in machine.run(marked("install"))
        installed = subprocess.run([f"{machine.root}/opt/digest/.venv/bin/python", "-m", "pip", "list"],
                                   capture_output=True, text=True, check=True).stdout
        assert "pytest" not in installed and "hypothesis" not in installed, "the test extras were installed"

        # Step 5: the env file, from the example, with the guide's settings; the secret made as it says.
        machine.env_file.parent.mkdir(parents=True)
        shutil.copy(REPO / "deploy" / "digest.env.example", machine.env_file)
        secret = machine.run(marked("secret")).strip()
        guide_settings = dict(line.split("=", 1) for line in commands(marked("settings")))
        # What differs here: the test's database and Redis, the stand-in for SendGrid, feeds on
        # loopback, and a DNS server holding example.org's records for the doctor.
        here = {"DATABASE_URL": database, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "SECRET_KEY": secret,
                "SENDGRID_API_KEY": standin.api_key, "SENDGRID_WEBHOOK_PUBLIC_KEY": standin.public_key}
        assert set(here) <= set(guide_settings)
        machine.set_settings({**guide_settings, **here, "SENDGRID_API_HOST": standin.url,
                              "FEED_ALLOW_PRIVATE_ADDRESSES": "true", "DOCTOR_DNS_SERVER": dns.address})

        # Step 6: the schema, with the installed command.
        assert "database is up to date" in machine.run(marked("migrate"))

        # Step 7: the units as copied to the server, verified by systemd, then started.
        units.directory.mkdir()
        for unit in UNITS.glob("*.service"):
            (units.directory / unit.name).write_text(machine.here(unit.read_text()))
        verified = subprocess.run(["systemd-analyze", "verify", *sorted(map(str, units.directory.glob("*.service")))],
                                  capture_output=True, text=True, timeout=60)
        assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")
        units.start()
        units.wait_ready(broker)

        # Steps 9 and 10: SendGrid's account and DNS as the guide sets them up; the doctor clean.
        standin.authenticate_domain(guide_settings["FROM_EMAIL"].split("@")[1])
        standin.add_event_webhook(guide_settings["PUBLIC_BASE_URL"] + "webhooks/sendgrid")
        standin.webhook_url = f"http://127.0.0.1:{machine.web_port}/webhooks/sendgrid"  # nginx's part
        dns.zone.set(EXAMPLE_ORG)
        doctor = machine.run("digest doctor\n")
        assert doctor.rstrip().endswith("0 warnings, 0 errors"), doctor

        # Step 11: the first edition, line by line as an operator types it.
        feed_url = serve_feed(feeds, recent_items(4))
        readers = tmp_path / "readers.csv"
        with readers.open("w", newline="") as out:
            rows = csv.writer(out)
            rows.writerow(["email", "name", "confirmed_at"])
            rows.writerows([email, email.split("@")[0].title(), "2026-01-02T10:00:00Z"] for email in READERS)
        variables = {"EDITOR": "publisher@example.org", "FEED_URL": feed_url, "READERS_CSV": str(readers)}
        for line in commands(marked("first-edition")):
            machine.run(line, stdin=f"{EDITOR_PASSWORD}\n" if "editors add" in line else "y\n", **variables)
        send_and_check(machine, standin, 1)

        # Step 12: the backup, then the restore into a new database, put in service as the guide says.
        backup = marked("backup").replace(" digest >", f" {make_url(database).database} >")
        machine.run(backup)
        assert (machine.root / "backups" / "digest.env").read_text() == machine.env_file.read_text()
        restored = f"{postgres_role}_restored"
        machine.run(marked("restore").replace("digest_restored", restored)
                    .replace("--owner=digest", f"--owner={postgres_role}").replace("--role=digest", f"--role={postgres_role}"))
        units.stop()
        machine.set_settings({"DATABASE_URL": make_url(database).set(database=restored).render_as_string(False)})
        drop_database()  # nothing left of the original
        assert "database is up to date" in machine.run(marked("migrate"))
        units.start()
        units.wait_ready(broker)

        # The next edition goes out from the restored database, to the readers it holds, once each.
        serve_feed(feeds, recent_items(5))
        standin.posted.clear()
        for line in ["digest feeds poll", "digest editions compose --now", 'digest editions approve 2 --by "$EDITOR"',
                     "digest editions send 2"]:
            machine.run(line, stdin="y\n", **variables)
        send_and_check(machine, standin, 2)
        assert accepted_copies(standin, 1) == {email: 1 for email in READERS}, "edition 1 went out again"
    finally:
        units.stop()
        for server in (dns, standin, feeds):
            server.__exit__(None, None, None)
        broker_server.terminate()
        broker_server.wait(10)
        drop_database()
