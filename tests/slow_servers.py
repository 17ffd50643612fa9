"""Raw TCP servers on loopback that answer too slowly on purpose: silent ones, and slow-drip ones
that send an HTTP answer one byte at a time, each byte quick enough that no read time-out fires."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# A plausible answer, dripped: the client never sees the end of its headers before its deadline.
DRIPPED_ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nServer: drip\r\n"
                  b"X-Padding: " + b"p" * 200 + b"\r\nContent-Length: 0\r\n\r\n")


@contextmanager
def raw_server(on_connection: Callable[[socket.socket, threading.Event], None]) -> Iterator[str]:
    """A TCP server on 127.0.0.1 handing each accepted connection (and a stop event) to
    `on_connection`; yields its base URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                on_connection(listener.accept()[0], stop)
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


@contextmanager
def dripping_server(interval: float = 0.5, answer: bytes = DRIPPED_ANSWER) -> Iterator[str]:
    """Answers every connection with `answer`, one byte every `interval` seconds (the whole of
    DRIPPED_ANSWER takes minutes), in a thread per connection."""
    def drip(connection: socket.socket, stop: threading.Event) -> None:
        with connection:
            for byte in answer:
                if stop.wait(interval):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return  # the client gave up

    def start_dripping(connection: socket.socket, stop: threading.Event) -> None:
        threading.Thread(target=drip, args=(connection, stop), daemon=True).start()

    with raw_server(start_dripping) as url:
        yield url
