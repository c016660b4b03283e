"""The matcher's memory grows with the phrases, not with vocabulary x intents (issue 10 #4)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.synthflow import synthetic_flow
from ivr.flow.loader import build_flow
from ivr.flow.yamlpos import load_located
from ivr.nlu.matcher import IntentMatcher, _Csr


@settings(max_examples=50, deadline=None)
@given(rows=st.lists(st.lists(st.integers(0, 30), max_size=8, unique=True), min_size=1,
                     max_size=20),
       data=st.data())
def test_sparse_rows_sum_like_the_dense_matrix(rows: list[list[int]], data: st.DataObject) -> None:
    picked = data.draw(st.lists(st.integers(0, len(rows) - 1), unique=True))
    weights = np.array(data.draw(st.lists(st.floats(0, 10), min_size=len(picked),
                                          max_size=len(picked))), dtype=np.float64)
    dense = np.zeros((len(rows), 31))
    for k, row in enumerate(rows):
        dense[k, row] = 1.0
    got = _Csr(rows).weighted_sum(np.array(picked, dtype=np.intp), weights, 31)
    np.testing.assert_allclose(got, weights @ dense[picked], rtol=1e-12, atol=1e-12)


def test_3000_intents_build_in_memory_proportional_to_phrases(tmp_path: Path) -> None:
    """Old code: a dense vocabulary x intents float64 matrix, ~0.5 GB here."""
    path = tmp_path / "flow.yaml"
    path.write_text(synthetic_flow(3_000, "en"), "utf-8")
    root, _ = load_located(path)
    flow, _ = build_flow(root, str(path))
    examples = {i: it.phrases["en"] for i, it in flow.intents.items()}
    tracemalloc.start()
    try:
        matcher = IntentMatcher(examples, "en")
        scores = matcher.score("i want to freeze my gold card limit", allowed=list(examples))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"peak {peak / 2**20:.0f} MB")
    assert peak < 120 * 2**20, peak / 2**20
    assert scores.top is not None and len(scores.candidates) == 3_000
