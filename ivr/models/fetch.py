"""Fetching a model zip over HTTP(S) with a progress display, and unpacking it safely."""

from __future__ import annotations

import hashlib
import re
import time
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO, TextIO

from ..errors import ModelError
from .find import is_model_dir

__all__ = ["fetch", "unpack"]

_DRIVE_RE = re.compile(r"[A-Za-z]:")
_CHUNK = 64 * 1024


class _Progress:
    """A bar rewritten in place with \\r on a terminal; elsewhere a plain line per 10%."""

    def __init__(self, stream: TextIO | None, name: str, total: int | None) -> None:
        self.stream, self.name, self.total = stream, name, total
        self.tty = stream is not None and stream.isatty()
        self.start = self.last = time.monotonic()
        self.done = self.next_step = self.width = 0
        self.shown = -1  # bytes done when the last plain line was written

    def update(self, size: int, *, final: bool = False) -> None:
        self.done += size
        now = time.monotonic()
        if self.stream is None:
            return
        if self.tty and (final or now - self.last >= 0.1):
            self.last, line = now, self._line(now, bar=True)
            self.width = max(self.width, len(line))
            self.stream.write("\r" + line.ljust(self.width) + ("\n" if final else ""))
            self.stream.flush()
        elif not self.tty:  # every 10%, or every 8 MiB when the length is unknown
            step = self.done * 10 // self.total if self.total else self.done >> 23
            if step >= self.next_step or (final and self.shown != self.done):
                self.next_step, self.shown = step + 1, self.done
                self.stream.write(self._line(now, bar=False) + "\n")

    def _line(self, now: float, *, bar: bool) -> str:
        rate = f"{self.done / max(now - self.start, 1e-3) / 1e6:.1f} MB/s"
        if not self.total:
            return f"{self.name} {self.done / 1e6:.1f} MB {rate}"
        pct = min(100, 100 * self.done // self.total)
        drawn = f"[{'#' * (pct // 5)}{'.' * (20 - pct // 5)}] " if bar else ""
        mb = f"{self.done / 1e6:.1f}/{self.total / 1e6:.1f} MB"
        return f"{self.name} {drawn}{pct:3d}% {mb} {rate}"


def fetch(url: str, out: BinaryIO, name: str, progress: TextIO | None, timeout: float) -> str:
    """Stream `url` into the open file `out`; return the sha256 hex digest."""
    import http.client
    import urllib.error
    import urllib.request

    if not url.startswith(("https://", "http://", "file://")):
        raise ModelError(f"cannot download {url}: only http(s):// and file:// URLs are supported")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None and length.isdigit() else None
            bar = _Progress(progress, name, total)
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
            if total is not None and bar.done != total:
                why = f"connection closed after {bar.done} of {total} bytes"
                raise ModelError(f"cannot download {url}: {why}")
            bar.update(0, final=True)
    except urllib.error.HTTPError as exc:
        error: BaseException = exc
        why = f"HTTP {exc.code} {exc.reason}"
    except (OSError, http.client.HTTPException) as exc:
        error = exc
        cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        timed_out = isinstance(cause, TimeoutError)
        why = f"no answer within {timeout:g} s" if timed_out else str(cause) or repr(cause)
    else:
        return digest.hexdigest()
    raise ModelError(f"cannot download {url}: {why}") from error


def unpack(archive: Path, into: Path, label: str) -> Path:
    """Extract `archive` into `into`, refusing unsafe member names; return the model root."""
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                parts = PurePosixPath(member.replace("\\", "/")).parts
                if member.startswith(("/", "\\")) or ".." in parts or _DRIVE_RE.match(member):
                    raise ModelError(f"{label}: refusing unsafe path {member!r} in the archive")
            zf.extractall(into)
    except zipfile.BadZipFile as exc:
        raise ModelError(f"{label}: not a valid zip archive ({exc})") from exc
    if is_model_dir(into):
        return into
    inner = [p for p in into.iterdir() if p.is_dir() and is_model_dir(p)]
    if len(inner) != 1:
        raise ModelError(f"{label}: the archive holds no Vosk model (am/final.mdl, conf/, graph/)")
    return inner[0]
