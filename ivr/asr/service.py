"""Recognition in worker processes: a crashed recogniser costs its own calls, not the rest.

`SpeechService` starts `workers` processes (`ivr.asr.worker`), each loading the model once,
and spreads streams over them (fewest open streams first). A reader thread per worker
answers requests; when a worker dies (a Kaldi assertion aborts it, or it is killed), the pipe
closes at once, every stream on it raises `AsrCrash` on its next use, and a replacement
worker starts loading in the background. Calls on other workers never notice.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import pickle
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..errors import IvrError, ModelError
from ..types import FRAME_BYTES, Audio, Lang, Utterance
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
from .recognizer import utterance_from
from .results import DualResult, StreamSpec
from .vocab import read_vocabulary

__all__ = ["AsrCrash", "ServiceConfig", "ServiceStream", "SpeechService"]


class AsrCrash(IvrError):
    """The recognition worker serving a stream died or stopped answering."""


@dataclass(frozen=True)
class ServiceConfig:
    """How many recognition processes, and how long to wait for them."""

    workers: int = 1
    """Worker processes, each with its own copy of the model (about 550 MB for Korean)."""
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    """Decoding settings."""
    reply_timeout_s: float = 10.0
    """A worker that does not answer a request within this is killed (its calls hand off)."""
    start_timeout_s: float = 120.0
    """Longest wait for a worker to load the model."""


class _Worker:
    """The parent's end of one worker process."""

    def __init__(self, service: SpeechService, index: int) -> None:
        # A plain subprocess, not multiprocessing: spawn would re-import the caller's main
        # module, and fork would copy a process that has threads.
        self.service, self.index = service, index
        ours, theirs = socket.socketpair()
        config = json.dumps(asdict(service.config.decoder))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ivr.asr.worker", str(theirs.fileno()),
             str(service.model_dir), service.lang, config],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, close_fds=True)
        theirs.close()  # so that the worker's death closes the pipe
        self.conn = Connection(ours.detach())
        self.ready: Future[dict[str, Any]] = Future()
        self.alive = True
        self.streams = 0
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._state = threading.Lock()
        self._pending: dict[int, Future[Any]] = {}
        self._ids = itertools.count(1)
        threading.Thread(target=self._read, name=f"ivr-asr-reader-{index}", daemon=True).start()
        threading.Thread(target=self._write, name=f"ivr-asr-writer-{index}",
                         daemon=True).start()

    @property
    def pid(self) -> int | None:
        """The worker's process id."""
        return self.process.pid

    def _read(self) -> None:
        try:
            while True:
                reply: Reply = self.conn.recv()
                req, ok, value = reply.req, reply.ok, reply.value
                if req == 0:
                    if ok:
                        self.ready.set_result(value)
                    else:
                        self.ready.set_exception(ModelError(value))
                    continue
                with self._state:
                    fut = self._pending.pop(req, None)
                if fut is not None and ok:
                    fut.set_result(value)
                elif fut is not None:
                    fut.set_exception(AsrCrash(value))
        except (EOFError, OSError):
            pass
        self._died("the recognition process died")

    def _died(self, why: str) -> None:
        with self._state:
            if not self.alive:
                return
            self.alive = False
            pending, self._pending = self._pending, {}
        started = self.ready.done() and self.ready.exception() is None
        code = self.process.poll()
        message = f"{why} (pid {self.pid}{f', exit code {code}' if code is not None else ''})"
        for fut in pending.values():
            fut.set_exception(AsrCrash(message))
        if not self.ready.done():
            self.ready.set_exception(ModelError(f"recognition worker failed to start: {why}"))
        if started:  # a worker that never loaded the model would only fail again
            self.service._replace(self)
        self._outbox.put(None)  # stop the writer

    def _write(self) -> None:
        """Drain the outbox into the pipe, so that a caller's thread never waits on it."""
        while (data := self._outbox.get()) is not None:
            try:
                self.conn.send_bytes(data)
            except (BrokenPipeError, EOFError, OSError):
                self._died("the recognition process died")
                return

    def send(self, msg: Message) -> None:
        """Queue a message without waiting; AsrCrash if the worker is gone."""
        if not self.alive:
            raise AsrCrash(f"the recognition process died (pid {self.pid})")
        self._outbox.put(pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL))

    def request(self, ask: Callable[[int], Request]) -> Any:
        """Send the request `ask(req)` builds and wait for its answer."""
        fut: Future[Any] = Future()
        with self._state:
            if not self.alive:
                raise AsrCrash(f"the recognition process died (pid {self.pid})")
            req = next(self._ids)
            self._pending[req] = fut
        self.send(ask(req))
        try:
            return fut.result(self.service.config.reply_timeout_s)
        except FutureTimeout:
            self.kill()
            self._died("the recognition process stopped answering")
            raise AsrCrash(f"the recognition process did not answer within "
                           f"{self.service.config.reply_timeout_s:g} s") from None

    def kill(self) -> None:
        """End the process now."""
        if self.process.poll() is None:
            self.process.kill()

    def stop(self) -> None:
        """Ask the worker to quit, then make sure it has."""
        with self._state:
            self.alive = False
        self._outbox.put(pickle.dumps(Quit()))
        self._outbox.put(None)
        try:
            self.process.wait(2.0)
        except subprocess.TimeoutExpired:
            self.kill()
            self.process.wait()
        self.conn.close()


class ServiceStream:
    """One utterance on one worker (see `ivr.asr.dual.DualStream` for the operations)."""

    def __init__(self, worker: _Worker, sid: int, *, paced: bool = False) -> None:
        self.worker, self.sid, self.paced = worker, sid, paced
        self.done = False

    def feed(self, pcm: bytes) -> None:
        """Decode the next frame."""
        self.worker.send(Feed(self.sid, pcm, time.monotonic() if self.paced else None))

    def partial(self) -> DualResult:
        """Both decoders' hypotheses so far."""
        result: DualResult = self.worker.request(lambda req: Partial(self.sid, req))
        return result

    def settle(self) -> DualResult:
        """Final results for the audio so far; the stream stays open."""
        result: DualResult = self.worker.request(lambda req: Settle(self.sid, req))
        return result

    def final(self) -> DualResult:
        """Both decoders' final results; the stream ends."""
        self._end()
        result: DualResult = self.worker.request(lambda req: Final(self.sid, req))
        return result

    def close(self) -> None:
        """Abandon the utterance."""
        if not self.done:
            self._end()
            with contextlib.suppress(AsrCrash):
                self.worker.send(Close(self.sid))

    def _end(self) -> None:
        if not self.done:
            self.done = True
            self.worker.streams -= 1


class SpeechService:
    """Streams decoded in worker processes; implements `ivr.asr.Recognizer`."""

    def __init__(self, model_dir: Path, lang: Lang, config: ServiceConfig | None = None) -> None:
        self.model_dir, self.lang = model_dir, lang
        self.config = config or ServiceConfig()
        self.crashes = 0
        self._closing = False
        self._lock = threading.Lock()
        self._sids = itertools.count(1)
        self._workers = [_Worker(self, i) for i in range(max(1, self.config.workers))]
        try:
            for worker in self._workers:
                worker.ready.result(self.config.start_timeout_s)
        except (ModelError, FutureTimeout) as exc:
            self.close()
            raise ModelError(str(exc) or "recognition worker did not start in time") from None

    @property
    def vocabulary(self) -> frozenset[str]:
        """Words the model can output."""
        return read_vocabulary(self.model_dir)

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers."""
        return [w.pid for w in self._workers if w.alive and w.pid is not None]

    def _replace(self, dead: _Worker) -> None:
        with self._lock:
            if self._closing or dead not in self._workers:
                return
            self.crashes += 1
            self._workers[self._workers.index(dead)] = _Worker(self, dead.index)

    def _pick(self) -> _Worker:
        deadline = time.monotonic() + self.config.start_timeout_s
        while True:
            with self._lock:
                if self._closing:
                    raise AsrCrash("the speech service is closed")
                ready = [w for w in self._workers if w.alive and w.ready.done()
                         and w.ready.exception() is None]
                if ready:
                    worker = min(ready, key=lambda w: w.streams)
                    worker.streams += 1
                    return worker
            if time.monotonic() > deadline:
                raise AsrCrash("no recognition process is available")
            time.sleep(0.05)

    def open_stream(self, spec: StreamSpec) -> ServiceStream:
        """Start decoding one utterance on the least busy worker (a paced spec: its frames
        come at real-time pace, so their waiting time tells whether the worker keeps up)."""
        worker = self._pick()
        stream = ServiceStream(worker, next(self._sids), paced=spec.paced)
        try:
            worker.send(Open(stream.sid, spec))
        except AsrCrash:
            stream._end()
            raise
        return stream

    def recognize(self, audio: Audio, grammar: Sequence[str] | None = None) -> Utterance:
        """Decode a whole recording as one utterance (no endpointing)."""
        started = time.perf_counter()
        stream = self.open_stream(StreamSpec(tuple(grammar) if grammar else None,
                                             narrowband=audio.narrowband))
        step = FRAME_BYTES
        for start in range(0, len(audio.pcm), step):
            stream.feed(audio.pcm[start:start + step])
        result = stream.final()
        done = time.perf_counter()
        return utterance_from(result, self.lang, audio.seconds, done - started)

    def stats(self) -> list[dict[str, Any]]:
        """Per live worker: pid, resident MB, open streams, free-pool figures."""
        out = []
        for worker in list(self._workers):
            try:
                out.append(worker.request(Stats))
            except AsrCrash:
                continue
        return out

    def close(self) -> None:
        """Stop every worker."""
        with self._lock:
            self._closing = True
            workers = list(self._workers)
        for worker in workers:
            worker.stop()

    def __enter__(self) -> SpeechService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
