"""The speech benchmark's results as a readable markdown table (bench/results/speech.md)."""

from __future__ import annotations

from typing import Any

__all__ = ["markdown"]

_NAMES = {"plain": "plain (free + rapidfuzz ratio >= 50)",
          "plain_wratio": "plain, rapidfuzz WRatio >= 80", "grammar": "grammar only (ivr before)",
          "ivr": "ivr speech front-end"}


def _cell(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value}{unit}"


def _accuracy(acc: dict[str, Any], rtf: dict[str, Any]) -> list[str]:
    conds = list(acc["plain"])
    lines = ["## Navigation accuracy", "",
             "| pipeline | " + " | ".join(f"{c}: routed / +confirm / misrouted / OOS accepted"
                                          for c in conds) + " |",
             "|---|" + "---|" * len(conds)]
    for p in ("plain", "plain_wratio", "grammar", "ivr"):
        cells = []
        for c in conds:
            f = acc[p].get(c, {})
            cells.append(f"{f.get('routed_pct')}% / {f.get('routed_or_confirmed_pct')}% / "
                         f"{f.get('misrouted_pct')}% / {f.get('oos_accepted_pct')}%")
        lines.append(f"| {_NAMES[p]} | " + " | ".join(cells) + " |")
    ratio = acc.get("ivr_vs_plain_routed_ratio", {})
    lines += ["", "ivr routed / plain routed: " + ", ".join(
        f"{c} {_cell(r, 'x')}" for c, r in ratio.items()), "",
        f"Real-time factor on one core: plain (free) {rtf.get('plain')}, grammar only "
        f"{rtf.get('grammar')}, ivr front-end {rtf.get('ivr')} (per second of caller turn, "
        "silences included).", ""]
    return lines


def _latency(lat: dict[str, Any]) -> list[str]:
    ivr, paused, plain = lat["ivr"], lat["ivr_paused_callers"], lat["plain_vosk_endpointing"]
    return [
        "## Latency at live pace (4 concurrent calls)", "",
        "| | ivr | ivr, callers pausing 0.5 s mid-sentence | plain (Vosk endpointing) |",
        "|---|---|---|---|",
        f"| end of speech -> decision p50 | {_cell(ivr['eos_to_decision_ms_p50'], ' ms')} | "
        f"{_cell(paused['eos_to_decision_ms_p50'], ' ms')} | "
        f"{_cell(plain['eos_to_decision_ms_p50'], ' ms')} |",
        f"| end of speech -> decision p95 | {_cell(ivr['eos_to_decision_ms_p95'], ' ms')} | "
        f"{_cell(paused['eos_to_decision_ms_p95'], ' ms')} | "
        f"{_cell(plain['eos_to_decision_ms_p95'], ' ms')} |",
        f"| final result -> decision p95 | {_cell(ivr['result_to_decision_ms_p95'], ' ms')} | "
        f"{_cell(paused['result_to_decision_ms_p95'], ' ms')} | - |",
        f"| callers cut off before they finished | {ivr['cut_off']} of {ivr['turns']} | "
        f"{paused['cut_off']} of {paused['turns']} | - |",
        f"| prepared decisions revised (caller went on) | {ivr['revised']} | "
        f"{paused['revised']} | - |",
        f"| no endpoint within {plain['no_endpoint_within_s']} s | - | - | "
        f"{plain['no_endpoint']} of {plain['turns']} |",
        ""]


def _capacity(cap: dict[str, Any]) -> list[str]:
    if "levels" not in cap:  # a run from before capacity was measured at equal accuracy
        return []
    lines = ["## Capacity at equal accuracy (concurrent real-time calls)", "",
             f"Every level hears the same {cap['callers']} callers (16 kHz and 8 kHz mu-law), "
             f"at least {cap['min_turns_per_call']} turns per call, 1.5 s of prompt between "
             "turns. *Capacity* is the most calls whose routed share is within 2 points of "
             "the 1-call share with p95 lag <= 250 ms. CPU: the recognition workers and the "
             "bench process (VAD, judge, matcher, pacing), per second of call.", "",
             "| pipeline | calls | routed / +confirm / misrouted / OOS accepted | turns with "
             "free decoding | p95 lag | p95 end of speech -> decision | free decoding shed at "
             "open / dropped midway | worker did not answer | CPU s per call-s | workers RSS |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, rows in cap["levels"].items():
        for f in rows:
            lines.append(
                f"| {name} | {f['streams']} | {f['routed_pct']}% / "
                f"{f['routed_or_confirmed_pct']}% / {f['misrouted_pct']}% / "
                f"{f['oos_accepted_pct']}% | {_cell(f['free_decoded_pct'], '%')} | "
                f"{_cell(f['lag_ms_p95'], ' ms')} | "
                f"{_cell(f['eos_to_decision_ms_p95'], ' ms')} | {_cell(f.get('free_shed'))} / "
                f"{_cell(f.get('free_dropped'))} | {f.get('asr_crash', 0)} | "
                f"{_cell(f.get('cpu_s_per_call_s'))} | {_cell(f.get('workers_rss_mb'), ' MB')} |")
    lines += ["", "Capacity: " + ", ".join(f"{name} {c} calls" for name, c in
                                          cap["capacity"].items())
              + "; ratio to plain: " + ", ".join(f"{name} {_cell(r, 'x')}" for name, r in
                                                 cap["ratio_to_plain"].items()) + ".", ""]
    return lines


def _memory(mem: dict[str, Any]) -> list[str]:
    curve = ", ".join(f"{p['audio_s'] / 60:.0f} min: {p['workers_rss_mb']:.0f} MB"
                      for p in mem["curve"])
    return ["## Memory", "",
            f"{mem['concurrent_calls']} concurrent calls, worker memory by call audio decoded: "
            f"{curve}.", "",
            f"After loading: {mem['workers_rss_after_load_mb']} MB. Growth over the run "
            f"{mem['growth_mb']} MB = {mem['per_call_mb']} MB per call; since loading "
            f"{mem['per_call_since_load_mb']} MB per call.", ""]


def markdown(results: dict[str, Any]) -> str:
    """The whole report."""
    head = ["# Speech front-end benchmark (`make bench-speech`)", "",
            f"Synthetic Korean callers (espeak-ng), {results['split']} split, "
            f"{results['callers']} caller turns; {results['workers']} recognition workers on "
            f"{results['cores']} cores; model load {results['model_load_s']} s. Plain "
            f"pipeline: free decoding + rapidfuzz best match (fuzz.ratio >= "
            f"{results['plain_cutoff']:g}).", ""]
    runs = results.get("runs", {})
    if runs:
        head += ["Sections and the runs that measured them: " + "; ".join(
            f"{sec}: {r.get('date', 'an earlier run')}"
            f"{' (--quick)' if r.get('quick') else ''}"
            f"{', load average ' + str(r['load_average']) if r.get('load_average') else ''}"
            for sec, r in runs.items()) + ".", ""]
    parts = [head]
    if "accuracy" in results:
        parts.append(_accuracy(results["accuracy"], results.get("rtf", {})))
    if "latency" in results:
        parts.append(_latency(results["latency"]))
    if "capacity" in results:
        parts.append(_capacity(results["capacity"]))
    if "memory" in results:
        parts.append(_memory(results["memory"]))
    return "\n".join(line for part in parts for line in part)
