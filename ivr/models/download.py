"""Downloading a catalogued model: fetch, verify the sha256, unpack, rename into place.

What the digest is checked against, in order:

1. the catalogue's pin (`sha256:` in the shipped catalogue or the bank's, `--catalog FILE` /
   `$IVR_CATALOG`): a mismatch is refused;
2. else the digest recorded on this machine at the first download of that name
   (`trusted.json` in the models directory): a mismatch is refused;
3. else nothing: this is the first use, the digest is recorded and shown so that someone checks
   it against a second source and pins it (`ivr models pin`). `require_pinned` refuses this case.

The zip streams to a temporary file beside the destination and is unpacked in a temporary
directory renamed into place in one step, so a model directory is either complete or absent;
a refused file is deleted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from ..errors import ModelError
from .catalog import Catalog, ModelEntry
from .fetch import fetch, unpack
from .find import is_model_dir, models_dir
from .trust import TrustRecord, load_trust, record, trust_path

__all__ = ["download"]


def download(
    name: str,
    *,
    dest: Path | None = None,
    url: str | None = None,
    progress: TextIO | None = sys.stderr,
    require_pinned: bool = False,
    timeout: float = 30,
    catalog: Catalog | None = None,
) -> Path:
    """Download, verify and unpack a catalogued model into `dest/NAME` (see the module doc).

    Args:
        name: A catalogue name, e.g. "vosk-model-small-cn-0.22".
        dest: The models directory; `models_dir()` by default. Its `trusted.json` holds the
            digests recorded here.
        url: Where to fetch the zip; by default `$IVR_MODEL_MIRROR/NAME.zip` when that is set,
            else the catalogue's URL. The digest is checked whatever the source.
        progress: Where the progress bar and the verification line go; None for silence.
        require_pinned: Refuse a model whose digest the catalogue does not pin.
        timeout: Seconds to wait on the network for any one step.
        catalog: The catalogue to look `name` up in; `Catalog.load()` by default.

    Returns:
        The model directory. One that is already present is returned without downloading.

    Raises:
        ModelError: Unknown name, unpinned digest with `require_pinned`, network failure,
            digest mismatch (with the pin or the record), unsafe or invalid archive. Nothing
            is left behind in `dest` on failure.
    """
    catalog = catalog if catalog is not None else Catalog.load()
    entry = catalog.get(name)
    dest = dest if dest is not None else models_dir()
    target = dest / entry.name
    if target.exists():
        if not is_model_dir(target):
            raise ModelError(f"{target} exists but is not a Vosk model: remove it and retry")
        return target
    if entry.sha256 is None and require_pinned:
        raise ModelError(f"{entry.name} has no sha256 pinned in {catalog.label} and "
                         "--require-pinned was given: pin a checked digest with `ivr models pin`")
    trusted = load_trust(dest).get(entry.name)
    if url is None:
        mirror = os.environ.get("IVR_MODEL_MIRROR", "")
        url = f"{mirror.rstrip('/')}/{entry.name}.zip" if mirror != "" else entry.url
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create models directory {dest}: {exc}") from exc
    with contextlib.ExitStack() as cleanup:
        fd, part = tempfile.mkstemp(dir=dest, prefix=f".{entry.name}.", suffix=".zip.part")
        cleanup.callback(Path(part).unlink, missing_ok=True)
        with os.fdopen(fd, "wb") as out:
            got = fetch(url, out, entry.name, progress, timeout)
        verdict = _verify(entry, got, url, catalog.label, trusted, dest)
        unpack_dir = Path(tempfile.mkdtemp(dir=dest, prefix=f".{entry.name}.", suffix=".unpack"))
        cleanup.callback(shutil.rmtree, unpack_dir, ignore_errors=True)
        root = unpack(Path(part), unpack_dir, f"{entry.name}.zip from {url}")
        root.chmod(0o755)  # mkdtemp makes 0700 directories
        if trusted is None or trusted.sha256 != got:
            when = datetime.now(UTC).isoformat(timespec="seconds")
            pinned = entry.sha256 is not None
            record(dest, TrustRecord(entry.name, got, url, when,
                                     "pinned" if pinned else "first-use"))
        if progress is not None:
            progress.write(verdict + "\n")
        try:
            root.rename(target)
        except OSError as exc:
            if is_model_dir(target):  # another download finished first
                return target
            raise ModelError(f"cannot move the unpacked model to {target}: {exc}") from exc
    if progress is not None:
        progress.write(f"{entry.name}: installed in {target}\n")
    return target


def _verify(entry: ModelEntry, got: str, url: str, label: str, trusted: TrustRecord | None,
            dest: Path) -> str:
    """The line saying how `got` was verified; ModelError when it does not match."""
    source = f"{entry.name}.zip from {url}"
    if entry.sha256 is not None:
        if got != entry.sha256:
            raise ModelError(f"{source} failed its checksum: expected sha256 {entry.sha256} "
                             f"(pinned in {label}), got {got}; the file was discarded")
        return f"{entry.name}: sha256 {got} matches the digest pinned in {label}: verified"
    where = trust_path(dest)
    if trusted is not None:
        if got != trusted.sha256:
            raise ModelError(
                f"{source} is not the file first downloaded here: expected sha256 "
                f"{trusted.sha256} (recorded in {where} on {trusted.recorded}), got {got}; the "
                f"file was discarded. If the publisher really changed it, check the new file "
                f"with them, then run `ivr models trust forget {entry.name}` and download again"
            )
        return (f"{entry.name}: sha256 {got} matches the digest recorded in {where} at its "
                f"first download on {trusted.recorded}: the same file as then (not pinned in "
                f"{label})")
    return (f"first download of {entry.name}: sha256 {got} recorded in {where}. Trusted on "
            f"first use: {label} pins no digest for it, so nothing was compared. Check this "
            f"digest against a second source, then pin it for every machine with `ivr models "
            f"pin {entry.name} --catalog FILE` (later downloads here must match it)")
