"""Pretrained English sentence vectors: WordLlama's static token embeddings, average-pooled.

WordLlama (MIT, github.com/dleemiller/WordLlama) ships one model inside its wheel: the
256-dimension "l2_supercat" token embeddings (16 MB, Llama 2 tokenizer), trained so that the
mean of a sentence's token vectors places paraphrases near each other. No network, no GPU,
no torch: a tokenizer, a lookup and a mean, ~0.3 ms per utterance one at a time on a busy
core. Loading (importing wordllama, tokenizers, pydantic, requests, and the 16 MB table) takes
~0.6 s idle, 2-3 s on a loaded 2-core machine, once per process that scores English.

Why this one (CV on BANKING77's train.csv, 10 sentences per intent, 2 folds; `python -m
bench.banking77 --tune`): the classifier's TF-IDF n-grams alone 71.9 %, spaCy's
en_core_web_md word vectors added 73.5-73.9 %, these sentence vectors alone 77.6 %, added
to the n-grams 77.1 % (weight 1) to 78.2 % (weight 2); with so few phrases the classifier weighs
them 2.5 (classifier.vector_weight; 1.0 from 100 phrases per intent); bench/results/
banking77_tune.md. A few paraphrases per intent share few words with the caller's; the
vectors carry what the words mean.

The model is read from the installed package only (`disable_download`): a machine without
it fails at once with a clear message rather than reaching for the network.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DIM", "EmbeddingUnavailable", "sentence_vectors"]

DIM = 256
"""Width of one sentence vector."""

_NUMBER = re.compile(r"[0-9*#][0-9*#.,:/ -]*[0-9*#]|[0-9]")
"""A run of digits (a card number read out, 4111 1111 ..., or masked, ****1111; an amount,
a date) is left out of the text embedded (the n-gram blocks still see it). Each digit is a
token of its own to the tokenizer, so a card number outweighed the words around it: "my card
number is 4111 1111 1111 1111 and I want a real person" went from human_agent 0.95 to a
reprompt (out-of-scope 0.93); as " number " it still only reached a confirm (0.80)."""


class EmbeddingUnavailable(RuntimeError):
    """The packaged WordLlama model could not be loaded."""


@lru_cache(maxsize=1)
def _model() -> Any:
    import logging

    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError as exc:
        raise EmbeddingUnavailable(f"wordllama is not installed ({exc})") from exc
    # the wheel keeps its model in weights/ and tokenizers/ beside the code: that folder is the
    # "cache", and downloads are off, so a missing file is an error, never a network call
    logging.getLogger("wordllama").setLevel(logging.WARNING)
    try:
        return WordLlama.load(config="l2_supercat", dim=DIM,
                              cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    except (OSError, ValueError) as exc:
        raise EmbeddingUnavailable(f"wordllama's packaged model: {exc}") from exc


def sentence_vectors(texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """One unit-length vector per text (a text with no known token: all zeros); a run of
    digits is left out."""
    if not texts:
        return np.zeros((0, DIM))
    words = [_NUMBER.sub(" ", t) for t in texts]
    raw = np.asarray(_model().embed(words, norm=False), dtype=np.float64)
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    out: np.ndarray[Any, np.dtype[np.float64]] = np.nan_to_num(np.divide(
        raw, norms, out=np.zeros_like(raw), where=norms > 1e-12))
    return out
