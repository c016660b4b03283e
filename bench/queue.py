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
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ivr.errors import QueueError
from ivr.handoff import HandoffQueue, open_queue
from ivr.types import Handoff, Priority

ROOT = Path(__file__).resolve().parent.parent


def handoff(call_id: str, priority: int) -> Handoff:
    return Handoff(call_id=call_id, queue="cards", priority=Priority(priority), reason="bench",
                   lang="en", heard=("I lost my card",), path=("root",))


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
          stop: threading.Event | None = None) -> None:
    """Take, hold a moment, close; until the queue is empty, `stop` is set, or forever."""
    q = open_queue(url)
    while stop is None or not stop.is_set():
        got = q.take(agent=name, lease_s=lease)
        if got is None:
            if stop_when_empty and not q.list(status="taken"):
                return
            time.sleep(0.02)
            continue
        time.sleep(0.01)
        q.done(got.handoff.call_id, name, "resolved")


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "bench.queue", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)


def _reader(proc: subprocess.Popen[str], acked: set[str]) -> threading.Thread:
    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            acked.add(line.strip())
    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t


def check(q: HandoffQueue, acked: set[str]) -> dict[str, Any]:
    """Lost, duplicated, held twice (from the audit trail), expired, priority inversions."""
    records = [r for s in ("waiting", "taken", "done") for r in q.list(status=s)]
    ids = [r.handoff.call_id for r in records]
    events = q.audit(limit=10**7)
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
    acked: set[str] = set()
    t0 = time.perf_counter()
    procs = [_spawn("engine", url, f"e{i}", str(each), str(seed + i)) for i in range(engines)]
    readers = [_reader(p, acked) for p in procs]
    stop = threading.Event()
    threads = [threading.Thread(target=agent, args=(url, f"a{i}", 30.0, False, stop),
                                daemon=True) for i in range(agents)]
    for t in threads:
        t.start()
    for p in procs:
        p.wait()
    for r in readers:
        r.join()
    filed_s = time.perf_counter() - t0
    q = open_queue(url)
    while q.list() or q.list(status="taken"):
        time.sleep(0.05)
    taken_s = time.perf_counter() - t0
    stop.set()
    for t in threads:
        t.join()
    result = check(q, acked)
    q.close()
    total = engines * each
    return {**result, "filing_per_s": round(total / filed_s, 1),
            "taking_per_s": round(total / taken_s, 1)}


def kill9(url: str, engines: int, total: int, agents: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    acked: set[str] = set()
    each = total // engines
    eng: dict[int, subprocess.Popen[str]] = {}
    done_tags: set[int] = set()
    kills = {"engines": 0, "agents": 0}

    def start_engine(i: int) -> None:
        eng[i] = _spawn("engine", url, f"k{i}", str(each), str(seed + i))
        _reader(eng[i], acked)
    ags = [_spawn("agent", url, f"k-a{i}", "1.0") for i in range(agents)]
    for i in range(engines):
        start_engine(i)
    while len(done_tags) < engines:
        time.sleep(rng.uniform(0.05, 0.4))
        i = rng.randrange(engines)
        if eng[i].poll() is None and i not in done_tags:
            eng[i].send_signal(signal.SIGKILL)
            eng[i].wait()
            kills["engines"] += 1
            start_engine(i)  # re-files from the start: idempotent on call id
        j = rng.randrange(agents)
        ags[j].send_signal(signal.SIGKILL)
        ags[j].wait()
        kills["agents"] += 1
        ags[j] = _spawn("agent", url, f"k-a{j}-{kills['agents']}", "1.0")
        done_tags |= {k for k, p in eng.items() if p.poll() == 0}
    for p in ags:
        p.send_signal(signal.SIGKILL)
        p.wait()
    time.sleep(1.1)  # every lease of a killed agent is over
    agent(url, "k-final", 1.0, True)
    q = open_queue(url)
    result = {**check(q, acked), **{f"killed_{k}": v for k, v in kills.items()}}
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
    for p in procs:
        p.wait()
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
                    "kill9": kill9(url("kill"), engines, kill_total, 6, seed),
                }
                print(backend, json.dumps(results[backend]), flush=True)
        finally:
            server.stop()
        results["redis"]["restart"] = redis_restart(Path(tmp) / "aof", engines,
                                                    kill_total // engines, seed)
    results["ok"] = all(r["lost"] == 0 and r["duplicated"] == 0 and r["held_twice"] == 0
                        and r["done"] == r["records"]
                        for b in ("sqlite", "redis") for r in (results[b]["load"],
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
    lines += ["", f"ok: {r['ok']}", ""]
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
        agent(a.args[0], a.args[1], float(a.args[2]), False)
        return 0
    if shutil.which("redis-server") is None:
        print("bench.queue: redis-server is not installed", file=sys.stderr)
        return 2
    return 0 if run(a.quick, a.seed, a.out)["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
