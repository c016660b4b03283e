"""`ivr queue`: the human queue from a terminal (registered by ivr.cli).

    ivr queue list [--name Q] [--status waiting|taken|done] [--json]
    ivr queue take [--name Q] [--agent A] [--lease S] [--json]
    ivr queue release CALL_ID [--agent A]
    ivr queue done CALL_ID --disposition X [--agent A]
    ivr queue history CALL_ID [--json]
    ivr queue purge --days N
    ivr queue stats [--sla-target S] [--json]

Exit codes: 0 done, 1 nothing to take, 2 bad input or a caller the agent does not hold (one
line on stderr). Nothing printed carries caller digits: records are masked when filed and
again when printed, and audit events carry only ids, queue names and labels.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from . import DEFAULT_LEASE_S, DEFAULT_SLA_TARGET_S, HandoffQueue, open_queue
from .audit import event_to_json
from .format import format_event, format_handoff, format_stats, handoff_to_json
from .record import STATUSES

__all__ = ["register"]

Handler = Callable[[argparse.Namespace], int]


def _seconds(most: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value) or not 0 < value <= most:
            raise argparse.ArgumentTypeError(f"must be above 0 and at most {most:g}, "
                                             f"not {text!r}")
        return value

    return parse


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not math.isfinite(value) or not 0 <= value <= 36_500:
        raise argparse.ArgumentTypeError(f"days must be 0 to 36500, not {text!r}")
    return value


def _common(q: argparse.ArgumentParser, *, json_out: bool = True) -> None:
    q.add_argument("--queue", help="handoff queue: a SQLite file, sqlite:///abs/path or "
                   "redis://host:6379/0 (default: $IVR_QUEUE or var/handoff.sqlite3)")
    if json_out:
        q.add_argument("--json", action="store_true", help="JSON output")


def _agent(q: argparse.ArgumentParser) -> None:
    q.add_argument("--agent", default=os.environ.get("USER", "agent"),
                   help="who you are (default: $USER)")


def register(sub: Any) -> dict[str, Handler]:
    """Add `queue` and its actions to the `ivr` command line."""
    p = sub.add_parser("queue", help="the human queue")
    qsub = p.add_subparsers(dest="queue_command", required=True, metavar="ACTION")
    q = qsub.add_parser("list", help="callers in line (or taken, or done)")
    _common(q)
    q.add_argument("--name", help="only this queue")
    q.add_argument("--status", choices=STATUSES, default="waiting")
    q = qsub.add_parser("take", help="take the next caller, under a lease")
    _common(q)
    q.add_argument("--name", help="only this queue")
    _agent(q)
    q.add_argument("--lease", type=_seconds(86_400), default=DEFAULT_LEASE_S, metavar="S",
                   help=f"seconds you hold the caller (default {DEFAULT_LEASE_S:g})")
    for name, text in (("release", "put a caller you hold back in line"),
                       ("done", "close a caller you hold")):
        q = qsub.add_parser(name, help=text)
        _common(q, json_out=False)
        q.add_argument("call_id", metavar="CALL_ID")
        _agent(q)
        if name == "done":
            q.add_argument("--disposition", required=True, help="how it ended, e.g. resolved")
    q = qsub.add_parser("history", help="the audit trail of one call")
    _common(q)
    q.add_argument("call_id", metavar="CALL_ID")
    q = qsub.add_parser("purge", help="drop what callers said in calls closed N days ago")
    _common(q, json_out=False)
    q.add_argument("--days", type=_days, required=True, metavar="N")
    q = qsub.add_parser("stats", help="queue figures and service level")
    _common(q)
    q.add_argument("--sla-target", type=_seconds(86_400), default=DEFAULT_SLA_TARGET_S,
                   metavar="S", help=f"answer within S seconds (default {DEFAULT_SLA_TARGET_S:g})")
    return {"queue": _cmd_queue}


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _cmd_queue(args: argparse.Namespace) -> int:
    queue: HandoffQueue = open_queue(args.queue or None)  # None: $IVR_QUEUE or var/
    try:
        return _ACTIONS[args.queue_command](queue, args)
    finally:
        queue.close()


def _list(queue: HandoffQueue, args: argparse.Namespace) -> int:
    items = queue.list(args.name, status=args.status)
    for item in items:
        print(_dump(handoff_to_json(item)) if args.json else format_handoff(item).splitlines()[0])
    if not items and not args.json:
        print(f"no callers {args.status}")
    return 0


def _take(queue: HandoffQueue, args: argparse.Namespace) -> int:
    taken = queue.take(args.name, agent=args.agent, lease_s=args.lease)
    if taken is None:
        print("no callers waiting", file=sys.stderr)
        return 1
    print(_dump(handoff_to_json(taken)) if args.json else format_handoff(taken))
    return 0


def _release(queue: HandoffQueue, args: argparse.Namespace) -> int:
    if not queue.release(args.call_id, args.agent):
        raise UsageError(f"{args.agent!r} does not hold call {args.call_id!r} (never taken, "
                         "released, lease expired or closed); nothing changed")
    print(f"released {args.call_id}: back in line")
    return 0


def _done(queue: HandoffQueue, args: argparse.Namespace) -> int:
    if not queue.done(args.call_id, args.agent, args.disposition):
        raise UsageError(f"{args.agent!r} does not hold call {args.call_id!r} (never taken, "
                         "released, lease expired or closed); nothing changed")
    print(f"done {args.call_id}: {args.disposition}")
    return 0


def _history(queue: HandoffQueue, args: argparse.Namespace) -> int:
    events = queue.history(args.call_id)
    if not events:
        raise UsageError(f"no call {args.call_id!r} in the audit trail")
    for e in events:
        print(_dump(event_to_json(e)) if args.json else format_event(e))
    return 0


def _purge(queue: HandoffQueue, args: argparse.Namespace) -> int:
    n = queue.purge(args.days * 86_400)
    print(f"purged what callers said in {n} closed calls older than {args.days:g} days "
          "(audit trail kept)")
    return 0


def _stats(queue: HandoffQueue, args: argparse.Namespace) -> int:
    stats = queue.stats(sla_target_s=args.sla_target)
    print(_dump(stats.as_dict()) if args.json else format_stats(stats))
    return 0


_ACTIONS: dict[str, Callable[[HandoffQueue, argparse.Namespace], int]] = {
    "list": _list, "take": _take, "release": _release, "done": _done, "history": _history,
    "purge": _purge, "stats": _stats,
}
