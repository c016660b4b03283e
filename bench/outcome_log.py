"""What the call-outcome log costs a call: text calls through a `Hotline` filing into a queue,
with the outcome log (one record per call) against the same Hotline with the log switched off,
on SQLite (a WAL file) and on a real redis-server, in the same run, interleaved in blocks so
the machine's load hits both alike.

    python -m bench.outcome_log --out bench/results [--calls 400]

Writes outcome_log.json and outcome_log.md: per backend, the median milliseconds per call
with and without the log, their ratio, and the log's own `record` and `since` (one window read)
times. The calls are the bank flow's: half reach a business node, half ask for a person (a
handoff is filed too).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ivr.call import Hotline, Say
from ivr.flow import load_flow
from ivr.handoff import open_queue

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "flows" / "bank_hotline.yaml"
BLOCK = 25
CALLS = ([Say("check my balance"), Say("yes")], [Say("I want a real person please")])


def _block(hotline: Hotline, tag: str, start: int) -> list[float]:
    took = []
    for n in range(start, start + BLOCK):
        began = time.perf_counter()
        hotline.run(f"{tag}-{n}", "en", CALLS[n % 2])
        took.append(time.perf_counter() - began)
    return took


def measure(url: str, calls: int) -> dict[str, Any]:
    """Per-call times with and without the log on the queue at `url`."""
    queue = open_queue(url)
    hotline = Hotline(load_flow(FLOW), queue=queue)
    log = hotline.outcomes
    _block(hotline, "warm", 0)
    on: list[float] = []
    off: list[float] = []
    for start in range(0, calls, BLOCK):
        hotline.outcomes = log
        on += _block(hotline, "on", start)
        hotline.outcomes = None
        off += _block(hotline, "off", start)
    assert log is not None
    began = time.perf_counter()
    window = log.since(time.time() - 3600)
    since_s = time.perf_counter() - began
    queue.close()
    return {"calls": len(on), "with_log_ms": 1000 * statistics.median(on),
            "without_log_ms": 1000 * statistics.median(off),
            "ratio": statistics.median(on) / statistics.median(off),
            "since_ms": 1000 * since_s, "window_records": len(window)}


def table(results: dict[str, Any]) -> str:
    rows = ["| backend | calls each | ms/call with log | ms/call without | ratio | "
            "one window read (records) |", "| --- | --- | --- | --- | --- | --- |"]
    for name, r in results["backends"].items():
        rows.append(f"| {name} | {r['calls']} | {r['with_log_ms']:.2f} | "
                    f"{r['without_log_ms']:.2f} | {r['ratio']:.3f} | {r['since_ms']:.1f} ms "
                    f"({r['window_records']}) |")
    return (f"# The call-outcome log's cost per call\n\n`python -m bench.outcome_log` "
            f"(load average {results['load']}, medians, interleaved blocks of {BLOCK})\n\n"
            + "\n".join(rows) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.outcome_log")
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    from tests.redis_server import RedisServer

    results: dict[str, Any] = {"load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
                               "backends": {}}
    with tempfile.TemporaryDirectory() as tmp:
        results["backends"]["sqlite"] = measure(f"sqlite://{tmp}/q.sqlite3", args.calls)
        server = RedisServer(Path(tmp) / "redis").start()
        try:
            results["backends"]["redis"] = measure(server.url(), args.calls)
        finally:
            server.stop()
    print(table(results))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "outcome_log.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "outcome_log.md").write_text(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
