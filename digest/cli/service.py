"""Running the service and trying it: `digest serve`, `digest sample serve|setup`, `digest demo`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from digest.cli.common import app, console, sample_app, transaction
from digest.clock import utcnow
from digest.config import get_settings


@app.command("serve")
def serve(host: str = "127.0.0.1", port: int = 8000,
          workers: Annotated[int, typer.Option(min=1, max=64, help="Web processes sharing the port (one per core)")] = 1) -> None:
    """Run the web app."""
    import uvicorn

    from digest.ops.logs import uvicorn_log_config

    trusted = get_settings().FORWARDED_ALLOW_IPS.strip()
    # X-Forwarded-For names the client only when our own proxy set it; uvicorn would otherwise
    # trust any local client's (its default is 127.0.0.1), letting it pick its rate-limit address.
    uvicorn.run("digest.web.app:app", host=host, port=port, workers=workers, proxy_headers=bool(trusted),
                forwarded_allow_ips=trusted or None,
                log_config=uvicorn_log_config(get_settings().LOG_FORMAT) or uvicorn.config.LOGGING_CONFIG)


@sample_app.command("serve")
def sample_serve(port: int = 8025) -> None:
    """Serve the bundled sample feed on 127.0.0.1 (for the quickstart and the demo)."""
    from digest.sample.server import feed_url, make_server

    server = make_server(port=port)
    console.print(f"sample feed at {feed_url(port=port)}")
    server.serve_forever()


@sample_app.command("setup")
def sample_setup(port: Annotated[int, typer.Option(help="Port of the sample feed server")] = 8025,
                 editor: Annotated[str, typer.Option(help="Demo publisher's email")] = "editor@example.org",
                 password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the demo publisher's password from standard input")] = False) -> None:
    """Register and poll the sample feed, compose the next draft, add a demo reader and publisher."""
    from digest.demo import ensure_demo_editor, seed_sample
    from digest.editions.compose import compose_next_edition

    from digest.cli.feeds import poll_summary

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    seeded = seed_sample(port)
    # soft_wrap: a URL longer than the terminal's line stays on its line, never pushed to the next.
    console.print(f"sample feed {seeded.feed_id} polled ({poll_summary(seeded.poll)}): {seeded.url}",
                  soft_wrap=True, highlight=False, markup=False)
    with transaction() as session:
        edition = compose_next_edition(session, utcnow())
        if edition is not None:
            console.print(f"draft edition {edition.id} ({edition.status.value}) with {len(edition.items)} articles")
    if password and ensure_demo_editor(editor, password):
        console.print(f"publisher {editor} created")


@app.command("demo")
def demo(port: Annotated[int, typer.Option(help="Port of the sample feed server")] = 8025) -> None:
    """Run the pipeline once on the sample feed and leave the edition in the outbox."""
    from digest.demo import run_demo

    result = run_demo(port)
    console.print(result.summary, soft_wrap=True, highlight=False)
