"""Fitted classifiers kept on disk per flow digest, so loading a flow does not refit them.

Fitting the classifier (ivr/nlu/classifier.py) takes about 1 s per language on an idle core
and 5-6 s on a busy 2-core machine; `ivr route` and every worker would pay that at start.
The fitted model is stored under the cache folder ($IVR_CACHE, else $XDG_CACHE_HOME/ivr, else
~/.cache/ivr; `IVR_CACHE=off` turns the cache off) in `classifier/<digest>.pickle`, where the
digest covers everything the fit depends on: the phrases per intent (and those borrowed from
English), the language, the configuration, this module's format version and the scikit-learn,
numpy and wordllama (the English sentence vectors) versions.

A pickle runs code when loaded, so only a file this user owns, in a folder this user owns,
that nobody else may write, is loaded; anything else (or any error reading it) means a
refit. Writes go to a temporary file renamed into place (a crash leaves no half file).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from ..types import Lang
from .classifier import ClassifierConfig, IntentClassifier

__all__ = ["cached_classifier", "classifier_cache_dir"]

_FORMAT = 3
"""Bumped whenever IntentClassifier's fitted state changes shape."""


def classifier_cache_dir() -> Path | None:
    """The folder of cached classifiers, or None when the cache is off."""
    configured = os.environ.get("IVR_CACHE", "")
    if configured == "off":
        return None
    if configured:
        return Path(configured) / "classifier"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ivr" / "classifier"


def _digest(examples: Mapping[str, Sequence[str]], lang: Lang, config: ClassifierConfig,
            borrowed: Mapping[str, Sequence[str]]) -> str:
    from importlib.metadata import PackageNotFoundError, version

    import numpy
    import sklearn

    try:
        vectors = version("wordllama")
    except PackageNotFoundError:
        vectors = "none"
    key = json.dumps([_FORMAT, lang, asdict(config), sklearn.__version__, numpy.__version__,
                      vectors,
                      sorted((i, list(p)) for i, p in examples.items()),
                      sorted((i, list(p)) for i, p in borrowed.items())], ensure_ascii=False)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _trusted(path: Path) -> bool:
    """Owned by this user and writable by nobody else (the file and its folder)."""
    for p in (path, path.parent):
        st = p.stat()
        if st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False
    return True


def cached_classifier(examples: Mapping[str, Sequence[str]], lang: Lang,
                      fit: Callable[[], IntentClassifier],
                      config: ClassifierConfig | None = None,
                      borrowed: Mapping[str, Sequence[str]] | None = None) -> IntentClassifier:
    """The classifier for these phrases (and `borrowed` ones, see IntentClassifier): from the
    cache when there, else `fit()` and store."""
    folder = classifier_cache_dir()
    if folder is None:
        return fit()
    digest = _digest(examples, lang, config or ClassifierConfig(), borrowed or {})
    path = folder / f"{digest}.pickle"
    try:
        if path.is_file() and _trusted(path):
            with path.open("rb") as fh:
                model = pickle.load(fh)
            if isinstance(model, IntentClassifier):
                return model
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError,
            ValueError, TypeError):
        pass
    model = fit()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:  # a read-only home: the fit still serves this process
        pass
    return model
