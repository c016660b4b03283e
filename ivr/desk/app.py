"""The desk's web application: the routes in one table, the security headers, the lifespan.

`build_app(desk)` returns a Starlette app; `ivr desk` serves it with uvicorn. Every response
carries a strict Content-Security-Policy (scripts and styles only from the desk's own
/static files, no inline script, no framing), so even text that escaped escaping could not
run.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .pages import Desk

__all__ = ["CSP", "build_app"]

STATIC = Path(__file__).parent / "static"

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
"""The Content-Security-Policy of every response."""

_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """ASGI middleware adding `_HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in _HEADERS if k not in names)]
            await send(message)

        await self.app(scope, receive, with_headers)


def build_app(desk: Desk) -> Starlette:
    """The web app for one desk (its floor, agents, sessions)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        desk.hub.start()
        yield
        await desk.hub.stop()

    routes = [
        Route("/", desk.home),
        Route("/login", desk.login_page, methods=["GET"]),
        Route("/login", desk.login, methods=["POST"]),
        Route("/logout", desk.logout, methods=["POST"]),
        Route("/lang", desk.set_lang, methods=["POST"]),
        Route("/desk", desk.agent_page),
        Route("/queues/{name}", desk.queue_page),
        Route("/take", desk.take, methods=["POST"]),
        Route("/call", desk.call_page),
        Route("/call/release", desk.release, methods=["POST"]),
        Route("/call/transfer", desk.transfer, methods=["POST"]),
        Route("/call/close", desk.close, methods=["POST"]),
        Route("/events", desk.events),
        Route("/supervisor", desk.supervisor_page),
        Route("/supervisor.json", desk.supervisor_json),
        Route("/metrics", desk.metrics_page),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(SecurityHeaders)
    return app
