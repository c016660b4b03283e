"""The phone bench's moving parts: the caller WAVs, `ivr serve` as a process, baresip
callers placing many calls each over ctrl_tcp, AudioSocket callers, the engine's memory.

Everything listens on 127.0.0.1; every wait is bounded in time and every loop in count.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The tests' callers (baresip over ctrl_tcp, the AudioSocket client), loaded by name: they
# are test code, outside what mypy checks for the package and the benches.
_serve: Any = importlib.import_module("tests.test_phone_serve")
_starter: Any = importlib.import_module("tests.baresip")
CONFIG: str = _starter.CONFIG
start_baresip: Any = _starter.start_baresip
BaresipFailed: Any = _starter.BaresipFailed
audiosocket_call: Any = _serve.audiosocket_call


def free_port(kind: int) -> int:
    port: int = _starter.free_port(kind)
    return port

ROOT = Path(__file__).resolve().parent.parent
ENDED = re.compile(r"call (\S+) ended: (\w+) at (\S+)")
TIMING = re.compile(r"call (\S+) turn timing: end of speech to decision (-?\d+) ms wall "
                    r"\(trace (\d+) ms = pause (\d+) ms \+ settle and judge (\d+) ms")
RTP_PORTS = (41000, 44999)
"""Where the bench's baresips take their RTP ports (the tap listens to these)."""


@dataclass(frozen=True)
class Caller:
    """One committed Korean caller: its file, the node its script expects, its line forms."""

    name: str
    source: Path
    expected: str
    wav8k: Path
    """8 kHz linear PCM16 with trailing silence (what baresip and AudioSocket play)."""
    pcmu: Path
    """The same through G.711 mu-law and back (what the engine hears over PCMU)."""
    pcma: Path
    """The same through A-law and back."""


def prepare(name: str, source: Path, expected: str, tmp: Path, pad_s: float) -> Caller:
    """The caller's line forms with sox (8 kHz, trailing silence, G.711 round trips)."""
    wav8k, pcmu, pcma = (tmp / f"{name}_{kind}.wav" for kind in ("8k", "pcmu", "pcma"))
    _sox(str(source), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", str(wav8k),
         "pad", "0", f"{pad_s:g}")
    for out, enc, ext in ((pcmu, "u-law", "ul"), (pcma, "a-law", "al")):
        coded = tmp / f"{name}.{ext}"
        _sox(str(wav8k), "-e", enc, "-t", ext, str(coded))
        _sox("-t", ext, "-r", "8000", "-c", "1", str(coded), "-e", "signed", "-b", "16",
             str(out))
    return Caller(name, source, expected, wav8k, pcmu, pcma)


def _sox(*args: str) -> None:
    """sox without its automatic dither (-D: it adds random noise whenever it resamples or
    lowers precision, so each run's files differed and the mu-law "line audio" replayed was
    not what baresip's own G.711 sends the engine) and repeatable (-R)."""
    subprocess.run(["sox", "-D", "-R", *args], check=True, capture_output=True, timeout=60)


def wav_seconds(path: Path) -> float:
    import wave

    with wave.open(str(path)) as w:
        return float(w.getnframes() / w.getframerate())


class Served:
    """`ivr serve` as a child process, its stderr in a file."""

    def __init__(self, tmp: Path, flow: Path, sip: int, audiosocket: int, calls: int,
                 workers: int | None = None) -> None:
        self.log = tmp / "serve.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ivr.cli", "serve", "--flow", str(flow), "--lang", "ko",
             "--queue", str(tmp / "queue.sqlite3"), "--prompts", str(ROOT / "var" / "prompts"),
             "--sip", f"127.0.0.1:{sip}", "--audiosocket", f"127.0.0.1:{audiosocket}",
             "--max-calls", str(calls),
             *(["--workers", str(workers)] if workers is not None else [])],
            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=self.log.open("w"))
        deadline = time.monotonic() + 180
        while "listening on" not in self.text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ivr serve did not start: {self.text()[-1500:]}")
            time.sleep(0.2)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def ended(self) -> dict[str, tuple[str, str]]:
        """Call id → (outcome, node) for every call that ended."""
        return {cid: (outcome, node) for cid, outcome, node in ENDED.findall(self.text())}

    def timings(self) -> dict[str, list[tuple[int, int, int, int]]]:
        """Call id → per decided turn: (wall, trace, pause, settle+judge) in ms."""
        out: dict[str, list[tuple[int, int, int, int]]] = {}
        for cid, wall, trace, pause, settle in TIMING.findall(self.text()):
            out.setdefault(cid, []).append((int(wall), int(trace), int(pause), int(settle)))
        return out

    def rss_mb(self) -> float:
        """Resident memory of the engine: the serve process and its recognition workers."""
        return rss_tree_mb(self.process.pid)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


def _tree(pid: int) -> list[int]:
    """`pid` and every descendant (from /proc, bounded)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    todo = [pid]
    while todo and len(found) < 1000:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def rss_tree_mb(pid: int) -> float:
    """VmRSS of `pid` and every descendant, in MB (from /proc)."""
    total = 0.0
    for p in _tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
    return total


def cpu_tree_s(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) used so far by `pid` and each descendant, by pid."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for p in _tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            out[p] = (int(fields[11]) + int(fields[12])) / tick
    return out


@dataclass
class Phone:
    """One baresip playing one caller's WAV, placing calls over ctrl_tcp."""

    caller: Caller
    codec: str
    tmp: Path
    index: int
    process: asyncio.subprocess.Process | None = None
    ctl: Any = None
    call_ids: list[str] = field(default_factory=list)

    async def start(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):  # a free port may be taken before baresip binds it
            sip, ctrl = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
            low = RTP_PORTS[0] + self.index * 100
            (self.tmp / "config").write_text(CONFIG.format(
                sip=sip, wav=self.caller.wav8k, ctrl=ctrl, rtp=low, rtp_end=low + 99))
            (self.tmp / "accounts").write_text(
                f"<sip:{self.caller.name}@127.0.0.1:{sip}>;regint=0;"
                f"audio_codecs={self.codec}\n")
            try:
                self.ctl = await start_baresip(self.tmp, ctrl, sip)
            except BaresipFailed as exc:
                if "Address already in use" not in str(exc) or attempt == 2:
                    raise
                continue
            self.process = self.ctl.process
            return

    async def dial(self, port: int) -> None:
        assert self.ctl is not None
        await self.ctl.dial(f"sip:ivr@127.0.0.1:{port}")

    def count(self, kind: str) -> int:
        return self.ctl.count(kind) if self.ctl else 0

    def collect(self) -> None:
        """Call ids and local RTP ports from the events seen so far."""
        events = self.ctl.events if self.ctl else []
        (self.tmp / "events.json").write_text(json.dumps(events, indent=1))
        for event in events:
            cid = str(event.get("id", ""))
            if event.get("type") == "CALL_ESTABLISHED" and cid and cid not in self.call_ids:
                self.call_ids.append(cid)

    @property
    def rtp_ports(self) -> set[int]:
        """The RTP ports this baresip may take (its config's `rtp_ports`)."""
        low = RTP_PORTS[0] + self.index * 100
        return set(range(low, low + 100))

    async def stop(self) -> None:
        if self.ctl is not None:
            self.ctl.writer.close()
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), 10)


async def sip_batch(callers: list[Caller], codec: str, calls: int, port: int, tmp: Path,
                    limit_s: float, spread_s: float = 0.0) -> list[Phone]:
    """`calls` concurrent SIP calls, callers taken in turn, one baresip per caller; returns
    when every call closed or `limit_s` passed. The calls are placed all at once, or evenly
    over `spread_s` seconds (the n-th at n * spread_s / calls)."""
    phones = [Phone(c, codec, tmp / f"{codec}-{i}", i) for i, c in enumerate(callers[:calls])]
    await asyncio.gather(*(p.start() for p in phones))
    try:
        placed = [0] * len(phones)
        loop = asyncio.get_running_loop()
        first = loop.time()
        for n in range(calls):  # round robin over the callers
            if spread_s > 0:
                await asyncio.sleep(max(0.0, first + n * spread_s / calls - loop.time()))
            placed[n % len(phones)] += 1
            await phones[n % len(phones)].dial(port)
        deadline = loop.time() + limit_s
        while loop.time() < deadline:
            if all(p.count("CALL_CLOSED") >= k for p, k in zip(phones, placed, strict=True)):
                break
            await asyncio.gather(*(p.ctl.until(lambda e: False, 0.05)
                                   for p in phones if p.ctl))
        await asyncio.sleep(1.0)  # let the last BYEs reach the engine before baresip goes
        for p in phones:
            p.collect()
    finally:
        await asyncio.gather(*(p.stop() for p in phones), return_exceptions=True)
    return phones


def peak_concurrency(phones: list[Phone]) -> int:
    """The most calls up at once, from when each call's CALL_ESTABLISHED and CALL_CLOSED
    events reached the bench."""
    marks: list[tuple[float, int]] = []
    for phone in phones:
        for event in phone.ctl.events if phone.ctl else []:
            kind, at = event.get("type"), event.get("received_at")
            if isinstance(at, float) and kind in ("CALL_ESTABLISHED", "CALL_CLOSED"):
                marks.append((at, 1 if kind == "CALL_ESTABLISHED" else -1))
    peak = up = 0
    for _, step in sorted(marks, key=lambda m: (m[0], m[1])):  # a close before an open
        up += step
        peak = max(peak, up)
    return peak


async def audiosocket_batch(callers: list[Caller], port: int) -> dict[str, Caller]:
    """One AudioSocket call per caller, all at once (the tests' client: UUID, paced 20 ms
    frames of the 8 kHz WAV, what the engine sends read until it hangs up, bounded)."""
    ids = {str(uuid.uuid4()): c for c in callers}
    await asyncio.gather(*(audiosocket_call(c.wav8k, port, uuid.UUID(cid))
                           for cid, c in ids.items()), return_exceptions=True)
    return ids
