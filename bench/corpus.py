"""Labelled caller sentences for measuring intent understanding (tests/data/intents/*.yaml).

Each file lists, per intent, a `tune` part (may be looked at while tuning) and a `heldout` part
(only for reporting), plus out-of-scope sentences that must not be routed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import yaml

from ivr.errors import UsageError
from ivr.types import Lang

__all__ = ["OUT_OF_SCOPE", "Example", "load_corpus"]

OUT_OF_SCOPE = "out_of_scope"
"""The label of sentences no node serves."""


@dataclass(frozen=True)
class Example:
    """One labelled sentence."""

    text: str
    """What the caller said (as a recogniser would hand it over)."""
    label: str
    """Intent id, or OUT_OF_SCOPE."""
    lang: Lang
    """Language."""
    split: str
    """tune or heldout."""
    corpus: str
    """File stem, e.g. "zh_homophones"."""


def load_corpus(path: Path, splits: tuple[str, ...] = ("heldout",)) -> list[Example]:
    """Examples of the given splits from one corpus file."""
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: cannot read corpus ({exc})") from None
    lang = cast(Lang, data["lang"])
    out: list[Example] = []
    groups = dict(data.get("intents") or {})
    groups[OUT_OF_SCOPE] = data.get("out_of_scope") or {}
    for label, parts in groups.items():
        for split in splits:
            out.extend(Example(str(t), label, lang, split, path.stem)
                       for t in (parts or {}).get(split) or ())
    return out
