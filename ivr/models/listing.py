"""`ivr models list`: every catalogued model, how its digest is known, and where it is installed."""

from __future__ import annotations

from pathlib import Path

from .catalog import Catalog, ModelEntry
from .find import EMBEDDED_NAME, embedded_model, is_model_dir, models_dir
from .trust import load_trust

__all__ = ["format_model_list", "list_models"]


def list_models(
    catalog: Catalog | None = None, directory: Path | None = None
) -> list[tuple[ModelEntry, Path | None]]:
    """Every catalogued model with its installed directory (or None), then the embedded model.

    Args:
        catalog: The catalogue; `Catalog.load()` by default.
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


def format_model_list(rows: list[tuple[ModelEntry, Path | None]],
                      recorded: frozenset[str] = frozenset()) -> str:
    """A table for `ivr models list`: name, language, rate, size, digest, where installed.

    The SHA256 column says how a download is verified: "pinned" (against the catalogue),
    "recorded" (against the digest recorded here at the first download), "first-use" (nothing
    yet: the first download records it), "package" (installed by pip, which checks it).

    Args:
        rows: From `list_models`.
        recorded: Names with a digest recorded in the models directory's trust file.
    """
    def size(mb: int) -> str:
        return f"{mb / 1000:.1f} GB" if mb >= 1000 else f"{mb} MB"

    def how(entry: ModelEntry) -> str:
        if entry.sha256:
            return "pinned"
        if entry.url == "":
            return "package"
        return "recorded" if entry.name in recorded else "first-use"

    table = [("NAME", "LANG", "RATE", "SIZE", "SHA256", "INSTALLED")]
    for entry, path in rows:
        table.append((entry.name, entry.lang, f"{entry.sample_rate // 1000} kHz",
                      size(entry.size_mb), how(entry), str(path) if path is not None else "-"))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in table
    )


def recorded_names(directory: Path | None = None) -> frozenset[str]:
    """The names with a digest recorded in the trust file of `directory` (`models_dir()`)."""
    return frozenset(load_trust(directory if directory is not None else models_dir()))
