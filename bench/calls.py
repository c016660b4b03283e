"""The sample calls as a benchmark: navigation accuracy, decode RTF, latency, memory.

    python -m bench.calls --flow flows/bank_hotline.yaml [SCRIPTS...]

Replays every call script (default: samples/calls/*.yaml) through one Hotline with the
embedded Vosk model and prints: expectations met, decode real-time factor, time from the last
audio frame to the decision (p50/p95), model load time and resident memory after loading.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ivr.asr.pool import rss_mb
from ivr.call import Hotline
from ivr.flow import load_flow
from ivr.qa.metrics import percentile
from ivr.qa.report import met_expectations
from ivr.qa.script import load_scripts


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description="The sample calls as a benchmark.")
    ap.add_argument("--flow", default="flows/bank_hotline.yaml")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("scripts", nargs="*")
    args = ap.parse_args()
    hotline = Hotline(load_flow(args.flow))
    before = rss_mb()
    started = time.perf_counter()
    hotline.recognizer("ko")
    load_s = time.perf_counter() - started
    loaded = rss_mb()
    paths = args.scripts or sorted(str(p) for p in Path("samples/calls").glob("*.yaml"))
    met = total = 0
    audio = decode = 0.0
    latencies: list[float] = []
    for path in paths:
        for call in load_scripts(path):
            result = hotline.run(call.call_id, call.lang or "ko", call.inputs)
            total += 1
            met += not met_expectations(result, call.expect)
            audio += result.audio_seconds
            decode += result.decode_seconds
            latencies.extend(result.latencies)
    figures = {
        "calls": total, "expectations_met": met, "audio_seconds": round(audio, 2),
        "decode_rtf": round(decode / audio, 4) if audio else None,
        "end_of_audio_to_decision_ms_p50": _ms(percentile(latencies, 50)),
        "end_of_audio_to_decision_ms_p95": _ms(percentile(latencies, 95)),
        "model_load_seconds": round(load_s, 2), "rss_mb_before_model": round(before),
        "rss_mb_after_model": round(loaded), "rss_mb_after_calls": round(rss_mb()),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "calls.json").write_text(json.dumps(figures, indent=1), "utf-8")
    width = max(len(k) for k in figures)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
