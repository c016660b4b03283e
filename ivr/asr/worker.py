"""The recognition worker process: one loaded model, many streams, messages over a pipe.

A Kaldi assertion aborts the whole process it happens in, so recognition runs here, away from
the calls' dialogs and the human queue. The parent (`ivr.asr.service`) starts it as
`python -m ivr.asr.worker` and sends tuples:

    ("open", sid, grammar | None, free, narrowband)     no reply
    ("feed", sid, pcm, sent)         no reply (sent: time.monotonic(), None if not paced)
    ("partial" | "settle" | "final", sid, req)          reply (req, ok, DualResult | message)
    ("close", sid)                                      no reply
    ("stats", 0, req)                                   reply (req, True, {figures})
    ("quit",)

and gets `(0, True, {"pid": ...})` once the model is loaded, or `(0, False, message)`.
A failure inside one stream is answered on that stream's next request; the worker goes on.
Each feed carries the time it was sent; when frames wait longer than `SHED_LAG_S` to be
decoded, the worker is behind real time, and new streams are opened without free decoding
(the costliest part), and beyond twice that with one grammar view, until it catches up.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections import deque
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

from ..errors import ModelError
from ..types import Lang
from .engine import DualStream, Engine
from .modeldir import DecoderConfig

__all__ = ["SHED_LAG_S", "serve"]

SHED_LAG_S = 0.1
"""Frames waiting longer than this to be decoded mean the worker is behind real time."""
_REQUESTS = ("partial", "settle", "final", "stats")


class _Inbox:
    """Messages waiting, per stream; a stream with a request waiting is served first.

    A request (settle, final, partial) is what a caller's turn is waiting on, so that stream's
    frames are decoded, and its request answered, ahead of other streams' frames, which only
    wait for their own next request. Other streams are served oldest message first.
    """

    def __init__(self) -> None:
        self._queues: dict[int, deque[tuple[int, tuple[Any, ...]]]] = {}
        self._urgent: deque[int] = deque()
        self._seq = 0

    def __bool__(self) -> bool:
        return bool(self._queues)

    def add(self, msg: tuple[Any, ...]) -> None:
        self._seq += 1
        self._queues.setdefault(msg[1], deque()).append((self._seq, msg))
        if msg[0] in _REQUESTS:
            self._urgent.append(msg[1])

    def next(self) -> tuple[Any, ...]:
        sid = (self._urgent[0] if self._urgent
               else min(self._queues, key=lambda k: self._queues[k][0][0]))
        queue = self._queues[sid]
        _, msg = queue.popleft()
        if not queue:
            del self._queues[sid]
        if msg[0] in _REQUESTS and self._urgent and self._urgent[0] == sid:
            self._urgent.popleft()
        return msg


def serve(conn: Connection, model_dir: str, lang: str, config: DecoderConfig) -> None:
    """Worker main loop: load the model, then answer messages until "quit" or a closed pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        engine = Engine(Path(model_dir), cast(Lang, lang), config)
    except ModelError as exc:
        conn.send((0, False, str(exc)))
        return
    conn.send((0, True, {"pid": os.getpid()}))
    streams: dict[int, DualStream] = {}
    broken: dict[int, str] = {}
    inbox = _Inbox()
    lag, measured = 0.0, 0.0
    while True:
        try:
            while not inbox or conn.poll(0):
                msg = conn.recv()
                if msg[0] == "quit":
                    return
                inbox.add(msg)
        except (EOFError, OSError):
            return
        msg = inbox.next()
        now = time.monotonic()
        if msg[0] == "feed" and msg[3] is not None:  # a live caller's frame
            lag, measured = max(0.0, now - msg[3]), now
        elif msg[0] == "open":
            lag = lag if now - measured < 1.0 else 0.0  # no live frames lately: not behind
            msg = (*msg, 1 if lag > 2 * SHED_LAG_S else None)
            if lag > SHED_LAG_S and msg[3]:  # behind real time: no free decoding for this one
                msg = (*msg[:3], False, *msg[4:])
                engine.pool.shed += 1
                engine.degraded += msg[5] is not None
        reply = _handle(engine, streams, broken, msg)
        if reply is not None:
            try:
                conn.send(reply)
            except (BrokenPipeError, OSError):
                return


def _handle(engine: Engine, streams: dict[int, DualStream], broken: dict[int, str],
            msg: tuple[Any, ...]) -> tuple[int, bool, Any] | None:
    op, sid = msg[0], msg[1]
    req: int | None = msg[2] if op in _REQUESTS else None
    try:
        if op == "open":
            streams[sid] = engine.stream(msg[2], free=msg[3], narrowband=msg[4], views=msg[5])
        elif op == "feed":
            if sid in streams:
                streams[sid].feed(msg[2])
        elif op == "close":
            broken.pop(sid, None)
            stream = streams.pop(sid, None)
            if stream is not None:
                stream.close()
        elif op == "stats" and req is not None:
            return req, True, {**engine.stats(), "streams": len(streams), "pid": os.getpid()}
        elif req is not None:
            if sid in broken:
                return req, False, broken.pop(sid)
            if sid not in streams:
                return req, False, f"no open stream {sid}"
            if op == "partial":
                return req, True, streams[sid].partial()
            if op == "settle":
                return req, True, streams[sid].settle()
            return req, True, streams.pop(sid).final()
    except Exception as exc:  # any recogniser failure ends that stream only, not the worker
        stream = streams.pop(sid, None)
        if stream is not None:
            stream.close()
        if req is not None:
            return req, False, f"{type(exc).__name__}: {exc}"
        broken[sid] = f"{type(exc).__name__}: {exc}"
    return None


def main(argv: list[str]) -> None:
    """`python -m ivr.asr.worker FD MODEL_DIR LANG CONFIG_JSON` (started by SpeechService)."""
    fd, model_dir, lang, config = argv
    values = json.loads(config)
    values["views"] = tuple(values["views"])
    serve(Connection(int(fd)), model_dir, lang, DecoderConfig(**values))


if __name__ == "__main__":
    main(sys.argv[1:])
