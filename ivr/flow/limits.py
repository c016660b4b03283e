"""How large a flow may be: a flow beyond these is refused with one line, before anything is built.

The file caps (ivr.flow.yamlpos.Limits: bytes, values, depth, aliases) stop hostile YAML; these
stop a well-formed flow too large to route and lint in bounded memory and time. Matcher and
lint memory grow about linearly with the phrases of one language (`python -m
ivr.bench.trust_flow`, bench/results/trust_flow.md): 10,000 intents with two phrases each
route and lint in well under 1 GB. Lint time at the limit depends on how alike the phrases are:
pairs that share no rare bigram are skipped, but phrases from one template are all compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import FlowError, FlowProblem
from .yamlpos import LDict, LList, pos_of

__all__ = ["FLOW_LIMITS", "FlowLimits", "check_size"]


@dataclass(frozen=True)
class FlowLimits:
    """The most a flow may hold."""

    max_intents: int = 10_000
    """Intents in the flow."""
    max_nodes: int = 10_000
    """Nodes in the flow."""
    max_phrases_per_intent: int = 1_000
    """Example phrases of one intent in one language (the bank flow has at most 118)."""
    max_phrases_per_language: int = 20_000
    """Example phrases of all intents in one language (the bank flow has about 1,800)."""


FLOW_LIMITS = FlowLimits()


def _refuse(path: str, at: tuple[int, int], message: str) -> FlowError:
    return FlowError(FlowProblem(path, *at, f"{message} (docs/flow-format.md, 'Limits'); "
                                            "refused"))


def _key(top: LDict, key: str) -> tuple[int, int]:
    """(line, col) of a top-level key."""
    pos = top.key_pos.get(key)
    return pos_of(top) if pos is None else (pos.line, pos.col)


def check_size(root: Any, path: str, limits: FlowLimits = FLOW_LIMITS) -> None:
    """Refuse a flow with more intents, nodes or phrases than `limits` allow.

    Raises:
        FlowError: the first limit passed, at the place that passes it.
    """
    if not isinstance(root, LDict):
        return
    for key, most in (("intents", limits.max_intents), ("nodes", limits.max_nodes)):
        raw = root.get(key)
        if isinstance(raw, LDict) and len(raw) > most:
            raise _refuse(path, _key(root, key), f"{len(raw)} {key}, over the limit of {most}")
    intents = root.get("intents")
    if not isinstance(intents, LDict):
        return
    total: dict[str, int] = {}
    for iid, intent in intents.items():
        phrases = intent.get("phrases") if isinstance(intent, LDict) else None
        if not isinstance(phrases, LDict):
            continue
        for lang, items in phrases.items():
            if not isinstance(items, LList):
                continue
            if len(items) > limits.max_phrases_per_intent:
                raise _refuse(path, pos_of(items), f"intent '{iid}' has {len(items)} {lang} "
                              f"phrases, over the limit of {limits.max_phrases_per_intent}")
            total[lang] = total.get(lang, 0) + len(items)
            if total[lang] > limits.max_phrases_per_language:
                raise _refuse(path, _key(root, "intents"), f"over "
                              f"{limits.max_phrases_per_language} {lang} phrases in all intents, "
                              "the limit")
