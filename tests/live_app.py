"""The web app over real HTTP, for tests that need what TestClient hides: as it runs in
production, `digest serve` in a process of its own (real sockets, streaming, uvicorn's own header
handling), or served by uvicorn in a thread of the test process where real sockets are enough."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from tests.conftest import REPO, wait_for


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def app_in_thread() -> Iterator[str]:
    """The app served by uvicorn on a free local port in a thread of this process; its base URL."""
    with served_in_thread() as (base_url, _loop):
        yield base_url


@contextmanager
def served_in_thread(lifespan: str = "off") -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """app_in_thread, with the app's startup run or not (`lifespan` "on" or "off"), and the
    server's event loop, where a test can read what that startup set
    (asyncio.run_coroutine_threadsafe)."""
    from digest.web.app import app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan=lifespan))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(sockets=[sock]),), daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=10, interval=0.05, what="uvicorn to start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", loop
    finally:
        server.should_exit = True
        thread.join(10)
        loop.close()
        sock.close()


class LiveApp:
    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_bytes(self) -> int:
        """The server process's resident memory now."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS for the server process")

    def __enter__(self) -> "LiveApp":
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "digest", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=REPO, env=dict(os.environ, **self.env), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        wait_for(self._answers, timeout=30, what="`digest serve` to answer")
        return self

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"digest serve exited: {self.log_path.read_text()[-3000:]}")
        try:
            return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def __exit__(self, *exc) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
