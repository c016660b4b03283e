"""`ivr serve` service features end to end: a real process, real baresip callers over
loopback, the bank flow, the embedded Korean model, espeak-ng prompts.

- a transfer the agent side refuses: baresip is REFERred to a line that answers 403, its
  NOTIFY reports the failure, the caller hears `transfer_failed`, stays filed, is hung up;
- `--config serve.toml` with the command line winning, the language per called number, and
  `/metrics` scraped while two calls are up and after they end.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from ivr.flow import load_linted
from ivr.handoff import open_queue
from ivr.handoff.sqlite import SqliteQueue
from ivr.phone.prompts import PromptAudio, line_prompt
from ivr.phone.sipline import LineConfig
from tests.test_phone_serve import FLOW, ROOT, Served, baresip_call, env
from tests.test_phone_sip_baresip import free_port, line

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("sox") is None or shutil.which("espeak-ng") is None
                       or shutil.which("baresip") is None,
                       reason="needs sox, espeak-ng and baresip"),
]


def queued(served: Served) -> list[dict[str, object]]:
    done = subprocess.run([sys.executable, "-m", "ivr.cli", "queue", "list", "--json",
                           "--queue", str(served.queue)], env=env(), capture_output=True,
                          text=True, timeout=60)
    return [json.loads(row) for row in done.stdout.splitlines()]


def quiet_wav(path: Path, seconds: float) -> Path:
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path), "trim", "0",
                    str(seconds)], check=True, capture_output=True)
    return path


def test_a_refused_transfer_is_heard_by_the_caller_and_recorded(tmp_path: Path) -> None:
    wav = quiet_wav(tmp_path / "quiet.wav", 40)  # keys 7 (fraud_report), stays on the line
    port, agent_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)

    async def run() -> tuple[Served, Path, list[str]]:
        refusing = LineConfig(port=agent_port, trusted=frozenset({"192.0.2.1"}))  # all 403
        async with line(refusing) as agent_side:
            served = Served(tmp_path, "--sip", f"127.0.0.1:{port}", "--transfer",
                            f"fraud=sip:agent@127.0.0.1:{agent_port}")
            try:
                heard = await baresip_call(tmp_path / "caller", wav, port, keys="7",
                                           calls=2)  # its call to the agent, then ours
            finally:
                served.stop()
            return served, heard, [r.call_id for r in agent_side.records]

    served, heard, answered = asyncio.run(run())
    log = served.text()
    assert answered == []  # the agent side refused, nothing was answered there
    found = re.search(r"call (\S+) transfer to queue fraud: (\d+)", log)
    assert found and found.group(2) == "403", log[-2000:]  # baresip's NOTIFY sipfrag
    call_id = found.group(1)
    assert re.search(rf"call {re.escape(call_id)}: the transfer failed \(SIP 403\); "
                     r"saying transfer_failed", log), log[-2000:]
    (record,) = queued(served)
    assert record["call_id"] == call_id and record["queue"] == "fraud"  # still filed
    assert re.search(rf"call {re.escape(call_id)} ended: handoff at fraud_report \(ko; "
                     r"we hung up\)", log), log[-2000:]
    flow = load_linted(FLOW)  # the message as the engine rendered it (same prompt cache)
    said = PromptAudio(flow, ROOT / "var" / "prompts").audio(
        line_prompt(flow, "transfer_failed", "ko"))
    score = best_match(recorded(heard), np.frombuffer(said, "<i2"))
    assert score > 0.6, score  # the caller heard the message (without it: 0.15)
    if not hasattr(SqliteQueue, "note"):
        pytest.skip("the queue has no note() yet (INTERFACES.md A, the queue helper's work): "
                    "the audit trail is checked once it lands")
    queue = open_queue(str(served.queue))
    try:  # INTERFACES.md A: history(call_id) -> [AuditEvent(event, actor, detail, ...)]
        events = [(e.event, e.actor, e.detail) for e in queue.history(call_id)]  # type: ignore[attr-defined]
    finally:
        queue.close()
    assert ("transfer_failed", "engine", "SIP 403") in events, events


def recorded(path: Path) -> np.ndarray:
    """baresip's recording of what it heard, at the line's 8 kHz (baresip is killed before
    it writes the sizes into the header: everything after the data chunk's header)."""
    data = path.read_bytes()
    assert data[22:28] == (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")  # mono 8k
    body = data[data.index(b"data") + 8:]
    return np.frombuffer(body[:len(body) // 2 * 2], "<i2")


def best_match(heard: np.ndarray, said: np.ndarray) -> float:
    """How well 2 s of `said` (from its first sound) is found anywhere in `heard`: the
    highest normalised cross-correlation (1.0 = the same samples, G.711 costs a little)."""
    start = int(np.argmax(np.abs(said) > 1000))
    piece = said[start:start + 16000].astype(np.float64)
    signal = heard.astype(np.float64)
    if len(signal) < len(piece):
        return 0.0
    size = 1 << int(np.ceil(np.log2(len(signal) + len(piece))))
    corr = np.fft.irfft(np.fft.rfft(signal, size) * np.conj(np.fft.rfft(piece, size)), size)
    corr = corr[:len(signal) - len(piece) + 1]
    power = np.concatenate(([0.0], np.cumsum(signal ** 2)))
    window = power[len(piece):] - power[:len(signal) - len(piece) + 1]
    norm = np.sqrt(np.maximum(window, 1e-9) * float(np.sum(piece ** 2)))
    return float(np.max(corr / norm))


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    samples = {}
    for row in text.splitlines():
        if row and not row.startswith("#"):
            name, _, value = row.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_config_file_language_per_number_and_metrics_during_real_calls(
    tmp_path: Path
) -> None:
    caller = tmp_path / "ko_8k.wav"
    subprocess.run(["sox", "-D", "-R", str(ROOT / "samples" / "audio" / "ko_fraud.wav"),
                    "-r", "8000", "-c", "1", "-b", "16", str(caller), "pad", "0", "8"], check=True,
                   capture_output=True)
    port, metrics = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    (tmp_path / "serve.toml").write_text(
        f'sip = "127.0.0.1:{port}"\nlang = "en"\nmax_calls = 1\n'
        f'metrics = "127.0.0.1:{metrics}"\n[lang_for]\n"1599" = "en"\n"1588" = "ko"\n',
        "utf-8")

    async def run() -> tuple[Served, list[dict[str, float]]]:
        # the command line wins: --lang ko (Served) over the file's en, 2 calls over its 1
        served = Served(tmp_path, "--config", str(tmp_path / "serve.toml"), "--max-calls", "2")
        seen: list[dict[str, float]] = []

        async def watch() -> None:
            loop = asyncio.get_running_loop()
            while True:
                seen.append(await loop.run_in_executor(None, scrape, metrics))
                await asyncio.sleep(0.3)

        watching = asyncio.create_task(watch())
        try:
            await asyncio.gather(baresip_call(tmp_path / "ko", caller, port, number="1588"),
                                 baresip_call(tmp_path / "en", caller, port, number="1599"))
            watching.cancel()
            await asyncio.sleep(0.5)
            seen.append(scrape(metrics))
        finally:
            watching.cancel()
            served.stop()
        return served, seen

    served, seen = asyncio.run(run())
    log = served.text()
    assert f"metrics on http://127.0.0.1:{metrics}/metrics" in log
    ended = {lang: (outcome, node) for outcome, node, lang in
             re.findall(r"call \S+ ended: (\w+) at (\S+) \((\w+);", log)}
    assert ended == {"ko": ("handoff", "fraud_report"),  # routed by speech, as replayed
                     "en": ("handoff", "root")}, log[-3000:]  # no en model here: an agent
    records = {r["lang"]: r for r in queued(served)}
    assert set(records) == {"ko", "en"}
    assert records["en"]["reason"] == "asr_error" and records["ko"]["queue"] == "fraud"
    assert max(s.get("ivr_calls_in_progress", 0) for s in seen) == 2  # both at once
    last = seen[-1]
    assert last["ivr_calls_in_progress"] == 0
    assert last['ivr_calls_total{outcome="handoff"}'] == 2
    assert last['ivr_decision_latency_seconds_count'] >= 1  # the Korean caller's turn
    assert sum(v for k, v in last.items() if k.startswith("ivr_decisions_total")) >= 1
    assert last['ivr_queue_waiting{queue="fraud"}'] == 1
    assert last['ivr_queue_waiting{queue="general"}'] == 1
