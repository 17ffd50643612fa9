"""A tiny local web server for the bundled sample feed, so the demo needs no internet."""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent
DEFAULT_PORT = 8025
SAMPLE_FEED_PATH = "/publications/analytical-articles.feed"


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {".feed": "application/rss+xml; charset=utf-8"}

    def translate_path(self, path: str) -> str:
        # /publications/<name>.feed -> the bundled <name>.feed; nothing else is served.
        name = path.split("?", 1)[0].rsplit("/", 1)[-1]
        return str(SAMPLE_DIR / name) if name.endswith(".feed") else str(SAMPLE_DIR / "missing")

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature of the base class
        pass


def make_server(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), partial(_Handler, directory=str(SAMPLE_DIR)))


def start_in_thread(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    server = make_server(host, port)
    threading.Thread(target=server.serve_forever, daemon=True, name="sample-feed").start()
    return server


def feed_url(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> str:
    return f"http://{host}:{port}{SAMPLE_FEED_PATH}"
