"""The app's routes as tests enumerate them: every path and its methods, the routers' included
(FastAPI keeps an included router as one entry of app.routes)."""

from __future__ import annotations

from fastapi.routing import iter_route_contexts

from digest.web.app import app


def app_routes() -> list[tuple[str, set[str]]]:
    """(path template, methods) of every route with methods, mounts (/static) left out."""
    return [(route.path, set(route.methods)) for route in iter_route_contexts(app.routes) if route.methods]
