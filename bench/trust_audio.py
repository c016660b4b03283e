"""Memory against recording length: peak RSS of `ivr replay` on 1 min, 15 min and 1 h calls.

    python -m bench.trust_audio --out bench/results [--quick]

Writes 8 kHz μ-law recordings (seeded speech-like noise: syllable-rate bursts of shaped noise
with pauses, over a line-noise floor) to a temporary folder, replays each with `ivr replay
--json` in a fresh Python process and reads that process's peak resident memory
(`getrusage` of the process itself; the recognition worker, a child, is reported apart),
and the peak RSS of a process streaming every frame of the file through `open_wav`. A
streaming front-end keeps memory flat: the 1 h figure must be within 20 % of the 1 min one.
`--quick` measures 30 s, 1 min and 5 min instead. Results: `trust_audio.json` and `.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ivr.audio.g711 import encode_mulaw
from ivr.types import FRAME_MS

from . import ROOT

__all__ = ["Peak", "measure", "write_noise_call"]

RATE = 8000
FULL = (("1 min", 60), ("15 min", 900), ("1 h", 3600))
QUICK = (("30 s", 30), ("1 min", 60), ("5 min", 300))
FLAT = 0.20
"""Largest allowed growth of peak RSS from the shortest to the longest recording."""
BASELINE = ("Before streaming (issue 10, finding 3, on main): peak RSS 191 MB for a 1.5 s "
            "call, 365 MB for 15 min of 8 kHz noise, 951 MB for one hour: the whole file "
            "was read and resampled before decoding. This benchmark on main before the "
            "change (commit 80c4c76): 184 MB for 1 min, 354 MB for 15 min, 926 MB for 1 h "
            "(1 h / 1 min = 5.02).")
_CHUNK_S = 60

_PROBE = """
import glob, json, resource, sys, threading, time
from ivr.cli import main

worker_kb = 0

def watch():  # the recognition worker's peak (VmHWM), sampled until it exits
    global worker_kb
    while True:
        for listing in glob.glob("/proc/self/task/*/children"):
            try:
                pids = open(listing).read().split()
            except OSError:
                continue
            for pid in pids:
                try:
                    for line in open(f"/proc/{pid}/status"):
                        if line.startswith("VmHWM:"):
                            worker_kb = max(worker_kb, int(line.split()[1]))
                except OSError:
                    pass
        time.sleep(0.05)

threading.Thread(target=watch, daemon=True).start()
try:
    code = main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 2
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "self_kb": own, "children_kb": worker_kb}, out)
"""


_READ_ALL = """
import resource, sys
from ivr.audio import open_wav
with open_wav(sys.argv[1]) as wav:
    count = sum(1 for _ in wav.frames(20))
print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@dataclass(frozen=True)
class Peak:
    """Peak memory of one replay."""

    label: str
    """Recording length, as shown."""
    seconds: int
    """Recording length in seconds."""
    file_mb: float
    """Size of the WAV file."""
    peak_rss_mb: float
    """Peak resident memory of the `ivr replay` process."""
    worker_rss_mb: float
    """Peak resident memory of its recognition worker (the loaded model)."""
    exit_code: int
    """`ivr replay`'s exit code."""
    read_all_rss_mb: float
    """Peak resident memory of a process streaming every frame of the file (`open_wav`)."""
    read_all_seconds: float
    """Audio it streamed (all of the file)."""
    outcome: str
    """How the call ended (type and reason), from the JSON output."""


def _header(n_samples: int) -> bytes:
    fmt = struct.pack("<HHIIHHH", 7, 1, RATE, RATE, 1, 8, 0)
    fact = struct.pack("<I", n_samples)
    body = (b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<I", 4)
            + fact + b"data" + struct.pack("<I", n_samples))
    return b"RIFF" + struct.pack("<I", 4 + len(body) + n_samples + n_samples % 2) + b"WAVE" + body


def _chunk(rng: np.random.Generator, start: int, n: int) -> NDArray[np.int16]:
    """Speech-like noise: 4 Hz syllable bursts in 2.5 s phrases with 1.5 s pauses."""
    t = (start + np.arange(n)) / RATE
    syllables = np.clip(np.sin(2 * np.pi * 4.0 * t), 0.0, None)
    phrase = (t % 4.0) < 2.5
    noise = rng.standard_normal(n)
    voiced = np.convolve(noise, np.ones(4) / 4, mode="same")  # a little low-pass: speech-ish
    signal = 3000.0 * voiced * syllables * phrase + 60.0 * rng.standard_normal(n)
    pcm: NDArray[np.int16] = np.clip(np.rint(signal), -32768, 32767).astype(np.int16)
    return pcm


def write_noise_call(path: Path, seconds: int, *, seed: int = 0) -> None:
    """An 8 kHz mono μ-law WAV of `seconds` of speech-like noise, written a minute at a time."""
    rng = np.random.default_rng(seed)
    total = seconds * RATE
    with open(path, "wb") as out:
        out.write(_header(total))
        for start in range(0, total, _CHUNK_S * RATE):
            n = min(_CHUNK_S * RATE, total - start)
            out.write(encode_mulaw(_chunk(rng, start, n)).tobytes())
        if total % 2:
            out.write(b"\x00")


def measure(wav: Path, flow: str, *, label: str = "", seconds: int = 0,
            extra: tuple[str, ...] = ()) -> Peak:
    """Replay `wav` through `flow` in a fresh process; its peak RSS and its worker's."""
    with tempfile.TemporaryDirectory(prefix="ivr-rss-") as tmp:
        report = Path(tmp) / "rss.json"
        queue = Path(tmp) / "queue.sqlite3"
        argv = [sys.executable, "-c", _PROBE, str(report), "replay", "--json", "--flow", flow,
                "--queue", str(queue), *extra, str(wav)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False,
                              env={**os.environ, "PYTHONPATH": _package_root()})
        figures = json.loads(report.read_text()) if report.exists() else {}
    outcome = "no output"
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            got = json.loads(line).get("outcome", {})
            outcome = " ".join(str(got.get(k)) for k in ("type", "reason") if got.get(k))
    if not figures:
        raise RuntimeError(f"replay of {wav} failed: {done.stderr.strip()[-400:]}")
    read = subprocess.run([sys.executable, "-c", _READ_ALL, str(wav)], capture_output=True,
                          text=True, check=True, env={**os.environ, "PYTHONPATH": _package_root()})
    count, read_kb = (int(v) for v in read.stdout.split())
    return Peak(label=label or wav.name, seconds=seconds,
                file_mb=round(wav.stat().st_size / 1e6, 1),
                peak_rss_mb=round(figures["self_kb"] / 1024, 1),
                worker_rss_mb=round(figures["children_kb"] / 1024, 1),
                exit_code=int(figures["code"]), outcome=outcome,
                read_all_rss_mb=round(read_kb / 1024, 1), read_all_seconds=count * FRAME_MS / 1000)


def _package_root() -> str:
    root = str(ROOT)
    old = os.environ.get("PYTHONPATH")
    return f"{root}{os.pathsep}{old}" if old else root


def _markdown(peaks: list[Peak], ratio: float) -> str:
    rows = [f"| {p.label} | {p.file_mb:.1f} | {p.peak_rss_mb:.0f} | {p.worker_rss_mb:.0f} | "
            f"{p.outcome} | {p.read_all_rss_mb:.0f} |" for p in peaks]
    verdict = "flat" if abs(ratio - 1.0) <= FLAT else "NOT flat"
    return "\n".join([
        "# Peak memory of `ivr replay` against recording length", "",
        "8 kHz μ-law speech-like noise, one bare WAV per replay, each in a fresh process "
        "(`python -m bench.trust_audio`).", "",
        "| recording | file MB | peak RSS MB (ivr replay) | worker peak RSS MB | outcome "
        "| peak RSS MB, every frame streamed |",
        "| --- | ---: | ---: | ---: | --- | ---: |", *rows, "",
        f"Longest / shortest peak RSS: **{ratio:.3f}** ({verdict}; the bound is within "
        f"{FLAT:.0%}).", "",
        "A bare WAV is one caller turn: the file is streamed 20 ms at a time and read only "
        "until the turn ends; a call takes in at most `SpeechConfig.max_call_audio_s` "
        "(30 min) of audio over all its turns, then is handed over (`audio_limit`). The "
        "worker column is the recognition process (the loaded Korean model). The last column "
        "streams every frame of the file through `open_wav` (decoded, resampled to 16 kHz) "
        "in a process of its own: the reader's memory does not grow with what it reads "
        "either.", "",
        f"Baseline. {BASELINE}", ""])


def main(argv: list[str] | None = None) -> int:
    """Generate the recordings, measure each, write the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--flow", default="flows/bank_hotline.yaml")
    ap.add_argument("--quick", action="store_true", help="30 s, 1 min and 5 min only")
    args = ap.parse_args(argv)
    peaks: list[Peak] = []
    with tempfile.TemporaryDirectory(prefix="ivr-trust-audio-") as tmp:
        for label, seconds in QUICK if args.quick else FULL:
            wav = Path(tmp) / f"noise_{seconds}s.wav"
            write_noise_call(wav, seconds)
            peaks.append(measure(wav, args.flow, label=label, seconds=seconds))
            wav.unlink()
            print(f"{label:>7}: peak RSS {peaks[-1].peak_rss_mb:.0f} MB", flush=True)
    ratio = peaks[-1].peak_rss_mb / peaks[0].peak_rss_mb
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "trust_audio.json").write_text(json.dumps(
        {"recordings": [asdict(p) for p in peaks], "ratio_longest_to_shortest": round(ratio, 3),
         "flat_within": FLAT, "baseline": BASELINE}, indent=2) + "\n")
    (out / "trust_audio.md").write_text(_markdown(peaks, ratio))
    print(f"longest / shortest: {ratio:.3f} -> {out / 'trust_audio.md'}")
    return 0 if abs(ratio - 1.0) <= FLAT else 1


if __name__ == "__main__":
    raise SystemExit(main())
