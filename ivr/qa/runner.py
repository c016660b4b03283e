"""Replaying a suite of call scripts, in parallel across cores.

Each worker process builds one `Hotline` in its initializer — one flow, one matcher per
language, and the speech model loaded on its first audio call — and plays every call it is
given with it, so a model is loaded once per worker, never per call. With one job everything
runs in this process (and a caller may hand in a Hotline it already has). Results come back in
script order whatever order the workers finish in.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..call import CallInput, CallResult, Hotline, Speak, bank_services, call_language
from ..errors import IvrError
from ..flow import load_flow
from ..handoff import open_queue
from ..speech import SpeechConfig
from ..types import Lang
from .expect import Failure, check_call
from .redact import redact_result
from .script import CallScript

__all__ = ["CallRun", "RunConfig", "Status", "build_hotline", "resolve_langs", "run_suite"]

Status = Literal["pass", "fail", "xfail", "xpass", "unchecked", "error"]
"""How a call measured up. `unchecked`: it played, but its script expects nothing of it, so
it proves nothing — counted apart from passes, never as one."""


@dataclass(frozen=True)
class RunConfig:
    """What every worker needs to build its Hotline (plain values: sent to other processes)."""

    flow: str
    """Flow file."""
    model: str | None = None
    """Vosk model directory (None: the usual lookup)."""
    queue: str | None = None
    """Human queue file to file handoffs into (None: handoffs are not filed)."""
    backend: str | None = None
    """The bank's service URL for request steps (None: $IVR_BANK_URL, or none)."""
    warm: bool = False
    """Reuse recognisers between utterances (`DecoderConfig.warm`); off, a call's words do
    not depend on which calls the same worker played before it."""


@dataclass(frozen=True)
class CallRun:
    """One script played, and how it measured up."""

    script: CallScript
    """The script."""
    lang: Lang
    """The language it was played in."""
    result: CallResult | None
    """What the call did, masked for printing (`redact_result`); None when not played."""
    failures: tuple[Failure, ...]
    """Expectations not met."""
    status: Status
    """pass, fail, xfail (failed, as the script says it does today), xpass, unchecked (no
    expectation to check) or error."""
    error: str | None = None
    """Why it could not be played."""
    seconds: float = 0.0
    """Wall time playing it."""

    @property
    def ok(self) -> bool:
        """Does not fail the suite (on its own: a suite of only unchecked calls fails)."""
        return self.status in ("pass", "xfail", "xpass", "unchecked")


def build_hotline(cfg: RunConfig) -> Hotline:
    """A Hotline for `cfg` (the model loads on the first audio call)."""
    queue = open_queue(cfg.queue) if cfg.queue else None  # a URL or a path, as given
    speech = SpeechConfig() if cfg.warm else SpeechConfig().cold()
    return Hotline(load_flow(cfg.flow), queue=queue, model=cfg.model,
                   services=bank_services(cfg.backend), speech=speech)


_WORKER: Hotline | None = None
_Job = tuple[int, str, Lang, tuple[CallInput, ...], str | None, str | None]
_Done = tuple[int, CallResult | None, str | None, float]


def _init_worker(cfg: RunConfig) -> None:
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops the pool, quietly
    _WORKER = build_hotline(cfg)


def _play(hotline: Hotline, job: _Job) -> _Done:
    index, call_id, lang, inputs, caller, label = job
    started = time.perf_counter()
    try:
        result: CallResult | None = hotline.run(call_id, lang, inputs, caller=caller,
                                                label=label)
        error = None
    except IvrError as exc:
        result, error = None, str(exc).splitlines()[0]
    except Exception as exc:  # an engine bug in one call: reported as that call's error
        result, error = None, f"{type(exc).__name__}: {exc}"
    return index, result, error, time.perf_counter() - started


def _play_in_worker(job: _Job) -> _Done:
    if _WORKER is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker has no hotline")
    return _play(_WORKER, job)


def resolve_langs(scripts: Sequence[CallScript], default: Lang | None) -> list[Lang]:
    """Each script's language: its own, else `default`, else Korean for audio-only calls.

    Raises:
        UsageError: a script with text or keys has no language and none was given.
    """
    return [call_language(s.lang or default, s.inputs, f"{s.source}: call '{s.call_id}'")
            for s in scripts]


def _judge(script: CallScript, lang: Lang, done: _Done) -> CallRun:
    _, result, error, seconds = done
    if result is None:
        return CallRun(script, lang, None, (), "error", error, seconds)
    result = redact_result(result)  # once: every report prints from this
    failures = check_call(script, result)
    if not (script.expect or any(script.turn_expect)):
        return CallRun(script, lang, result, (), "unchecked", None, seconds)
    if script.xfail:
        status: Status = "xfail" if failures else "xpass"
    else:
        status = "fail" if failures else "pass"
    return CallRun(script, lang, result, failures, status, None, seconds)


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def run_suite(scripts: Sequence[CallScript], cfg: RunConfig, *, lang: Lang | None = None,
              jobs: int = 1, hotline: Hotline | None = None,
              on_done: Callable[[CallRun], None] | None = None) -> list[CallRun]:
    """Play every script; returns one `CallRun` per script, in script order.

    Args:
        scripts: the calls.
        cfg: flow, model and queue for the Hotlines.
        lang: language for scripts without one.
        jobs: worker processes (1: play here, in this process).
        hotline: with one job, play on this Hotline instead of building one.
        on_done: called with each run as it finishes (in finishing order), e.g. for progress.

    Raises:
        UsageError: a script has no language (see `resolve_langs`).
    """
    langs = resolve_langs(scripts, lang)
    work: list[_Job] = [(i, s.call_id, langs[i], s.inputs, s.caller, s.expected_node)
                        for i, s in enumerate(scripts)]
    # audio first: the slow calls start early, so workers finish together
    work.sort(key=lambda j: -sum(isinstance(x, Speak) for x in j[3]))
    runs: dict[int, CallRun] = {}

    def finish(done: _Done) -> None:
        run = _judge(scripts[done[0]], langs[done[0]], done)
        runs[done[0]] = run
        if on_done is not None:
            on_done(run)

    jobs = max(1, min(jobs, len(work)))
    if jobs == 1:
        local = hotline or build_hotline(cfg)
        for job in work:
            finish(_play(local, job))
    else:
        chunk = max(1, min(8, len(work) // (jobs * 8)))
        with _context().Pool(jobs, initializer=_init_worker, initargs=(cfg,)) as pool:
            for done in pool.imap_unordered(_play_in_worker, work, chunksize=chunk):
                finish(done)
    return [runs[i] for i in range(len(scripts))]
