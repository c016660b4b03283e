"""`make bench-phone` in its smallest mode (2 calls, 2 callers), so the bench cannot rot:
real baresip callers, a real `ivr serve`, real Vosk, the loopback tap."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(any(shutil.which(t) is None for t in ("baresip", "sox", "espeak-ng")),
                       reason="needs baresip, sox and espeak-ng"),
]


def test_the_phone_bench_runs_in_its_quick_mode(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bench.phone", "--quick", "--out",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "phone.json").read_text())
    s, load = report["summary"], report["load"]
    assert s["answered"] == "2/2" and s["ended_by_engine_log"] == 2, s
    assert len(load["calls"]) == 2 and all(r["node"] != "-" for r in load["calls"])
    assert s["agreement_vs_replay_of_line_audio"] is not None
    assert s["decided_calls"] >= 1 and s["eos_to_decision_wall_ms_p95"] is not None
    assert load["rss_peak_mb"] > load["rss_idle_mb"] > 100  # the model is loaded
    if os.geteuid() == 0:  # the raw-socket tap saw the engine's prompts
        assert load["jitter"]["streams"] >= 2 and load["jitter"]["pairs"] > 100
    assert set(report["accuracy"]) == {"PCMU", "PCMA", "AudioSocket"}
    assert all(len(rows) == 2 for rows in report["accuracy"].values())
    assert set(s["accuracy"]) >= {"16 kHz file replay", "served PCMA", "served AudioSocket"}
    assert "| answered | 2/2" in (tmp_path / "phone.md").read_text()
    spread = s["spread"]  # the same calls placed 2 s apart: still both up at once
    assert spread["answered"] == "2/2" and spread["peak_concurrent"] == 2, spread
    assert s["peak_concurrent"] == 2 and spread["eos_to_decision_wall_ms_p95"] is not None
    assert load["cpu_s"]["workers"] > 0 and load["cpu_s"]["serve"] > 0
