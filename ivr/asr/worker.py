"""The recognition worker process: one loaded model, many streams, messages over a pipe.

A Kaldi assertion aborts the whole process it happens in, so recognition runs here, away from
the calls' dialogs and the human queue. The parent (`ivr.asr.service`) starts it as
`python -m ivr.asr.worker` and sends the typed messages of `ivr.asr.messages` (`Open`,
`Feed`, `Close`; the requests `Partial`, `Settle`, `Final`, `Stats`, each answered by a
`Reply`; `Quit`), and gets `Reply(0, True, {"pid": ...})` once the model is loaded, or
`Reply(0, False, message)`.
A failure inside one stream is answered on that stream's next request; the worker goes on.
Each feed carries the time it was sent; when frames wait longer than `SHED_LAG_S` to be
decoded, the worker is behind real time, and new streams are opened without free decoding
(the costliest part), and beyond twice that with one grammar view, until it catches up;
a stream whose frames wait longer than `DROP_LAG_S` stops decoding freely there and then.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections import deque
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import cast

from ..errors import ModelError
from ..types import SAMPLE_RATE, Lang
from .budget import StreamLoad, over_budget
from .dual import DualStream
from .messages import (
    Close,
    Feed,
    Final,
    Message,
    Open,
    Partial,
    Quit,
    Reply,
    Request,
    Settle,
    Stats,
)
from .modeldir import DecoderConfig
from .vosk import Engine

__all__ = ["DROP_LAG_S", "SETTLE_BACKLOG_S", "SHED_LAG_S", "serve"]

SHED_LAG_S = 0.1
"""Frames waiting longer than this to be decoded mean the worker is behind real time."""
DROP_LAG_S = 0.4
"""Frames of a stream waiting longer than this: the worker is far behind, and that stream
stops decoding freely (judged on its grammar views), so that a burst of calls costs free
transcripts for a while, not replies too late to use (`ServiceConfig.reply_timeout_s`)."""

SETTLE_BACKLOG_S = 0.3
"""A caller's turn waits on a settle or final of their stream: when more than this much of
its audio is still queued, the worker is behind, and that stream stops decoding freely before
the backlog is decoded (free decoding costs 2-3x a grammar view warm, far more new; it only
supports a grammar transcript), so the decision does not wait for it."""

_Queued = Open | Feed | Close | Request
"""What waits in the inbox (everything but `Quit`)."""


class _Inbox:
    """Messages waiting, per stream; a stream with a request waiting is served first.

    A request (settle, final, partial) is what a caller's turn is waiting on, so that stream's
    frames are decoded, and its request answered, ahead of other streams' frames, which only
    wait for their own next request. Other streams are served oldest message first.
    """

    def __init__(self) -> None:
        self._queues: dict[int, deque[tuple[int, _Queued]]] = {}
        self._urgent: deque[int] = deque()
        self._seq = 0

    def __bool__(self) -> bool:
        return bool(self._queues)

    def add(self, msg: _Queued) -> None:
        self._seq += 1
        self._queues.setdefault(msg.sid, deque()).append((self._seq, msg))
        if isinstance(msg, Request):
            self._urgent.append(msg.sid)

    def waiting_audio_s(self, sid: int) -> float:
        """Seconds of a live caller's audio queued for stream `sid`, not yet decoded (frames
        of a recording, fed as fast as they are read, do not count: nobody waits on them)."""
        queued = sum(len(m.pcm) for _, m in self._queues.get(sid, ())
                     if isinstance(m, Feed) and m.sent is not None)
        return queued / (2 * SAMPLE_RATE)

    def next(self) -> _Queued:
        sid = (self._urgent[0] if self._urgent
               else min(self._queues, key=lambda k: self._queues[k][0][0]))
        queue = self._queues[sid]
        _, msg = queue.popleft()
        if not queue:
            del self._queues[sid]
        if isinstance(msg, Request) and self._urgent and self._urgent[0] == sid:
            self._urgent.popleft()
        return msg


def serve(conn: Connection, model_dir: str, lang: str, config: DecoderConfig) -> None:
    """Worker main loop: load the model, then answer messages until "quit" or a closed pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        engine = Engine(Path(model_dir), cast(Lang, lang), config)
    except ModelError as exc:
        conn.send(Reply(0, False, str(exc)))
        return
    conn.send(Reply(0, True, {"pid": os.getpid()}))
    streams: dict[int, DualStream] = {}  # in the order they opened
    live: set[int] = set()  # streams of live callers (paced)
    broken: dict[int, str] = {}
    inbox = _Inbox()
    lag, measured = 0.0, 0.0
    while True:
        try:
            while not inbox or conn.poll(0):
                received: Message = conn.recv()
                if isinstance(received, Quit):
                    return
                inbox.add(received)
                if (isinstance(received, Settle | Final) and received.sid in streams
                        and inbox.waiting_audio_s(received.sid) > SETTLE_BACKLOG_S
                        and streams[received.sid].drop_free()):
                    engine.dropped += 1  # the caller waits: decide on the grammar views
        except (EOFError, OSError):
            return
        msg = inbox.next()
        now = time.monotonic()
        if isinstance(msg, Feed) and msg.sent is not None:  # a live caller's frame
            lag, measured = max(0.0, now - msg.sent), now
            if lag > DROP_LAG_S and msg.sid in streams and streams[msg.sid].drop_free():
                engine.dropped += 1
        elif isinstance(msg, Open):
            lag = lag if now - measured < 1.0 else 0.0  # no live frames lately: not behind
            msg = replace(msg, views=1 if lag > 2 * SHED_LAG_S else None)
            if lag > SHED_LAG_S and msg.spec.free:  # behind real time: no free decoding
                msg = replace(msg, spec=replace(msg.spec, free=False))
                engine.pool.shed += 1
                engine.degraded += msg.views is not None
        reply = _handle(engine, streams, broken, msg)
        if isinstance(msg, Open) and msg.spec.paced and msg.sid in streams:
            live.intersection_update(streams)
            live.add(msg.sid)
            _keep_budget(engine, streams, live)
        if reply is not None:
            try:
                conn.send(reply)
            except (BrokenPipeError, OSError):
                return


def _keep_budget(engine: Engine, streams: dict[int, DualStream], live: set[int]) -> None:
    """Drop free decoding from the newest live streams while they cost over the budget."""
    budget = engine.config.live_budget
    if budget is None:
        return
    loads = [StreamLoad(sid, len(s.grammars), s.free is not None, s.narrowband)
             for sid, s in streams.items() if sid in live]
    for sid in over_budget(engine.costs, loads, budget, engine.config.narrowband_budget):
        if streams[sid].drop_free():
            engine.budgeted += 1


def _handle(engine: Engine, streams: dict[int, DualStream], broken: dict[int, str],
            msg: _Queued) -> Reply | None:
    sid = msg.sid
    req = msg.req if isinstance(msg, Request) else None
    try:
        if isinstance(msg, Open):
            streams[sid] = engine.stream(msg.spec, views=msg.views)
        elif isinstance(msg, Feed):
            if sid in streams:
                streams[sid].feed(msg.pcm)
        elif isinstance(msg, Close):
            broken.pop(sid, None)
            stream = streams.pop(sid, None)
            if stream is not None:
                stream.close()
        elif isinstance(msg, Stats):
            return Reply(msg.req, True, {**engine.stats(), "streams": len(streams),
                                         "pid": os.getpid()})
        elif req is not None:
            if sid in broken:
                return Reply(req, False, broken.pop(sid))
            if sid not in streams:
                return Reply(req, False, f"no open stream {sid}")
            if isinstance(msg, Partial):
                return Reply(req, True, streams[sid].partial())
            if isinstance(msg, Settle):
                return Reply(req, True, streams[sid].settle())
            return Reply(req, True, streams.pop(sid).final())
    except Exception as exc:  # any recogniser failure ends that stream only, not the worker
        stream = streams.pop(sid, None)
        if stream is not None:
            stream.close()
        if req is not None:
            return Reply(req, False, f"{type(exc).__name__}: {exc}")
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
