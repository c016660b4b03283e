"""`ivr desk` (serve the agent desk) and `ivr desk agent add` (an agent, password from stdin)."""

from __future__ import annotations

import argparse
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from ..textio import stdin_lines

__all__ = ["register"]

Handler = Callable[[argparse.Namespace], int]


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isascii() or not port.isdigit() \
            or not 0 <= int(port) < 65536:
        raise UsageError(f"--listen must be HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def register(sub: Any) -> dict[str, Handler]:
    """Add `desk` to the `ivr` command line."""
    p = sub.add_parser("desk", help="the agent desk and supervisor view (a web server)")
    p.add_argument("--queue", help="handoff queue URL: sqlite:///abs/path, redis://host:6379/0 "
                   "(default: $IVR_QUEUE or var/handoff.sqlite3)")
    p.add_argument("--flow", help="flow YAML file (its queues, skills and labels)")
    p.add_argument("--overlay", action="append", default=[], metavar="FILE",
                   help="overlay laid over the flow where active (repeatable)")
    p.add_argument("--agents", help="agents file (SQLite; `ivr desk agent add` fills it)")
    p.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT",
                   help="where to serve (default 127.0.0.1:8080)")
    p.add_argument("--lease", type=float, default=60.0, metavar="SECONDS",
                   help="how long a taken caller is held without a renewal (default 60)")
    p.add_argument("--window", type=float, default=3600.0, metavar="SECONDS",
                   help="the supervisor's window for call figures (default 3600: the last hour)")
    p.add_argument("--top", type=int, default=8, metavar="N",
                   help="busiest nodes the supervisor sees (default 8)")
    p.add_argument("--secure-cookies", action="store_true",
                   help="send cookies over HTTPS only (when served behind TLS)")
    dsub = p.add_subparsers(dest="desk_command", metavar="[agent add NAME ...]",
                            title="instead of serving")
    a = dsub.add_parser("agent", help="the desk's agents")
    asub = a.add_subparsers(dest="agent_command", required=True, metavar="ACTION")
    add = asub.add_parser("add", help="add an agent (the password is read from stdin)")
    add.add_argument("agent", metavar="NAME", help="login name")
    add.add_argument("--agents", dest="agents_file", required=True, help="agents file (SQLite)")
    add.add_argument("--role", choices=("agent", "supervisor"), default="agent")
    add.add_argument("--skills", default="", help="comma-separated: fraud,zh,en,ko ...")
    return {"desk": _cmd_desk}


def _cmd_desk(args: argparse.Namespace) -> int:
    if args.desk_command == "agent":
        return _cmd_agent_add(args)
    return _cmd_serve(args)


def _cmd_agent_add(args: argparse.Namespace) -> int:
    from .agents import AgentStore, check_name, parse_skills

    check_name(args.agent)
    skills = parse_skills(args.skills)
    lines = list(stdin_lines())
    if not lines:
        raise UsageError("give the password on stdin (one line)")
    store = AgentStore(args.agents_file)
    try:
        agent = store.add(args.agent, args.role, skills, lines[0])
    finally:
        store.close()
    print(f"added {agent}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    if not args.flow:
        raise UsageError("--flow is required (the flow whose queues the desk shows)")
    if not args.agents:
        raise UsageError("--agents is required (add agents with `ivr desk agent add`)")
    host, port = _address(args.listen)
    if not 1.0 <= args.lease <= 3600.0:
        raise UsageError(f"--lease must be between 1 and 3600 seconds, got {args.lease:g}")
    if not 60.0 <= args.window <= 7 * 86400.0:
        raise UsageError(f"--window must be between 60 seconds and 7 days, got {args.window:g}")
    if not 1 <= args.top <= 100:
        raise UsageError(f"--top must be between 1 and 100, got {args.top}")
    from ..flow import load_linted
    from ..handoff import open_queue
    from .agents import AgentStore

    flow = load_linted(args.flow, args.overlay)
    store = AgentStore(args.agents)
    if not store.all():
        raise UsageError(f"agents file {args.agents} has no agents: add one with "
                         "`ivr desk agent add NAME --agents FILE`")
    queue = open_queue(args.queue or None)
    try:
        serve(build_desk(queue, flow, store, lease_s=args.lease, window_s=args.window,
                         top=args.top, secure_cookies=args.secure_cookies), host, port)
    finally:
        queue.close()
        store.close()
    return 0


def build_desk(queue: Any, flow: Any, store: Any, *, lease_s: float = 60.0,
               window_s: float = 3600.0, top: int = 8, secure_cookies: bool = False) -> Any:
    """A `Desk` over a queue, a flow and an agent store (for `ivr desk` and tests)."""
    from .floor import Floor
    from .live import Hub
    from .metrics import DeskMetrics
    from .pages import Desk
    from .session_store import SessionStore
    from .sessions import Sessions, Throttle
    from .views import Views

    floor = Floor(queue, flow, lease_s=lease_s)
    return Desk(floor=floor, agents=store,
                sessions=Sessions(clock=time.time, store=SessionStore(store)),
                throttle=Throttle(clock=time.time),
                hub=Hub(floor, refresh_s=min(5.0, lease_s / 3)),  # renewals ride on refreshes
                metrics=DeskMetrics(queue.stats, lambda: floor.calls(window_s, top)),
                views=Views(), secure_cookies=secure_cookies, window_s=window_s, top=top)


def serve(desk: Any, host: str, port: int) -> None:
    """Serve the desk with uvicorn until Ctrl-C or SIGTERM."""
    import uvicorn

    from .app import build_app

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:  # bound here, so a busy port is one line and exit 2 (uvicorn would exit 1 and log)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"--listen {host}:{port}: cannot listen there ({exc.strerror or exc})"
                         ) from None
    config = uvicorn.Config(build_app(desk), log_level="warning", timeout_graceful_shutdown=2,
                            lifespan="on")
    server = uvicorn.Server(config)
    print(f"ivr desk: http://{host}:{sock.getsockname()[1]}/ (flow {desk.floor.flow.name}, "
          f"{len(desk.agents.all())} agents)", file=sys.stderr, flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
