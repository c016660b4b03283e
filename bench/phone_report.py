"""The phone bench's figures: summary, bench/results/phone.json and a readable phone.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ivr.qa.metrics import percentile

GOAL_MS = 400.0
"""The issue's goal for p95 end of speech → decision."""


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 3) if total else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _ms(values: list[float], q: float) -> float | None:
    got = percentile(values, q)
    return None if got is None else round(got, 0)


def load_summary(load: dict[str, Any]) -> dict[str, Any]:
    """Figures of one load phase."""
    calls = load["calls"]
    agree_line = sum(r["node"] == r["replay_line_audio"] for r in calls)
    agree_8k = sum(r["node"] == r["replay_8k"] for r in calls)
    first = [r["turns_ms"][0] for r in calls if r["turns_ms"]]
    wall = [float(t[0]) for t in first]
    trace = [float(t[1]) for t in first]
    settle = [float(t[3]) for t in first]
    out: dict[str, Any] = {
        "answered": f"{load['answered']}/{load['calls_placed']}",
        "spread_s": load.get("spread_s", 0.0),
        "peak_concurrent": load.get("peak_concurrent"),
        "ended_by_engine_log": sum(r["outcome"] != "not ended" for r in calls),
        "agreement_vs_replay_of_line_audio": _share(agree_line, len(calls)),
        "agreement_vs_replay_8k": _share(agree_8k, len(calls)),
        "decided_calls": len(first),
        "eos_to_decision_wall_ms_p50": _ms(wall, 50),
        "eos_to_decision_wall_ms_p95": _ms(wall, 95),
        "eos_to_decision_trace_ms_p50": _ms(trace, 50),
        "eos_to_decision_trace_ms_p95": _ms(trace, 95),
        "settle_and_judge_ms_p95": _ms(settle, 95),
        "p95_wall_over_goal": _ratio(percentile(wall, 95), GOAL_MS),
        "prompt_jitter_ms_p95": load["jitter"]["p95_ms"],
        "rss_per_call_mb": load["rss_per_call_mb"],
        "cpu_s": load.get("cpu_s"),
    }
    return out


def summary(results: dict[str, Any]) -> dict[str, Any]:
    out = load_summary(results["load"])
    spread = results.get("load_spread")
    out["spread"] = load_summary(spread) if spread else None
    out.update({
        "eos_to_decision_wall_ms_p95_by_batch": {
            line: _ms([float(r["turns_ms"][0][0]) for r in rows if r["turns_ms"]], 95)
            for line, rows in results["accuracy"].items()},
    })
    rep = results["replay"]
    n = len(rep)
    base = sum(v["16k"] == v["expected"] for v in rep.values())
    acc: dict[str, Any] = {"16 kHz file replay": (base, n)}
    for key, label in (("8k", "8 kHz file replay"), ("pcmu", "mu-law file replay"),
                       ("pcma", "A-law file replay")):
        acc[label] = (sum(v[key] == v["expected"] for v in rep.values()), n)
    for line, rows in results["accuracy"].items():
        acc[f"served {line}"] = (sum(r["node"] == r["expected"] for r in rows), len(rows))
    out["accuracy"] = {k: {"right": h, "calls": t, "share": _share(h, t),
                           "ratio_to_16k_replay": _ratio(_share(h, t), _share(base, n))}
                       for k, (h, t) in acc.items()}
    return out


def markdown(results: dict[str, Any], s: dict[str, Any]) -> str:
    load = results["load"]
    j = load["jitter"]
    lines = [
        "# Phone bench (`make bench-phone`)", "",
        f"{results['calls']} concurrent baresip calls (PCMU) through one `ivr serve` on "
        f"loopback; callers: {', '.join(results['callers'])} (samples/audio, 8 kHz, "
        f"{results['pad_s']:g} s trailing silence). Timings on a shared, noisy machine: "
        "read the ratios.", "",
        f"The main table is a burst: all calls placed at one instant (most up at once: "
        f"{s['peak_concurrent']}), so their callers stop speaking within about a second of "
        "each other, the worst case.", "",
        "| figure | value |", "| --- | --- |",
        f"| answered | {s['answered']} (ended in the engine's log: "
        f"{s['ended_by_engine_log']}) |",
        f"| node agrees with `ivr replay` of the audio the engine hears (mu-law round trip) | "
        f"{s['agreement_vs_replay_of_line_audio']} |",
        f"| node agrees with `ivr replay` of the 8 kHz file | {s['agreement_vs_replay_8k']} |",
        f"| end of speech → decision, wall, p50 / p95 (ms; {s['decided_calls']} calls' "
        f"first turn) | {s['eos_to_decision_wall_ms_p50']} / "
        f"{s['eos_to_decision_wall_ms_p95']} (p95 / goal 400 ms = "
        f"{s['p95_wall_over_goal']}) |",
        f"| the same from the trace (pause + settle and judge), p50 / p95 | "
        f"{s['eos_to_decision_trace_ms_p50']} / {s['eos_to_decision_trace_ms_p95']} |",
        f"| settle and judge alone, p95 (ms) | {s['settle_and_judge_ms_p95']} |",
        f"| the same wall p95 in the accuracy batches ({len(results['callers'])} calls at once; "
        f"ms) | {s['eos_to_decision_wall_ms_p95_by_batch']} |",
        f"| prompt frame jitter p95 / max (ms, \\|gap - 20 ms\\|, loopback tap) | "
        f"{j['p95_ms']} / {j['max_ms']} ({j['pairs']} frame pairs, {j['streams']} streams, "
        f"{j['frames_skipped']} frames skipped by the pacer) |",
        f"| RSS per call (MB; engine + workers, peak {load['rss_peak_mb']} - idle "
        f"{load['rss_idle_mb']}) / calls | {s['rss_per_call_mb']} |",
        f"| CPU seconds over the load phase ({load['wall_s']} s): `ivr serve` / its "
        f"recognition workers | {_cpu(s)} |", "",
        "## Narrowband accuracy (routed to the node the caller's script expects)", "",
        "| condition | right / calls | share | ratio to 16 kHz replay |",
        "| --- | --- | --- | --- |",
    ]
    for k, v in s["accuracy"].items():
        lines.append(f"| {k} | {v['right']} / {v['calls']} | {v['share']} | "
                     f"{v['ratio_to_16k_replay']} |")
    lines += _spread_lines(results, s)
    lines += ["", "## Per call (load phase, burst)", "",
              "| caller | node | replay (line audio) | replay 8 kHz | expected | wall ms |",
              "| --- | --- | --- | --- | --- | --- |"]
    for r in load["calls"]:
        ms = " ".join(str(t[0]) for t in r["turns_ms"]) or "-"
        lines.append(f"| {r['caller']} | {r['node']} | {r['replay_line_audio']} | "
                     f"{r['replay_8k']} | {r['expected']} | {ms} |")
    return "\n".join(lines) + "\n"


def _spread_lines(results: dict[str, Any], s: dict[str, Any]) -> list[str]:
    spread, load = s.get("spread"), results.get("load_spread")
    if not spread or not load:
        return []
    j = load["jitter"]
    return [
        "", f"## The same calls arriving over {spread['spread_s']:g} s", "",
        f"The {results['calls']} calls placed evenly over {spread['spread_s']:g} s, as calls "
        f"reach a hotline; most up at once: {spread['peak_concurrent']} (from baresip's "
        "events).", "",
        "| figure | value |", "| --- | --- |",
        f"| answered | {spread['answered']} (ended in the engine's log: "
        f"{spread['ended_by_engine_log']}) |",
        f"| node agrees with `ivr replay` of the audio the engine hears | "
        f"{spread['agreement_vs_replay_of_line_audio']} |",
        f"| end of speech → decision, wall, p50 / p95 (ms) | "
        f"{spread['eos_to_decision_wall_ms_p50']} / {spread['eos_to_decision_wall_ms_p95']} "
        f"(p95 / goal 400 ms = {spread['p95_wall_over_goal']}) |",
        f"| the same from the trace (pause + settle and judge), p50 / p95 | "
        f"{spread['eos_to_decision_trace_ms_p50']} / "
        f"{spread['eos_to_decision_trace_ms_p95']} |",
        f"| settle and judge alone, p95 (ms) | {spread['settle_and_judge_ms_p95']} |",
        f"| prompt frame jitter p95 / max (ms) | {j['p95_ms']} / {j['max_ms']} |",
        f"| RSS per call (MB) | {spread['rss_per_call_mb']} |",
        f"| CPU seconds over the phase ({load['wall_s']} s): `ivr serve` / its recognition "
        f"workers | {_cpu(spread)} |",
    ]


def _cpu(s: dict[str, Any]) -> str:
    cpu = s.get("cpu_s")
    return f"{cpu['serve']} / {cpu['workers']}" if cpu else "-"


def write_report(results: dict[str, Any], out: Path) -> str:
    s = summary(results)
    (out / "phone.json").write_text(json.dumps({"summary": s, **results}, indent=1,
                                               ensure_ascii=False), "utf-8")
    text = markdown(results, s)
    (out / "phone.md").write_text(text, "utf-8")
    return text
