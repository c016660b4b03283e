"""`make bench-speech`: the speech front-end beside the plain pipeline, on synthetic callers.

    python -m bench.speech --flow flows/bank_hotline.yaml --out bench/results [--quick]

Korean caller sentences (samples/speech/ko_callers.yaml, held-out half by default) spoken by
espeak-ng at run time in three conditions (16 kHz, 8 kHz mu-law, 8 kHz mu-law with pink noise
at 10 dB SNR). Measured, each beside the plain pipeline (free decoding + rapidfuzz best match)
and ivr's earlier grammar-only pipeline where it applies:

1. navigation accuracy and out-of-scope acceptance (`bench.speech_accuracy`);
2. decoding cost, real-time factor on one core;
3. end of speech -> decision, p50/p95, at live pace, and callers who pause mid-sentence;
4. concurrent real-time calls on this machine, p95 lag and latency per level;
5. worker memory over an hour of call audio (bounded memory per call).

Writes bench/results/speech.json and speech.md. A benchmark, not a test: nothing fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ivr.asr import DecoderConfig, ServiceConfig, SpeechService
from ivr.call import Hotline
from ivr.flow import load_flow
from ivr.models import resolve_model
from ivr.speech import SpeechConfig

from .speech_accuracy import PIPELINES, PLAIN_CUTOFF, Router, decoding_cost, route_all
from .speech_data import CONDITIONS, Caller, load_callers, make_caller
from .speech_load import plain_level, run_level, sustain, vosk_endpointing
from .speech_report import markdown

__all__ = ["main"]


def _log(message: str) -> None:
    print(f"[bench-speech {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _callers(split: str, step: int) -> tuple[list[Caller], list[Caller]]:
    examples = load_callers(split)[::step]
    callers = [make_caller(e, c) for c in CONDITIONS for e in examples]
    in_scope = [e for e in examples if e.label != "out_of_scope" and len(e.text.split()) >= 2]
    paused = [make_caller(e, "16k", paused=True) for e in in_scope[::3]]
    return callers, paused


def _accuracy(hotline: Hotline, baseline: SpeechService, callers: list[Caller]
              ) -> dict[str, Any]:
    _log(f"accuracy: {len(callers)} caller turns, three pipelines")
    tallies = route_all(hotline, baseline, callers)
    out: dict[str, Any] = {p: {c: t.figures() for c, t in tallies[p].items()} for p in PIPELINES}
    ratio: dict[str, float | None] = {}
    for cond in CONDITIONS:
        plain = out["plain"].get(cond, {}).get("routed_pct", 0.0)
        ours = out["ivr"].get(cond, {}).get("routed_pct", 0.0)
        ratio[cond] = round(ours / plain, 2) if plain else None
    out["ivr_vs_plain_routed_ratio"] = ratio
    out["examples"] = {p: {c: t.examples[:60] for c, t in tallies[p].items()} for p in PIPELINES}
    return out


def _cpu_s(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by this process (key 0) and each of `pids`
    (Linux /proc; a process that is gone is left out)."""
    mine = os.times()
    out = {0: mine.user + mine.system}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def _cpu_used(before: dict[int, float], after: dict[int, float]) -> float | None:
    """CPU seconds between two `_cpu_s` readings; None when a worker died in between (its
    time is lost with it; its replacement is counted from its start)."""
    if any(pid not in after for pid in before):
        return None
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def _level(name: str, hotline: Hotline, router: Router, service: SpeechService,
           callers: list[Caller], n: int, min_turns: int) -> dict[str, Any]:
    before = service.stats()
    cpu_before = _cpu_s(service.worker_pids())
    level = (plain_level(service, router, callers, n, min_turns=min_turns) if name == "plain"
             else run_level(hotline, router, callers, n, min_turns=min_turns))
    cpu = _cpu_used(cpu_before, _cpu_s(service.worker_pids()))
    figures = level.figures()
    after = service.stats()
    for key in ("free_shed", "free_dropped"):
        figures[key] = (sum(s.get(key, 0) for s in after) - sum(s.get(key, 0) for s in before))
    figures["workers_rss_mb"] = round(sum(s["rss_mb"] for s in after), 1)
    figures["cpu_s"] = None if cpu is None else round(cpu, 1)
    figures["cpu_s_per_call_s"] = (round(cpu / (n * level.wall_s), 4)
                                   if cpu is not None and level.wall_s else None)
    return figures


def capacity_figure(levels: list[dict[str, Any]], *, points: float = 2.0,
                    lag_ms: float = 250.0) -> int:
    """The most calls whose routed share is within `points` of the 1-call level's, with
    p95 lag at most `lag_ms` (0: not even one call)."""
    if not levels or levels[0]["streams"] != 1:
        return 0
    alone = levels[0]["routed_pct"]
    ok = [f["streams"] for f in levels
          if f["routed_pct"] >= alone - points and f["lag_ms_p95"] is not None
          and f["lag_ms_p95"] <= lag_ms]
    return max(ok, default=0)


def _capacity(pipelines: dict[str, tuple[Hotline, SpeechService]], router: Router,
              callers: list[Caller], levels: list[int], min_turns: int) -> dict[str, Any]:
    out: dict[str, Any] = {"callers": len(callers), "min_turns_per_call": min_turns,
                           "levels": {}, "capacity": {}}
    for name, (hotline, service) in pipelines.items():
        rows: list[dict[str, Any]] = []
        for n in levels:
            _log(f"capacity: {name}, {n} concurrent real-time calls, {len(callers)} callers")
            rows.append(_level(name, hotline, router, service, callers, n, min_turns))
            lag = rows[-1]["lag_ms_p95"]
            _log(f"capacity: {name} {n} calls: routed {rows[-1]['routed_pct']} %, p95 lag "
                 f"{lag} ms, free decoded {rows[-1]['free_decoded_pct']} %, "
                 f"{rows[-1]['cpu_s_per_call_s']} CPU s per call-s")
            if lag is not None and lag > 2000:
                _log(f"capacity: {name} overloaded at {n} calls (p95 lag {lag:.0f} ms); stop")
                break
        out["levels"][name] = rows
        out["capacity"][name] = capacity_figure(rows)
    plain = out["capacity"].get("plain")
    out["ratio_to_plain"] = {name: (round(c / plain, 2) if plain else None)
                             for name, c in out["capacity"].items() if name != "plain"}
    return out


def _memory(hotline: Hotline, callers: list[Caller], hour_s: float, loaded_mb: float
            ) -> dict[str, Any]:
    _log(f"memory: {hour_s:g} s of call audio on 24 concurrent calls")
    curve = sustain(hotline, callers, 24, hour_s, every_s=hour_s / 6)
    grown = curve[-1]["workers_rss_mb"] - curve[0]["workers_rss_mb"]
    since_load = curve[-1]["workers_rss_mb"] - loaded_mb
    return {"curve": curve, "concurrent_calls": 24,
            "workers_rss_after_load_mb": round(loaded_mb, 1),
            "growth_mb": round(grown, 1), "per_call_mb": round(grown / 24, 1),
            "per_call_since_load_mb": round(since_load / 24, 1)}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--flow", default="flows/bank_hotline.yaml")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--split", default="heldout", choices=("heldout", "tune"))
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--levels", default="1,8,24,32")
    ap.add_argument("--capacity-callers", type=int, default=110,
                    help="callers heard at every capacity level (16 kHz and 8 kHz mu-law)")
    ap.add_argument("--min-turns", type=int, default=3,
                    help="turns per call at least, at every capacity level")
    ap.add_argument("--before", action="store_true",
                    help="also run the capacity levels with the decoder settings before "
                         "capacity work (one free slot per worker, 20 ms pieces)")
    ap.add_argument("--hour-s", type=float, default=3600.0, help="audio for the memory run")
    ap.add_argument("--quick", action="store_true", help="a quarter of the callers, short runs")
    ap.add_argument("--sections", default="accuracy,latency,capacity,memory",
                    help="which parts to run (comma-separated)")
    args = ap.parse_args(argv)
    if args.quick:
        args.hour_s, args.capacity_callers = 300.0, 40
    return args


def _run(args: argparse.Namespace, hotline: Hotline, baseline: SpeechService,
         results: dict[str, Any], loaded_mb: float) -> None:
    step = 4 if args.quick else 1
    model_dir = baseline.model_dir
    callers, paused = _callers(args.split, step)
    results["callers"] = len(callers)
    sections = set(args.sections.split(","))
    router = Router(hotline, baseline)
    normal = [c for c in callers if c.condition != "8k_mulaw_noisy"][::max(1, 4 // step)]
    if "accuracy" in sections:
        results["accuracy"] = _accuracy(hotline, baseline, callers)
        _log("decoding cost (one core)")
        results["rtf"] = decoding_cost(hotline, callers[::max(1, len(callers) // 30)])
    if "latency" in sections:
        _log(f"latency at live pace: {len(normal)} turns and {len(paused)} paused callers")
        results["latency"] = {
            "ivr": run_level(hotline, router, normal, 4, None).figures(),
            "ivr_paused_callers": run_level(hotline, router, paused, 4, None).figures(),
            "plain_vosk_endpointing": vosk_endpointing(model_dir, router, normal[:40]),
        }
    baseline.close()
    if "capacity" in sections:
        service = hotline.recognizer("ko")
        assert isinstance(service, SpeechService)
        pipelines = {"ivr": (hotline, service)}
        before = None
        if args.before:
            before = Hotline(hotline.flow, speech=replace(hotline.speech, service=ServiceConfig(
                workers=args.workers, decoder=DecoderConfig(free_slots=1, chunk_ms=20))))
            old = before.recognizer("ko")
            assert isinstance(old, SpeechService)
            pipelines["ivr_before"] = (before, old)
        plain = SpeechService(model_dir, "ko", ServiceConfig(
            workers=args.workers, decoder=DecoderConfig(views=(), free_slots=64)))
        pipelines["plain"] = (hotline, plain)
        levels = [int(x) for x in args.levels.split(",")]
        chosen = normal[::max(1, len(normal) // max(1, args.capacity_callers))]
        try:
            results["capacity"] = _capacity(pipelines, router, chosen[:args.capacity_callers],
                                            levels, args.min_turns)
        finally:
            plain.close()
            if before is not None:
                before.close()
    if "memory" in sections:
        results["memory"] = _memory(hotline, callers, args.hour_s, loaded_mb)


_SECTIONS = {"accuracy": ("accuracy", "rtf"), "latency": ("latency",),
             "capacity": ("capacity",), "memory": ("memory",)}


def _merged(path: Path, results: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """This run's sections laid over the earlier results file's other sections, each
    section stamped with the run that measured it (a partial run keeps the rest)."""
    stamp = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": args.quick,
             "load_average": [round(x, 1) for x in os.getloadavg()]}
    ran = [sec for sec in args.sections.split(",") if sec in _SECTIONS]
    earlier: dict[str, Any] = {}
    if path.exists() and set(ran) != set(_SECTIONS):
        earlier = json.loads(path.read_text("utf-8"))
    runs = {sec: earlier.get("runs", {}).get(sec, {}) for sec in _SECTIONS
            if any(k in earlier for k in _SECTIONS[sec])}
    merged = {**{k: v for k, v in earlier.items() if k != "runs"}, **results}
    runs.update({sec: stamp for sec in ran})
    merged["runs"] = runs
    return merged


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    config = SpeechConfig(service=ServiceConfig(workers=args.workers))
    hotline = Hotline(load_flow(args.flow), speech=config)
    started = time.perf_counter()
    service = hotline.recognizer("ko")
    hotline.listener("ko")
    load_s = time.perf_counter() - started
    loaded_mb = (sum(s["rss_mb"] for s in service.stats())
                 if isinstance(service, SpeechService) else 0.0)
    baseline = SpeechService(resolve_model("ko"), "ko", ServiceConfig(
        workers=args.workers, decoder=DecoderConfig(views=("plain",), free_slots=64)))
    _log(f"model loaded in {load_s:.1f} s by {args.workers} workers; synthesizing callers")
    results: dict[str, Any] = {
        "split": args.split, "workers": args.workers, "cores": os.cpu_count(),
        "plain_cutoff": PLAIN_CUTOFF, "model_load_s": round(load_s, 2),
        "speech": {"views": list(config.service.decoder.views),
                   "endpoint": {k: v for k, v in vars(config.endpoint).items() if k != "vad"},
                   "judge": vars(config.judge)},
    }
    try:
        _run(args, hotline, baseline, results, loaded_mb)
    finally:
        baseline.close()
        hotline.close()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = _merged(out / "speech.json", results, args)
    text = markdown(results)
    (out / "speech.json").write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n",
                                     "utf-8")
    (out / "speech.md").write_text(text, "utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
