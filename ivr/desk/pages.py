"""The desk's request handlers: login and logout, the agent's pages, actions, streams, figures.

Every page needs a session (else: to the login page); every POST needs the session's CSRF token
in its form (else 403, nothing done); a queue or a call the agent's skills do not allow is 403.
Queue calls block, so they run in worker threads (`run_in_threadpool`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from ..handoff.outcome_figures import DEFAULT_TOP, DEFAULT_WINDOW_S
from ..types import LANGS
from .agents import AgentStore
from .floor import Floor, Snapshot
from .i18n import Labels
from .live import Hub, sse
from .metrics import CONTENT_TYPE, DeskMetrics
from .sessions import COOKIE, LOGIN_COOKIE, Session, Sessions, Throttle, csrf_ok
from .supervisor import Board, agent_loads, last_hour, queue_lines
from .views import Views, call_view

__all__ = ["Desk"]


@dataclass
class Desk:
    """One desk: the floor, the agents, the sessions, and the handlers that tie them."""

    floor: Floor
    agents: AgentStore
    sessions: Sessions
    throttle: Throttle
    hub: Hub
    metrics: DeskMetrics
    views: Views
    secure_cookies: bool = False
    """Send cookies only over HTTPS (when the desk is served behind TLS)."""
    window_s: float = DEFAULT_WINDOW_S
    """The supervisor's window for call figures (seconds up to now)."""
    top: int = DEFAULT_TOP
    """How many of the busiest nodes the supervisor sees."""

    # -- helpers -------------------------------------------------------------------------------

    def _session(self, request: Request) -> Session | None:
        return self.sessions.find(request.cookies.get(COOKIE))

    def _page(self, template: str, session: Session | None, status: int = 200,
              **context: Any) -> HTMLResponse:
        lang = session.lang if session else "en"
        context.setdefault("here", "/")
        html = self.views.render(template, t=Labels(lang, self.floor.flow), session=session,
                                 langs=LANGS, **context)
        return HTMLResponse(html, status_code=status)

    def _forbidden(self, session: Session | None, key: str = "forbidden") -> HTMLResponse:
        return self._page("error.html", session, 403, message=key)

    async def _post(self, request: Request) -> tuple[Session | None, dict[str, str], bool]:
        """The session, the form's fields, and whether its CSRF token is right."""
        session = self._session(request)
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        ok = session is not None and csrf_ok(session.csrf, fields.get("csrf"))
        return session, fields, ok

    def _cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                            secure=self.secure_cookies, path="/")

    # -- login ---------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return RedirectResponse("/login", 303)
        return RedirectResponse("/supervisor" if session.agent.role == "supervisor"
                                else "/desk", 303)

    async def login_page(self, request: Request, error: str = "",
                         status: int = 200) -> Response:
        token = secrets.token_urlsafe(32)
        response = self._page("login.html", None, status, csrf=token, error=error)
        self._cookie(response, LOGIN_COOKIE, token, 600)
        return response

    async def login(self, request: Request) -> Response:
        form = await request.form()
        pre = request.cookies.get(LOGIN_COOKIE, "")
        if not pre or not csrf_ok(pre, form.get("csrf")):
            return self._forbidden(None)
        name, password = form.get("name"), form.get("password")
        if not isinstance(name, str) or not isinstance(password, str):
            return await self.login_page(request, "bad_login", 400)
        keys = (f"name:{name}", f"addr:{request.client.host if request.client else '?'}")
        if self.throttle.locked(*keys) > 0:
            self.metrics.login_failures.inc()
            return await self.login_page(request, "throttled", 429)
        agent = await run_in_threadpool(self.agents.verify, name, password)
        if agent is None:
            self.throttle.failed(*keys)
            self.metrics.login_failures.inc()
            return await self.login_page(request, "bad_login", 401)
        self.throttle.succeeded(keys[0])
        _, cookie = self.sessions.start(agent)
        response = RedirectResponse("/", 303)
        self._cookie(response, COOKIE, cookie, int(self.sessions.ttl_s))
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    async def logout(self, request: Request) -> Response:
        session, _, ok = await self._post(request)
        if not ok or session is None:
            return self._forbidden(session)
        self.sessions.end(session)
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def set_lang(self, request: Request) -> Response:
        session, fields, ok = await self._post(request)
        if not ok or session is None:
            return self._forbidden(session)
        self.sessions.set_lang(session, fields.get("lang", ""))
        back = fields.get("next", "/")
        return RedirectResponse(back if back.startswith("/") and not back.startswith("//")
                                else "/", 303)

    # -- the agent's pages ---------------------------------------------------------------------

    async def agent_page(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return RedirectResponse("/login", 303)
        snap = await run_in_threadpool(self.floor.snapshot)
        return self._page("desk.html", session, live=self.desk_part(session, snap),
                          empty=request.query_params.get("empty") == "1",
                          queues=self.floor.queues_for(session.agent), here="/desk")

    async def queue_page(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return RedirectResponse("/login", 303)
        name = request.path_params["name"]
        if not self.floor.may_see(session.agent, name):
            return self._forbidden(session)
        snap = await run_in_threadpool(self.floor.snapshot)
        return self._page("queue.html", session, name=name,
                          live=self.desk_part(session, snap, name), here=f"/queues/{name}")

    def desk_part(self, session: Session, snap: Snapshot, queue: str | None = None) -> str:
        """The live part of the agent's page: waiting callers per queue, and held callers."""
        agent = session.agent
        names = self.floor.queues_for(agent) if queue is None else (queue,)
        waiting = self.floor.waiting_for(agent, snap, queue)
        per_queue = [(n, [call_view(q, snap.at) for q in waiting if q.handoff.queue == n])
                     for n in names]
        held = [call_view(q, snap.at) for q in self.floor.held_by(agent, snap)]
        return self.views.render("_waiting.html", t=Labels(session.lang, self.floor.flow),
                                 per_queue=per_queue, held=held)

    async def call_page(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return RedirectResponse("/login", 303)
        call_id = request.query_params.get("id", "")
        record = await run_in_threadpool(self.floor.record, call_id)
        if record is None:
            return self._page("error.html", session, 404, message="not_yours")
        mine = record.status == "taken" and record.taken_by == session.agent.name
        if not mine and session.agent.role != "supervisor":
            return self._forbidden(session, "not_yours")
        return self._page("call.html", session, call=call_view(record, time.time()), mine=mine,
                          queues=tuple(self.floor.flow.queues), overlays=record.handoff.overlays,
                          here=f"/call?id={call_id}")

    # -- actions -------------------------------------------------------------------------------

    async def take(self, request: Request) -> Response:
        session, fields, ok = await self._post(request)
        if not ok or session is None:
            return self._forbidden(session)
        queue = fields.get("queue") or None
        if queue is not None and not self.floor.may_see(session.agent, queue):
            return self._forbidden(session)
        record = await run_in_threadpool(self.floor.take_next, session.agent, queue)
        if record is None:
            return RedirectResponse("/desk?empty=1", 303)
        self.metrics.takes.inc()
        self.hub.poke()
        return RedirectResponse("/call?" + urlencode({"id": record.handoff.call_id}), 303)

    async def _act(self, request: Request,
                   act: Callable[[Session, dict[str, str]], bool]) -> Response:
        session, fields, ok = await self._post(request)
        if not ok or session is None:
            return self._forbidden(session)
        done = await run_in_threadpool(act, session, fields)
        if not done:
            return self._page("error.html", session, 409, message="lost")
        self.hub.poke()
        return RedirectResponse("/desk", 303)

    async def release(self, request: Request) -> Response:
        def act(s: Session, f: dict[str, str]) -> bool:
            done = self.floor.release(s.agent, f.get("id", ""))
            if done:
                self.metrics.releases.inc()
            return done
        return await self._act(request, act)

    async def transfer(self, request: Request) -> Response:
        def act(s: Session, f: dict[str, str]) -> bool:
            done = self.floor.transfer(s.agent, f.get("id", ""), f.get("queue", ""))
            if done:
                self.metrics.transfers.inc()
            return done
        return await self._act(request, act)

    async def close(self, request: Request) -> Response:
        def act(s: Session, f: dict[str, str]) -> bool:
            disposition = f.get("disposition", "")
            done = self.floor.close(s.agent, f.get("id", ""), disposition)
            if done:
                self.metrics.closes.labels(disposition).inc()
            return done
        return await self._act(request, act)

    # -- live streams, supervisor, metrics -----------------------------------------------------

    async def events(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return Response("log in first", 401)
        view, arg = request.query_params.get("view", "desk"), request.query_params.get("arg", "")
        if view == "queue" and not self.floor.may_see(session.agent, arg):
            return Response("not your queue", 403)
        if view == "supervisor" and session.agent.role != "supervisor":
            return Response("supervisors only", 403)
        if view not in ("desk", "queue", "call", "supervisor"):
            return Response("unknown view", 400)
        return StreamingResponse(self._stream(session, view, arg),
                                 media_type="text/event-stream",
                                 headers={"x-accel-buffering": "no"})

    async def _stream(self, session: Session, view: str, arg: str) -> AsyncIterator[str]:
        self.metrics.sse_clients.inc()
        last, renewed = "", 0.0
        try:
            yield "retry: 2000\n\n"
            async for snap in self.hub.updates():
                if view == "call":
                    now = time.monotonic()
                    if now - renewed >= self.floor.lease_s / 3:
                        if not await run_in_threadpool(self.floor.renew, session.agent, arg):
                            yield sse("lost", Labels(session.lang, self.floor.flow)("lost"))
                            return
                        renewed = now
                    yield ": alive\n\n"
                    continue
                if view == "supervisor":
                    html = await run_in_threadpool(self.floor_part, session, snap)
                else:
                    html = self.desk_part(session, snap, arg if view == "queue" else None)
                if html != last:
                    last = html
                    yield sse("update", html)
                else:
                    yield ": alive\n\n"
        finally:
            self.metrics.sse_clients.dec()

    async def supervisor_page(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return RedirectResponse("/login", 303)
        if session.agent.role != "supervisor":
            return self._forbidden(session)
        snap = await run_in_threadpool(self.floor.snapshot)
        live = await run_in_threadpool(self.floor_part, session, snap)
        return self._page("supervisor.html", session, live=live, here="/supervisor")

    def floor_part(self, session: Session, snap: Snapshot) -> str:
        """The supervisor's board (reads stats, the last hour's audit and the window's call
        outcomes: blocking)."""
        board = self.board(snap)
        return self.views.render("_floor.html", t=Labels(session.lang, self.floor.flow),
                                 lines=board.lines, loads=board.loads, hour=board.hour,
                                 calls=board.calls)

    def board(self, snap: Snapshot) -> Board:
        """Every figure of the supervisor's board (blocking: reads the queue and the log)."""
        stats = self.floor.queue.stats()
        online = [a.name for a in self.sessions.agents()]
        return Board(snap.at, queue_lines(self.floor, stats, snap), agent_loads(snap, online),
                     last_hour(self.floor, self.floor.audit(snap.at - 3600)),
                     self.floor.calls(self.window_s, self.top))

    async def supervisor_json(self, request: Request) -> Response:
        """The supervisor's figures as JSON (supervisors only)."""
        session = self._session(request)
        if session is None:
            return JSONResponse({"error": "log in first"}, 401)
        if session.agent.role != "supervisor":
            return JSONResponse({"error": "supervisors only"}, 403)
        snap = await run_in_threadpool(self.floor.snapshot)
        board = await run_in_threadpool(self.board, snap)
        return JSONResponse(board.as_dict())

    async def metrics_page(self, request: Request) -> Response:
        body = await run_in_threadpool(self.metrics.text)
        return Response(body, media_type=CONTENT_TYPE)
