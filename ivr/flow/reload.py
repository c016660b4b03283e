"""Hot reload for long-running processes: the latest good flow, for new calls.

`FlowReloader.current()` looks at the flow file and its overlay files at most every
`check_every` seconds (size, mtime and a SHA-256 of the content). A changed set of files that
lints without errors replaces the flow; one with errors is logged (once per change) and the
old flow stays. When an overlay's active window opens or closes, the flow is rebuilt too. Calls
in progress are untouched: they hold the Flow they started with, and a Flow never changes.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..errors import FlowError, FlowErrors, FlowProblem
from .lint import lint_flow
from .loader import load_flow
from .model import Flow
from .overlay import Overlay, apply_overlays, listed_missing, load_overlays, overlay_files

__all__ = ["FlowReloader"]

log = logging.getLogger("ivr.flow.reload")

Stamp = tuple[int, int, str] | None


def _stamp(path: str, limit: int = 2_000_000) -> Stamp:
    digest = hashlib.sha256()
    try:
        st = Path(path).stat()
        with open(path, "rb") as f:
            while chunk := f.read(65536):
                digest.update(chunk)
                limit -= len(chunk)
                if limit < 0:
                    break
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, digest.hexdigest()


@dataclass(frozen=True)
class _Attempt:
    flow: Flow | None
    """The new flow, or None if it was refused."""
    layers: tuple[Overlay, ...] = ()
    """The overlays read (all of them, active or not)."""
    problems: tuple[FlowProblem, ...] = ()
    """Why it was refused."""
    stamps: dict[str, Stamp] = field(default_factory=dict)
    """The files as they were before reading."""


class FlowReloader:
    """The latest good Flow of a file and its overlays, checked again now and then."""

    def __init__(self, path: str | Path, overlays: Iterable[str | Path] = (), *,
                 region: str | None = None, check_every: float = 1.0,
                 clock: Callable[[], datetime] | None = None) -> None:
        """Load the flow now; raises FlowErrors if there is no good flow to start with.

        Args:
            path: The flow file.
            overlays: Overlay files besides those the flow lists.
            region: Region for regional overlays (None: only overlays for everywhere).
            check_every: Seconds between looks at the files (0: every call to `current`).
            clock: The time for overlay windows (default: now, UTC).
        """
        self.path = str(path)
        self.extra = tuple(str(p) for p in overlays)
        self.region = region
        self.check_every = check_every
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        self._rejected: dict[str, Stamp] | None = None
        first = self._load(None)
        if first.flow is None:
            raise FlowErrors(list(first.problems))
        self._flow: Flow = first.flow
        self._layers, self._stamps = first.layers, first.stamps

    def _files(self, base: Flow | None) -> list[str]:
        return [self.path, *(overlay_files(base, self.extra) if base else self.extra)]

    def _load(self, previous: Flow | None) -> _Attempt:
        """Lint, then build."""
        stamps = {f: _stamp(f) for f in self._files(previous)}
        report = lint_flow(self.path, self.extra)
        errors = tuple(f.problem for f in report.findings if f.level == "error")
        if errors:
            return _Attempt(None, problems=errors, stamps=stamps)
        try:
            base = load_flow(self.path)
            missing = listed_missing(base)
            if missing:
                raise FlowErrors(missing)
            files = overlay_files(base, self.extra)
            stamps.update({f: _stamp(f) for f in files if f not in stamps})
            layers = tuple(load_overlays(files))
            flow = apply_overlays(base, layers, now=self._clock(), region=self.region)
        except FlowError as exc:
            return _Attempt(None, problems=(exc.problem,), stamps=stamps)
        except FlowErrors as exc:
            return _Attempt(None, problems=tuple(exc.problems), stamps=stamps)
        return _Attempt(flow, layers, (), {f: stamps.get(f) for f in self._files(flow)})

    def current(self) -> Flow:
        """The flow new calls should use."""
        if time.monotonic() - self._checked >= self.check_every:
            with self._lock:
                self._checked = time.monotonic()
                self._refresh()
        return self._flow

    def _refresh(self) -> None:
        stamps = {f: _stamp(f) for f in self._files(self._flow)}
        changed = stamps != self._stamps
        if changed and stamps == self._rejected:
            return  # already refused and logged
        now = self._clock()
        active = tuple(o.name for o in self._layers if o.is_active(now, self.region))
        if not changed and active == self._flow.overlays:
            return
        attempt = self._load(self._flow)
        if attempt.flow is None:
            self._rejected = attempt.stamps
            log.warning("flow %s not reloaded, keeping the one loaded before: %d error(s), "
                        "first: %s", self.path, len(attempt.problems), attempt.problems[0])
            return
        old = self._flow.overlays
        self._flow, self._layers, self._stamps = attempt.flow, attempt.layers, attempt.stamps
        self._rejected = None
        log.info("flow %s %s (overlays: %s, were: %s)", self.path,
                 "reloaded" if changed else "rebuilt", ", ".join(self._flow.overlays) or "none",
                 ", ".join(old) or "none")
