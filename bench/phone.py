"""Phone calls as a benchmark: real baresip callers through one `ivr serve` on loopback.

    python -m bench.phone [--calls 24] [--quick] [--pad 8] [--out bench/results]

The callers are the committed Korean recordings of samples/calls/ko_audio.yaml (what `ivr
replay` and `make demo` use), at 8 kHz with `--pad` seconds of trailing silence. In one run:

1. **replay** — `ivr replay --json --cold` of every caller's 16 kHz original, its 8 kHz file, and
   the 8 kHz file through G.711 mu-law and A-law and back (sox): the plain baseline.
2. **load** — `--calls` concurrent baresip calls (PCMU; the callers in turn, one baresip per
   caller placing its calls over ctrl_tcp) through one `ivr serve`: answered, node per call
   against the replay of the audio the engine hears (the mu-law file) and of the 8 kHz file,
   end of speech → decision from the engine's per-turn timing lines (wall clock, and the
   trace's pause + settle), prompt frame jitter from a loopback tap (`bench.phone_tap`: the
   kernel's receive times of the engine's RTP at the callers' ports), and RSS per call
   (engine and its recognition workers at peak during the calls, less before, / calls).
   The calls are placed at one instant, so their callers stop speaking within about a
   second of each other: the worst case, a burst. A second load phase places them evenly
   over `--spread` seconds, as calls reach a hotline; the most calls up at once is counted
   from baresip's events, so the figure says whether they were all concurrent.
3. **accuracy** — each caller once over PCMU, once over PCMA (baresip) and once over
   AudioSocket (the tests' client), a batch of concurrent calls each: the share routed to
   the node the caller's script expects, beside 16 kHz and 8 kHz file replay.

Results: bench/results/phone.json and phone.md. `--quick`: 2 calls, 2 callers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from bench.phone_callers import (
    ROOT,
    RTP_PORTS,
    Caller,
    Served,
    audiosocket_batch,
    cpu_tree_s,
    free_port,
    peak_concurrency,
    prepare,
    sip_batch,
    wav_seconds,
)
from bench.phone_report import write_report
from bench.phone_tap import jitter

FLOW = ROOT / "flows" / "bank_hotline.yaml"
SCRIPT = ROOT / "samples" / "calls" / "ko_audio.yaml"


def callers(tmp: Path, count: int, pad_s: float) -> list[Caller]:
    script = yaml.safe_load(SCRIPT.read_text("utf-8"))
    out = []
    for call in script["calls"][:count]:
        source = (SCRIPT.parent / call["turns"][0]["audio"]).resolve()
        out.append(prepare(source.stem, source, call["expect"]["outcome"]["node"], tmp, pad_s))
    return out


def replay(files: list[Path], tmp: Path) -> dict[Path, str]:
    """`ivr replay --json --cold` of every file in one process: file → the node it reached.
    Cold: each file's node depends on its audio only, not on the 39 files before it (warm
    recognisers keep the search graph's state order of earlier utterances, and ko_fraud.wav
    after ko_credit_report's A-law file was heard as noise)."""
    done = subprocess.run(
        [sys.executable, "-m", "ivr.cli", "replay", "--flow", str(FLOW), "--lang", "ko",
         "--json", "--cold", "--queue", str(tmp / "replay.sqlite3"), *map(str, files)],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"ivr replay failed: {done.stderr[-1500:]}")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {f: str(r["outcome"]["node"] or r["path"][-1]) for f, r in zip(files, rows,
                                                                           strict=True)}


class RssSampler:
    """The engine's RSS every 0.25 s on a thread, peak kept (bounded by `stop`)."""

    def __init__(self, served: Served) -> None:
        self.served, self.peak = served, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for _ in range(20_000):
            self.peak = max(self.peak, self.served.rss_mb())
            if self._stop.wait(0.25):
                return

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(5)
        return self.peak


def sip_rows(phones: list[Any], served: Served, replayed: dict[Path, str],
             codec: str) -> list[dict[str, Any]]:
    ended, timings = served.ended(), served.timings()
    rows = []
    for phone in phones:
        c: Caller = phone.caller
        heard_as = c.pcmu if codec == "PCMU" else c.pcma
        for cid in phone.call_ids:
            outcome, node = ended.get(cid, ("not ended", "-"))
            rows.append({"call_id": cid, "caller": c.name, "line": codec, "outcome": outcome,
                         "node": node, "expected": c.expected,
                         "replay_line_audio": replayed[heard_as],
                         "replay_8k": replayed[c.wav8k], "replay_16k": replayed[c.source],
                         "turns_ms": timings.get(cid, [])})
    return rows


async def load_phase(args: argparse.Namespace, cs: list[Caller], served: Served, sip: int,
                     tmp: Path, replayed: dict[Path, str], spread_s: float = 0.0
                     ) -> dict[str, Any]:
    """`args.calls` concurrent PCMU calls, placed at once or evenly over `spread_s`."""
    label = f"load-spread{spread_s:g}" if spread_s else "load"
    tap_out = tmp / f"tap-{label}.json"
    limit = max(wav_seconds(c.wav8k) for c in cs) + 90
    tap = subprocess.Popen([sys.executable, "-m", "bench.phone_tap", "--ports",
                            f"{RTP_PORTS[0]}-{RTP_PORTS[1]}", "--seconds", str(limit + 30),
                            "--out", str(tap_out)], cwd=ROOT)
    idle = served.rss_mb()
    sampler = RssSampler(served)
    cpu_before = cpu_tree_s(served.process.pid)
    started = time.monotonic()
    phones = await sip_batch(cs, "PCMU", args.calls, sip, tmp / label, limit, spread_s)
    wall = time.monotonic() - started
    cpu_after = cpu_tree_s(served.process.pid)
    peak = sampler.stop()
    engine = served.process.pid
    used = {p: s - cpu_before.get(p, 0.0) for p, s in cpu_after.items()}
    tap.terminate()
    tap.wait(30)
    rows_tap = json.loads(tap_out.read_text()) if tap_out.exists() else []
    ports = set().union(*(p.rtp_ports for p in phones)) if phones else set()
    return {"calls_placed": args.calls, "spread_s": spread_s,
            "peak_concurrent": peak_concurrency(phones),
            "answered": sum(p.count("CALL_ESTABLISHED") for p in phones),
            "closed": sum(p.count("CALL_CLOSED") for p in phones),
            "wall_s": round(wall, 1), "rss_idle_mb": round(idle, 1), "rss_peak_mb": round(peak, 1),
            "rss_per_call_mb": round((peak - idle) / max(1, args.calls), 2),
            "cpu_s": {"serve": round(used.get(engine, 0.0), 2),
                      "workers": round(sum(s for p, s in used.items() if p != engine), 2)},
            "jitter": jitter(rows_tap, ports), "tap_ports": len(ports),
            "calls": sip_rows(phones, served, replayed, "PCMU")}


async def accuracy_phase(cs: list[Caller], served: Served, sip: int, audiosocket: int,
                         tmp: Path, replayed: dict[Path, str]) -> dict[str, Any]:
    limit = max(wav_seconds(c.wav8k) for c in cs) + 90
    out: dict[str, Any] = {}
    for codec in ("PCMU", "PCMA"):
        phones = await sip_batch(cs, codec, len(cs), sip, tmp / f"acc-{codec}", limit)
        out[codec] = sip_rows(phones, served, replayed, codec)
    ids = await audiosocket_batch(cs, audiosocket)
    await asyncio.sleep(1.0)
    ended, timings = served.ended(), served.timings()
    out["AudioSocket"] = [
        {"call_id": cid, "caller": c.name, "line": "AudioSocket",
         "outcome": ended.get(cid, ("not ended", "-"))[0],
         "node": ended.get(cid, ("not ended", "-"))[1], "expected": c.expected,
         "replay_line_audio": replayed[c.wav8k], "replay_8k": replayed[c.wav8k],
         "replay_16k": replayed[c.source], "turns_ms": timings.get(cid, [])}
        for cid, c in ids.items()]
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ivr-bench-phone-") as name:
        tmp = Path(args.work or name)
        tmp.mkdir(parents=True, exist_ok=True)
        cs = callers(tmp, 2 if args.quick else 10, args.pad)
        files = [f for c in cs for f in (c.source, c.wav8k, c.pcmu, c.pcma)]
        started = time.monotonic()
        replayed = replay(files, tmp)
        replay_s = time.monotonic() - started
        sip, audiosocket = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
        served = Served(tmp, FLOW, sip, audiosocket, max(args.calls, len(cs)), args.workers)
        try:
            load = asyncio.run(load_phase(args, cs, served, sip, tmp, replayed))
            spread = (asyncio.run(load_phase(args, cs, served, sip, tmp, replayed, args.spread))
                      if args.spread > 0 else None)
            accuracy = asyncio.run(accuracy_phase(cs, served, sip, audiosocket, tmp, replayed))
        finally:
            code = served.stop()  # its log stays in the work directory (--work keeps it)
        return {"calls": args.calls, "workers": args.workers,
                "callers": [c.name for c in cs], "pad_s": args.pad,
                "replay_s": round(replay_s, 1), "serve_exit": code,
                "replay": {c.name: {"expected": c.expected, "16k": replayed[c.source],
                                    "8k": replayed[c.wav8k], "pcmu": replayed[c.pcmu],
                                    "pcma": replayed[c.pcma]} for c in cs},
                "load": load, "load_spread": spread, "accuracy": accuracy}


def main() -> None:
    ap = argparse.ArgumentParser(description="Phone calls through ivr serve, with baresip.")
    ap.add_argument("--calls", type=int, default=24, help="concurrent calls (default 24)")
    ap.add_argument("--quick", action="store_true", help="2 calls, 2 callers")
    ap.add_argument("--pad", type=float, default=8.0, help="trailing silence per caller (s)")
    ap.add_argument("--spread", type=float, default=4.0,
                    help="a second load phase placing the calls evenly over this many "
                         "seconds, as calls arrive at a hotline, not at one instant "
                         "(default 4; 0: only the burst)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--workers", type=int,
                    help="speech recognition processes of `ivr serve` (default: its own)")
    ap.add_argument("--work", help="keep the run's files (WAVs, logs, baresip events) here")
    args = ap.parse_args()
    if args.quick:
        args.calls = 2
    if not 1 <= args.calls <= 64:
        print("bench.phone: --calls must be 1..64", file=sys.stderr)
        sys.exit(2)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    results = run(args)
    print(write_report(results, Path(args.out)))


if __name__ == "__main__":
    main()
