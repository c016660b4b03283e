"""A passive loopback tap for the phone bench: the engine's RTP as the callers receive it.

    python -m bench.phone_tap --ports 40000-40999 --seconds 120 --out tap.json

Reads every frame on the `lo` interface with a raw packet socket (Linux `AF_PACKET`, needs
CAP_NET_RAW), keeps the UDP datagrams to the given port range that look like RTP (version 2,
G.711 payload), and writes one row per datagram: destination port, SSRC, sequence number,
RTP timestamp and the kernel's receive time (`SO_TIMESTAMPNS`, so the tap's own scheduling
delay does not count). It runs as its own process, bounded by `--seconds`, and stops on
SIGTERM, writing what it has. `jitter` turns rows into the prompt frame jitter figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import socket
import struct
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
PACKET_HOST = 0
TALKSPURT_GAP_S = 0.2
"""A gap longer than this between two frames in sequence is a new prompt (the pause between
prompts or turns), not jitter; such gaps are counted apart."""


def capture(low: int, high: int, seconds: float, out: Path) -> None:
    rows: list[tuple[int, int, int, int, float]] = []
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError:  # no CAP_NET_RAW: no jitter figure, the rest of the bench runs
        print("bench.phone_tap: a raw socket needs CAP_NET_RAW; no jitter figures",
              file=sys.stderr)
        out.write_text("[]", "utf-8")
        return
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind(("lo", 0))
    sock.settimeout(0.5)
    deadline = time.monotonic() + seconds
    while not stop and time.monotonic() < deadline and len(rows) < 5_000_000:
        try:
            data, anc, _, addr = sock.recvmsg(2048, 64)
        except (TimeoutError, InterruptedError):
            continue
        if addr[2] != PACKET_HOST or len(data) < 14 + 20 + 8 + 12:
            continue
        row = _rtp_row(data[14:], low, high)
        if row is not None:
            rows.append((*row, _stamp(anc)))
    out.write_text(json.dumps(rows), "utf-8")


def _rtp_row(ip: bytes, low: int, high: int) -> tuple[int, int, int, int] | None:
    if ip[0] >> 4 != 4 or ip[9] != 17:
        return None
    udp = ip[(ip[0] & 0x0F) * 4:]
    port = struct.unpack("!H", udp[2:4])[0]
    rtp = udp[8:]
    if not low <= port <= high or len(rtp) < 12 or rtp[0] >> 6 != 2 or rtp[1] & 0x7F not in (0, 8):
        return None
    seq, ts, ssrc = struct.unpack("!HII", rtp[2:12])
    return port, ssrc, seq, ts


def _stamp(anc: list[tuple[int, int, bytes]]) -> float:
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack("qq", data[:16])
            return float(sec + nsec / 1e9)
    return time.time()


def jitter(rows: list[list[float]], ports: set[int]) -> dict[str, Any]:
    """Per stream (port, SSRC) to one of `ports`: each frame's arrival gap after the frame
    before it in sequence, less its 20 ms of media (|gap - 20 ms|): p50/p95/max over every
    frame; frames the sender skipped (sequence jumps) and prompt boundaries counted apart."""
    streams: dict[tuple[int, int], list[tuple[int, float]]] = defaultdict(list)
    for port, ssrc, seq, _, at in rows:
        if int(port) in ports:
            streams[(int(port), int(ssrc))].append((int(seq), float(at)))
    deviations: list[float] = []
    skipped = boundaries = frames = 0
    for packets in streams.values():
        frames += len(packets)
        for (seq0, at0), (seq1, at1) in itertools.pairwise(packets):
            step = (seq1 - seq0) & 0xFFFF
            gap = at1 - at0
            if step != 1:
                skipped += max(0, step - 1) if step < 1000 else 0
                continue
            if gap > TALKSPURT_GAP_S:
                boundaries += 1
                continue
            deviations.append(abs(gap - 0.02))
    dev = np.array(deviations) * 1000 if deviations else np.zeros(1)
    return {"streams": len(streams), "frames": frames, "pairs": len(deviations),
            "p50_ms": round(float(np.percentile(dev, 50)), 2),
            "p95_ms": round(float(np.percentile(dev, 95)), 2),
            "max_ms": round(float(dev.max()), 2), "frames_skipped": skipped,
            "prompt_boundaries": boundaries}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ports", required=True, help="LOW-HIGH destination UDP ports")
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    low, _, high = args.ports.partition("-")
    capture(int(low), int(high), min(args.seconds, 1800.0), Path(args.out))


if __name__ == "__main__":
    main()
