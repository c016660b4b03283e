"""Flow size: large flows cost memory in proportion, too-large ones are refused with one line.

Issue 10 #4: 10,000 intents took 4.1 GB to route one sentence and lint was killed at 7.1 GB.
"""

from __future__ import annotations

import contextlib
import io
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz, process

import ivr.flow.confusable as confusable
from bench.synthflow import synthetic_flow
from bench.trust_flow import measure
from ivr.cli import main
from ivr.errors import FlowError
from ivr.flow import Flow
from ivr.flow.confusable import Confusion, co_active, confusions
from ivr.flow.limits import FlowLimits, check_size
from ivr.flow.loader import build_flow
from ivr.flow.yamlpos import load_located


def _flow(path: Path) -> Flow:
    root, _ = load_located(path)
    flow, problems = build_flow(root, str(path))
    assert not problems
    return flow


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _reference(flow: Flow, at_least: float) -> list[Confusion]:
    """The old, obvious way: every co-active pair, every phrase against every phrase."""
    order = {iid: k for k, iid in enumerate(flow.intents)}
    pairs: set[tuple[str, str]] = set()
    for nid, node in flow.nodes.items():
        if node.type == "menu":
            pairs.update(combinations(sorted(set(flow.intents_at(nid)), key=order.__getitem__), 2))
    found = []
    for lang in flow.languages:
        rows = confusable._keys(flow, lang)
        for a, b in sorted(pairs):
            if not rows[a] or not rows[b]:
                continue
            chars = process.cdist([r[2] for r in rows[a]], [r[2] for r in rows[b]],
                                  scorer=fuzz.ratio, workers=1)
            sound = process.cdist([r[3] for r in rows[a]], [r[3] for r in rows[b]],
                                  scorer=fuzz.ratio, workers=1)
            best = np.maximum(chars, sound) + chars / 1000.0
            i, j = divmod(int(best.argmax()), best.shape[1])
            if float(best[i, j]) >= at_least:
                ra, rb = rows[a][i], rows[b][j]
                found.append(Confusion(lang, a, b, ra[1], rb[1], rb[0],
                                       round(float(chars[i, j]), 1), round(float(sound[i, j]), 1)))
    return found


@settings(max_examples=12, deadline=None)
@given(n=st.integers(5, 120), lang=st.sampled_from(["zh", "en", "ko"]),
       seed=st.integers(0, 10_000), at_least=st.sampled_from([70.0, 85.0, 90.0]))
def test_pruned_sound_alike_search_finds_what_comparing_every_pair_finds(
        tmp_path_factory: pytest.TempPathFactory, n: int, lang: str, seed: int,
        at_least: float) -> None:
    path = tmp_path_factory.mktemp("f") / "flow.yaml"
    path.write_text(synthetic_flow(n, lang, seed=seed, phrases=3), "utf-8")
    flow = _flow(path)
    want = _reference(flow, at_least)
    assert confusions(flow, at_least=at_least) == want  # small: blocks against all earlier
    with pytest.MonkeyPatch.context() as m:
        m.setattr(confusable, "_DENSE_UP_TO", 0)  # the candidate-pruning path
        m.setattr(confusable, "_INDEX_SHARE", np.inf)
        assert confusions(flow, at_least=at_least) == want


def test_co_activity_is_menus_shared(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(synthetic_flow(1_500, "en"), "utf-8")
    flow = _flow(path)
    masks = co_active(flow)
    for a, b in [("i00009", "i00019"), ("i00009", "i00000"), ("i00009", "i00012")]:
        menus = [n for n, node in flow.nodes.items()
                 if node.type == "menu" and {a, b} <= set(flow.intents_at(n))]
        assert bool(masks[a] & masks[b]) == bool(menus), (a, b)


def test_a_phrase_list_over_the_limit_is_refused_with_one_line(tmp_path: Path) -> None:
    text = synthetic_flow(20, "en")
    many = ", ".join(f"block card number {k}" for k in range(1_001))
    path = tmp_path / "big.yaml"
    path.write_text(text.replace("phrases: {en: [", f"phrases: {{en: [{many}, ", 1), "utf-8")
    code, _, err = _cli("route", "--flow", str(path), "--lang", "en", "block my card")
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith(f"{path}:12:") and "1003 en phrases, over the limit of 1000" in err
    code, out, _ = _cli("lint", str(path))  # lint's way: the finding, then the tally
    assert code == 2
    assert out == (f"{err.rstrip().replace(': intent', ': error: intent', 1)}\n"
                   f"{path}: 1 error, 0 warnings, 0 notes\n")


def test_each_limit_names_its_count_and_place(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(synthetic_flow(30, "ko"), "utf-8")
    root, _ = load_located(path)
    check_size(root, str(path))  # within the defaults
    cases = [(FlowLimits(max_intents=29), "30 intents, over the limit of 29"),
             (FlowLimits(max_nodes=5), "nodes, over the limit of 5"),
             (FlowLimits(max_phrases_per_intent=1), "has 2 ko phrases, over the limit of 1"),
             (FlowLimits(max_phrases_per_language=59), "over 59 ko phrases in all intents")]
    for limits, message in cases:
        with pytest.raises(FlowError) as exc:
            check_size(root, str(path), limits)
        assert message in str(exc.value) and str(exc.value).endswith("refused")
        assert "\n" not in str(exc.value)


@pytest.mark.slow
def test_over_10000_intents_is_refused_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(synthetic_flow(10_001, "zh", phrases=1), "utf-8")
    code, _, err = _cli("route", "--flow", str(path), "--lang", "zh", "挂失")
    assert code == 2
    assert err == (f"{path}:11:1: 10001 intents, over the limit of 10000 "
                   "(docs/flow-format.md, 'Limits'); refused\n")


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_10000_intents_route_and_lint_in_bounded_memory(tmp_path: Path, lang: str) -> None:
    """Old code: 4.1 GB to route, over 7.1 GB to lint. Memory, not time, is asserted."""
    path = tmp_path / "flow.yaml"
    path.write_text(synthetic_flow(10_000, lang), "utf-8")
    route = measure(path, lang, 10_000, "route")
    assert route.exit_code == 0
    assert route.peak_mb < 1_000, route
    lint = measure(path, lang, 10_000, "lint")
    assert lint.exit_code in (0, 1)  # warnings: the made-up phrases have near twins
    assert lint.peak_mb < 1_000, lint
