"""The digests recorded on this machine: trust on first use for models the catalogue does not pin.

`trusted.json` in the models directory holds, per model name, the sha256 of the zip installed
there, where it came from, when, and how it was verified the first time ("pinned" against the
catalogue, or "first-use" when nothing could be compared). Every later download of that name
must match the record. The file is copied to other machines as it is (`ivr models trust
export`), or its digests are pinned into the bank's catalogue (`ivr models pin`).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from ..errors import ModelError

__all__ = ["TRUST_FILE", "TrustRecord", "forget", "load_trust", "record", "trust_path"]

TRUST_FILE = "trusted.json"
"""The trust file's name inside the models directory."""
_SHA_RE = re.compile(r"[0-9a-f]{64}")
_HOWS = ("pinned", "first-use")


@dataclass(frozen=True)
class TrustRecord:
    """One model's digest as recorded at its first download on this machine."""

    name: str
    """The catalogue name."""
    sha256: str
    """Lower-case hex digest of the zip."""
    url: str
    """Where that zip was downloaded from."""
    recorded: str
    """When, as an ISO 8601 UTC timestamp."""
    how: Literal["pinned", "first-use"]
    """"pinned": it matched the catalogue's pin; "first-use": nothing to compare it with."""

    def __str__(self) -> str:
        return f"{self.name} sha256 {self.sha256} ({self.how}, {self.recorded}, {self.url})"


def trust_path(directory: Path) -> Path:
    """The trust file of a models directory."""
    return directory / TRUST_FILE


def load_trust(directory: Path) -> dict[str, TrustRecord]:
    """The records of a models directory, by name; empty when there is no trust file.

    Raises:
        ModelError: The file exists but is unreadable or malformed (never silently ignored:
            an ignored trust file would turn every check back into a first use).
    """
    path = trust_path(directory)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read trust file {path}: {exc}") from exc
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise ModelError(f"{path}: expected {{\"models\": {{NAME: {{\"sha256\": ...}}}}}}")
    records: dict[str, TrustRecord] = {}
    for name, fields in models.items():
        ok = isinstance(fields, dict) and set(fields) == {"sha256", "url", "recorded", "how"}
        if not ok or not _SHA_RE.fullmatch(str(fields["sha256"])) or fields["how"] not in _HOWS:
            raise ModelError(f"{path}: the record of {name!r} is malformed; "
                             "expected sha256 (64 hex digits), url, recorded, how")
        records[name] = TrustRecord(name=name, **{k: str(v) for k, v in fields.items()})  # type: ignore[arg-type]
    return records


def record(directory: Path, entry: TrustRecord) -> None:
    """Add or replace one record, writing the trust file atomically."""
    records = load_trust(directory)
    records[entry.name] = entry
    _write(directory, records)


def forget(directory: Path, name: str) -> TrustRecord:
    """Remove the record of `name` (so the next download is a first use again); return it.

    Raises:
        ModelError: There is no record of that name.
    """
    records = load_trust(directory)
    if name not in records:
        raise ModelError(f"no digest of {name!r} is recorded in {trust_path(directory)}")
    gone = records.pop(name)
    _write(directory, records)
    return gone


def _write(directory: Path, records: dict[str, TrustRecord]) -> None:
    path = trust_path(directory)
    body = {"models": {n: {k: v for k, v in asdict(r).items() if k != "name"}
                       for n, r in sorted(records.items())}}
    part = None
    try:
        fd, part = tempfile.mkstemp(dir=directory, prefix=f".{TRUST_FILE}.", suffix=".part")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(body, indent=2) + "\n")
        os.replace(part, path)
    except OSError as exc:
        raise ModelError(f"cannot write trust file {path}: {exc}") from exc
    finally:
        if part is not None:
            Path(part).unlink(missing_ok=True)
