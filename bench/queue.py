"""Durability and load of the human queue, SQLite and Redis in the same run (`make bench-queue`).

1. load: 4 engine processes x 250 handoffs into one queue while 20 agent threads take and
   close — every record present once, no caller held twice (audit trail), priority inversions
   counted; filing and taking per second.
2. kill -9: 200 handoffs by 4 engine processes while 6 agent processes take under 1 s leases;
   engines and agents are killed with SIGKILL at random moments and restarted — 0 acknowledged
   records lost, 0 duplicated, expired leases back in line and finally closed.
3. Redis only: redis-server (appendonly yes, appendfsync always) killed and restarted while
   engines file — 0 acknowledged records lost.

Randomness is seeded (`--seed`, printed). Results: bench/results/queue.json and queue.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis

from ivr.errors import QueueError
from ivr.handoff import AuditEvent, HandoffQueue, open_queue
from ivr.handoff.audit import event_from_json
from ivr.handoff.redis import RedisQueue
from ivr.handoff.sqlite import SqliteQueue
from ivr.types import Handoff, Priority

ROOT = Path(__file__).resolve().parent.parent


def handoff(call_id: str, priority: int) -> Handoff:
    return Handoff(call_id=call_id, queue="cards", priority=Priority(priority), reason="bench",
                   lang="en", heard=("I lost my card",), candidates=(), path=("root",))


def engine(url: str, tag: str, count: int, seed: int) -> None:
    """File `count` handoffs, printing each call id once acknowledged; retry on errors."""
    rng = random.Random(seed)
    q: HandoffQueue | None = None
    for i in range(count):
        h = handoff(f"{tag}-{i:04d}", rng.choice(list(Priority)))
        while True:
            try:
                q = q or open_queue(url)
                q.put(h)
                break
            except QueueError:
                q = None
                time.sleep(0.05)
        print(h.call_id, flush=True)


def agent(url: str, name: str, lease: float, stop_when_empty: bool,
          stop: threading.Event | None = None, hold: float = 0.01) -> None:
    """Take, hold a moment, close; until the queue is empty, `stop` is set, or forever."""
    q = open_queue(url)
    while stop is None or not stop.is_set():
        got = q.take(agent=name, lease_s=lease)
        if got is None:
            if stop_when_empty and not q.list(status="taken"):
                return
            time.sleep(0.02)
            continue
        time.sleep(hold)
        q.done(got.handoff.call_id, name, "resolved")


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "bench.queue", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)


def _reader(proc: subprocess.Popen[str], acked: set[str],
            stamps: list[float] | None = None) -> threading.Thread:
    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            acked.add(line.strip())
            if stamps is not None:
                stamps.append(time.perf_counter())
    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t


def _wait_all(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.wait() != 0:
            raise RuntimeError(f"an engine process failed (exit {p.returncode})")


def commit_order(q: HandoffQueue) -> list[AuditEvent]:
    """The whole audit trail in the order the changes were committed (the store's own event
    sequence: `audit()` orders by time, and engines on other hosts stamp with their clocks)."""
    if isinstance(q, SqliteQueue):
        with sqlite3.connect(q.path) as raw:
            rows = raw.execute("SELECT at, call_id, event, actor, queue, detail FROM audit"
                               " ORDER BY id").fetchall()
        raw.close()
        return [AuditEvent(*row) for row in rows]
    assert isinstance(q, RedisQueue)
    client = redis.Redis.from_url(q.url.split("?")[0], decode_responses=True)
    members = sorted(str(m) for m in client.zrange(f"{q.prefix}:audit", 0, -1))  # sequence
    client.close()
    return [event_from_json(m[20:]) for m in members]


def check(q: HandoffQueue, acked: set[str]) -> dict[str, Any]:
    """Lost, duplicated, held twice (from the audit trail), expired, priority inversions."""
    records = [r for s in ("waiting", "taken", "done") for r in q.list(status=s)]
    ids = [r.handoff.call_id for r in records]
    events = commit_order(q)
    holder: dict[str, str | None] = {}
    twice = inversions = 0
    waiting: dict[str, int] = {}
    prio = {r.handoff.call_id: int(r.handoff.priority) for r in records}
    for e in events:
        if e.event == "taken":
            twice += holder.get(e.call_id) is not None
            holder[e.call_id] = e.actor
            waiting.pop(e.call_id, None)
            inversions += any(p > prio[e.call_id] for p in waiting.values())
        elif e.event in ("released", "expired", "done"):
            holder[e.call_id] = None
            if e.event != "done":
                waiting[e.call_id] = prio[e.call_id]
        elif e.event == "filed":
            waiting[e.call_id] = prio[e.call_id]
    return {"records": len(ids), "acknowledged": len(acked), "lost": len(acked - set(ids)),
            "duplicated": len(ids) - len(set(ids)), "held_twice": twice,
            "done": sum(r.status == "done" for r in records),
            "expired": sum(e.event == "expired" for e in events),
            "priority_inversions": inversions}


def load(url: str, engines: int, each: int, agents: int, seed: int) -> dict[str, Any]:
    """Engines file while agents take and close; filing/s from the first to the last ack."""
    acked: set[str] = set()
    stamps: list[float] = []
    procs = [_spawn("engine", url, f"e{i}", str(each), str(seed + i)) for i in range(engines)]
    readers = [_reader(p, acked, stamps) for p in procs]
    stop = threading.Event()
    threads = [threading.Thread(target=agent, args=(url, f"a{i}", 30.0, False, stop),
                                daemon=True) for i in range(agents)]
    for t in threads:
        t.start()
    _wait_all(procs)
    for r in readers:
        r.join()
    q = open_queue(url)
    while q.list() or q.list(status="taken"):
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()
    result = check(q, acked)
    q.close()
    span = max(stamps) - min(stamps) if len(stamps) > 1 else float("nan")
    return {**result, "filing_per_s": round((len(stamps) - 1) / span, 1)}


def drain(url: str, records: int, agents: int) -> dict[str, Any]:
    """A full line, then agents take and close as fast as they can: taking/s."""
    q = open_queue(url)
    for i in range(records):
        q.put(handoff(f"d-{i:05d}", int(list(Priority)[i % len(Priority)])))
    t0 = time.perf_counter()
    threads = [threading.Thread(target=agent, args=(url, f"d{i}", 30.0, True, None, 0.0))
               for i in range(agents)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    result = check(q, {f"d-{i:05d}" for i in range(records)})
    q.close()
    return {**result, "taking_per_s": round(records / took, 1)}


def kill9(url: str, engines: int, total: int, agents: int, seed: int,
          kills: int) -> dict[str, Any]:
    """`kills` engine and `kills` agent processes killed with SIGKILL at random moments."""
    rng = random.Random(seed)
    acked: set[str] = set()
    each = total // engines
    eng: dict[int, subprocess.Popen[str]] = {}
    killed = {"engines": 0, "agents": 0}

    def start_engine(i: int) -> None:
        eng[i] = _spawn("engine", url, f"k{i}", str(each), str(seed + i))
        _reader(eng[i], acked)

    ags = [_spawn("agent", url, f"k-a{i}", "1.0", "0.3") for i in range(agents)]
    for i in range(engines):
        start_engine(i)
    while any(p.poll() != 0 for p in eng.values()):
        if any(p.poll() not in (None, 0) for p in eng.values()):
            raise RuntimeError("an engine process failed on its own")
        first = killed["engines"] == 0
        # the first kill comes early and for sure: a quick run's engines (10 filings each)
        # could otherwise all finish between two coin tosses and the phase would kill none
        time.sleep(rng.uniform(0.05, 0.2) if first else rng.uniform(0.2, 0.8))
        running = [i for i, p in eng.items() if p.poll() is None]
        if running and killed["engines"] < kills and (first or rng.random() < 0.5):
            i = rng.choice(running)
            eng[i].send_signal(signal.SIGKILL)
            eng[i].wait()
            killed["engines"] += 1
            start_engine(i)  # files again from the start: idempotent on call id
        if killed["agents"] < kills and (killed["agents"] == 0 or rng.random() < 0.5):
            j = rng.randrange(agents)
            ags[j].send_signal(signal.SIGKILL)
            ags[j].wait()
            killed["agents"] += 1
            ags[j] = _spawn("agent", url, f"k-a{j}-{killed['agents']}", "1.0", "0.3")
    time.sleep(1.0)  # let the agents work a little more, then stop them all the hard way
    for p in ags:
        p.send_signal(signal.SIGKILL)
        p.wait()
    time.sleep(1.1)  # every lease of a killed agent is over
    agent(url, "k-final", 1.0, True)
    q = open_queue(url)
    result = {**check(q, acked), **{f"killed_{k}": v for k, v in killed.items()}}
    q.close()
    return result


def redis_restart(folder: Path, engines: int, each: int, seed: int) -> dict[str, Any]:
    from tests.redis_server import RedisServer

    server = RedisServer(folder, aof=True).start()
    url = server.url(prefix="restart")
    acked: set[str] = set()
    procs = [_spawn("engine", url, f"r{i}", str(each), str(seed + i)) for i in range(engines)]
    readers = [_reader(p, acked) for p in procs]
    while len(acked) < engines * each // 3:
        time.sleep(0.01)
    server.kill()
    at_kill = len(acked)
    time.sleep(0.3)
    server.start()
    _wait_all(procs)
    for r in readers:
        r.join()
    q = open_queue(url)
    result = {**check(q, acked), "acknowledged_before_kill": at_kill}
    q.close()
    server.stop()
    return result


def run(quick: bool, seed: int, out: Path | None) -> dict[str, Any]:
    from tests.redis_server import RedisServer

    print(f"bench.queue: seed {seed}, {'quick' if quick else 'full'}", flush=True)
    engines, each, agents = 4, (25 if quick else 250), 20
    kill_total = 40 if quick else 200
    results: dict[str, Any] = {"seed": seed, "quick": quick}
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        try:
            for backend in ("sqlite", "redis"):
                def url(name: str, backend: str = backend) -> str:
                    return (f"sqlite://{tmp}/{name}.sqlite3" if backend == "sqlite"
                            else server.url(prefix=name))
                results[backend] = {
                    "load": load(url("load"), engines, each, agents, seed),
                    "drain": drain(url("drain"), engines * each, agents),
                    "kill9": kill9(url("kill"), engines, kill_total, 6, seed,
                                   3 if quick else 8),
                }
                print(backend, json.dumps(results[backend]), flush=True)
        finally:
            server.stop()
        results["redis"]["restart"] = redis_restart(Path(tmp) / "aof", engines,
                                                    kill_total // engines, seed)
    results["ok"] = all(r["lost"] == 0 and r["duplicated"] == 0 and r["held_twice"] == 0
                        and r["priority_inversions"] == 0
                        and r["done"] == r["records"]
                        for b in ("sqlite", "redis") for r in (results[b]["load"],
                                                               results[b]["drain"],
                                                               results[b]["kill9"])) and \
        results["redis"]["restart"]["lost"] == 0
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "queue.json").write_text(json.dumps(results, indent=2) + "\n", "utf-8")
        (out / "queue.md").write_text(table(results), "utf-8")
    print(table(results))
    return results


def table(r: dict[str, Any]) -> str:
    lines = [f"# Human queue: durability and load (seed {r['seed']}"
             f"{', quick' if r['quick'] else ''})", "",
             "| backend | phase | records | acked | lost | dup | held twice | expired | done "
             "| inversions | filing/s | taking/s |", "|" + "---|" * 12]
    for b in ("sqlite", "redis"):
        for phase, x in r[b].items():
            lines.append(f"| {b} | {phase} | {x['records']} | {x['acknowledged']} | {x['lost']} "
                         f"| {x['duplicated']} | {x['held_twice']} | {x['expired']} "
                         f"| {x['done']} | {x['priority_inversions']} "
                         f"| {x.get('filing_per_s', '-')} | {x.get('taking_per_s', '-')} |")
    kills = {b: r[b]["kill9"] for b in ("sqlite", "redis")}
    lines += ["", "kill -9 phase: " + "; ".join(
        f"{b}: {k['killed_engines']} engine and {k['killed_agents']} agent processes killed, "
        f"{k['expired']} leases expired and went back in line" for b, k in kills.items()),
        f"Redis restart: redis-server killed (SIGKILL) after "
        f"{r['redis']['restart']['acknowledged_before_kill']} acknowledged filings and restarted "
        "from its append-only file (appendfsync always).",
        "filing/s: acknowledged puts per second from the first to the last ack of 4 engine "
        "processes (agents taking at the same time); taking/s: 20 agent threads taking and "
        "closing a full line. Inversions: takes that passed over a waiting caller of higher "
        "priority, in the store's commit order.", "", f"ok: {r['ok']}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.queue")
    ap.add_argument("role", nargs="?", default="bench", choices=["bench", "engine", "agent"])
    ap.add_argument("args", nargs="*")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    if a.role == "engine":
        engine(a.args[0], a.args[1], int(a.args[2]), int(a.args[3]))
        return 0
    if a.role == "agent":
        agent(a.args[0], a.args[1], float(a.args[2]), False, hold=float(a.args[3]))
        return 0
    if shutil.which("redis-server") is None:
        print("bench.queue: redis-server is not installed", file=sys.stderr)
        return 2
    return 0 if run(a.quick, a.seed, a.out)["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
