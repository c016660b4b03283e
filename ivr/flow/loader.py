"""Load a flow file and check it whole: every problem at once, each as file:line:col: message."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from rapidfuzz import fuzz, process

from ..errors import FlowErrors, FlowProblem
from ..types import LANGS, Lang, Priority
from .model import NODE_TYPES, Flow, Intent, Node, Settings
from .yamlpos import LBool, LDict, LList, LStr, load_located, pos_of

__all__ = ["SYSTEM_PROMPTS", "load_flow", "suggest"]

SYSTEM_PROMPTS = ("confirm", "reprompt", "no_input", "handoff")
_PRIORITIES = {p.name.lower(): p for p in Priority}
_TOP_KEYS = ("flow", "languages", "start", "settings", "queues", "prompts", "confirm_words",
             "intents", "nodes")
_NODE_KEYS = ("type", "prompt", "intents", "dtmf", "on_fail", "queue", "priority", "next")
_INTENT_KEYS = ("target", "global", "label", "phrases")
_SETTING_KEYS = ("accept", "confirm", "margin", "max_retries", "max_low_confidence",
                 "fallback_queue")


def suggest(word: str, known: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest known name, or ''."""
    best = process.extractOne(word, list(known), scorer=fuzz.ratio, score_cutoff=60)
    return f" (did you mean '{best[0]}'?)" if best else ""


class _Checker:
    """Collects problems while turning located YAML into a Flow."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[FlowProblem] = []

    def add(self, where: Any, message: str, default: tuple[int, int] = (1, 1)) -> None:
        line, col = pos_of(where, default)
        self.problems.append(FlowProblem(self.path, line, col, message))

    def mapping(self, value: Any, what: str, parent: Any = None) -> LDict:
        if isinstance(value, LDict):
            return value
        if value is None:
            if parent is not None:
                self.add(parent, f"{what} is missing")
        else:
            self.add(value, f"{what} must be a mapping")
        return LDict()

    def unknown_keys(self, d: LDict, allowed: tuple[str, ...], what: str) -> None:
        for key, (line, col) in d.key_pos.items():
            if key not in allowed:
                self.problems.append(FlowProblem(
                    self.path, line, col, f"unknown key '{key}' in {what}{suggest(key, allowed)}"))

    def string(self, d: LDict, key: str, what: str, required: bool = True) -> str | None:
        value = d.get(key)
        if value is None or (not isinstance(value, LStr) and not value):
            if required:
                self.add(d, f"{what}: '{key}' is missing")
            return None
        if not isinstance(value, LStr):
            self.add(value, f"{what}: '{key}' must be a string, got {value!r} "
                            "(quote it: YAML reads yes/no/on/off as booleans)")
            return None
        return str(value)

    def per_lang(self, value: Any, langs: tuple[Lang, ...], what: str,
                 where: Any) -> dict[Lang, str]:
        out: dict[Lang, str] = {}
        if not isinstance(value, LDict):
            self.add(value if value is not None else where,
                     f"{what} is missing" if value is None else f"{what} must map language to text")
            return out
        for lang in langs:
            text = value.get(lang)
            if not isinstance(text, LStr) or not text.strip():
                self.add(value, f"{what}: missing text for language '{lang}'")
            else:
                out[lang] = str(text)
        return out

    def phrase_lists(self, value: Any, langs: tuple[Lang, ...], what: str,
                     where: Any) -> dict[Lang, tuple[str, ...]]:
        out: dict[Lang, tuple[str, ...]] = {}
        if not isinstance(value, LDict):
            self.add(value if value is not None else where, f"{what} is missing or not a mapping")
            return out
        for lang in langs:
            items = value.get(lang)
            if not isinstance(items, LList) or not items:
                self.add(value, f"{what}: no phrases for language '{lang}'")
                continue
            good = []
            for item in items:
                if isinstance(item, LStr) and item.strip():
                    good.append(str(item))
                else:
                    hint = (" (YAML reads it as a boolean: quote it)" if isinstance(item, LBool)
                            else "")
                    self.add(item, f"{what}: phrase {item!r} must be non-empty text{hint}",
                             pos_of(items))
            out[lang] = tuple(good)
        return out

    def number(self, d: LDict, key: str, default: float, lo: float, hi: float,
               integer: bool = False) -> float:
        if key not in d:
            return default
        value = d[key]
        ok = isinstance(value, int | float) and not isinstance(value, bool | LBool)
        if ok and integer and not float(value).is_integer():
            ok = False
        if not ok or not lo <= float(value) <= hi:
            kind = "an integer" if integer else "a number"
            self.add(value, f"settings: '{key}' must be {kind} in [{lo:g}, {hi:g}], got {value!r}")
            return default
        return float(value)


def _settings(c: _Checker, raw: LDict) -> Settings:
    c.unknown_keys(raw, _SETTING_KEYS, "settings")
    accept = c.number(raw, "accept", 0.80, 0.0, 1.0)
    confirm = c.number(raw, "confirm", 0.55, 0.0, 1.0)
    if confirm > accept:
        c.add(raw.get("confirm", raw), f"settings: confirm threshold {confirm:g} is above the "
                                       f"accept threshold {accept:g}")
    fallback = c.string(raw, "fallback_queue", "settings", required=False) or "general"
    return Settings(
        accept=accept, confirm=confirm,
        margin=c.number(raw, "margin", 0.08, 0.0, 1.0),
        max_retries=int(c.number(raw, "max_retries", 2, 0, 10, integer=True)),
        max_low_confidence=int(c.number(raw, "max_low_confidence", 2, 1, 10, integer=True)),
        fallback_queue=fallback,
    )


def _queues(c: _Checker, raw: LDict) -> dict[str, Priority]:
    out: dict[str, Priority] = {}
    for name, spec in raw.items():
        spec = c.mapping(spec, f"queue '{name}'")
        prio = spec.get("priority", LStr("normal"))
        if str(prio) not in _PRIORITIES:
            c.add(prio, f"queue '{name}': priority must be one of {', '.join(_PRIORITIES)}"
                        f"{suggest(str(prio), _PRIORITIES)}", pos_of(spec))
            out[name] = Priority.NORMAL
        else:
            out[name] = _PRIORITIES[str(prio)]
    return out


def _languages(c: _Checker, top: LDict) -> tuple[Lang, ...]:
    raw = top.get("languages")
    if not isinstance(raw, LList) or not raw:
        c.add(raw if raw is not None else top, "'languages' must list at least one of zh, en, ko")
        return ("zh", "en", "ko")
    langs: list[Lang] = []
    for item in raw:
        if str(item) not in LANGS:
            c.add(item, f"unknown language '{item}' (known: {', '.join(LANGS)})")
        else:
            langs.append(cast(Lang, str(item)))
    return tuple(langs)


def _intent(c: _Checker, iid: str, raw: LDict, langs: tuple[Lang, ...], line: int) -> Intent:
    c.unknown_keys(raw, _INTENT_KEYS, f"intent '{iid}'")
    target = c.string(raw, "target", f"intent '{iid}'", required=False) or iid
    glob = raw.get("global", True)
    if not isinstance(glob, bool | LBool):
        c.add(glob, f"intent '{iid}': 'global' must be true or false")
    return Intent(
        id=iid, target=target, is_global=bool(glob),
        label=c.per_lang(raw.get("label"), langs, f"intent '{iid}' label", raw),
        phrases=c.phrase_lists(raw.get("phrases"), langs, f"intent '{iid}' phrases", raw),
        line=line,
    )


def _node(c: _Checker, nid: str, raw: LDict, langs: tuple[Lang, ...], line: int) -> Node:
    c.unknown_keys(raw, _NODE_KEYS, f"node '{nid}'")
    ntype = c.string(raw, "type", f"node '{nid}'") or "menu"
    if ntype not in NODE_TYPES:
        c.add(raw.get("type"), f"node '{nid}': unknown type '{ntype}' "
                               f"(one of {', '.join(NODE_TYPES)}){suggest(ntype, NODE_TYPES)}")
    dtmf_raw = raw.get("dtmf")
    dtmf: dict[str, str] = {}
    if dtmf_raw is not None:
        for key, target in c.mapping(dtmf_raw, f"node '{nid}' dtmf").items():
            if key not in "0123456789*#" or len(key) != 1:
                c.add(dtmf_raw, f"node '{nid}': DTMF key '{key}' is not a keypad key")
            dtmf[key] = str(target)
    intents_raw = raw.get("intents", LList())
    if not isinstance(intents_raw, LList):
        c.add(intents_raw, f"node '{nid}': 'intents' must be a list of intent ids")
        intents_raw = LList()
    prio = raw.get("priority")
    if prio is not None and str(prio) not in _PRIORITIES:
        c.add(prio, f"node '{nid}': priority must be one of {', '.join(_PRIORITIES)}")
    return Node(
        id=nid, type=ntype,
        prompt=c.per_lang(raw.get("prompt"), langs, f"node '{nid}' prompt", raw),
        intents=tuple(str(i) for i in intents_raw), dtmf=dtmf,
        on_fail=c.string(raw, "on_fail", f"node '{nid}'", required=False),
        queue=c.string(raw, "queue", f"node '{nid}'", required=ntype == "transfer"),
        priority=_PRIORITIES.get(str(prio)) if prio is not None else None,
        next=c.string(raw, "next", f"node '{nid}'", required=False),
        line=line,
    )


def _check_refs(c: _Checker, top: LDict, flow: Flow) -> None:
    nodes_raw = c.mapping(top.get("nodes"), "nodes")
    intents_raw = c.mapping(top.get("intents"), "intents")
    known_nodes = tuple(flow.nodes)

    def ref(where: Any, what: str, target: str | None, known: tuple[str, ...], kind: str) -> None:
        if target is not None and target not in known:
            c.add(where, f"{what}: unknown {kind} '{target}'{suggest(target, known)}")

    ref(top.get("start"), "start", flow.start, known_nodes, "node")
    ref(top.get("settings", top), "settings fallback_queue", flow.settings.fallback_queue,
        tuple(flow.queues), "queue")
    for iid, intent in flow.intents.items():
        raw = intents_raw.get(iid)
        ref(raw.get("target", raw) if isinstance(raw, LDict) else raw, f"intent '{iid}' target",
            intent.target, known_nodes, "node")
    for nid, node in flow.nodes.items():
        raw = nodes_raw[nid]

        def get(key: str, raw: LDict = raw) -> Any:
            return raw.get(key, raw)

        for key, target in node.dtmf.items():
            ref(get("dtmf"), f"node '{nid}' dtmf '{key}'", target, known_nodes, "node")
        for iid in node.intents:
            ref(get("intents"), f"node '{nid}' intents", iid, tuple(flow.intents), "intent")
        ref(get("on_fail"), f"node '{nid}' on_fail", node.on_fail, known_nodes, "node")
        ref(get("next"), f"node '{nid}' next", node.next, known_nodes, "node")
        if node.type == "transfer":
            ref(get("queue"), f"node '{nid}' queue", node.queue, tuple(flow.queues), "queue")


def _confirm_words(c: _Checker, top: LDict, langs: tuple[Lang, ...]
                   ) -> dict[str, dict[Lang, tuple[str, ...]]]:
    raw = c.mapping(top.get("confirm_words"), "confirm_words", top)
    return {kind: c.phrase_lists(raw.get(kind), langs, f"confirm_words '{kind}'", raw)
            for kind in ("yes", "no")}


def load_flow(path: str | Path) -> Flow:
    """Load and check a flow file.

    Raises:
        FlowError: the file cannot be read or parsed at all.
        FlowErrors: every problem found, sorted by position.
    """
    name = str(path)
    root, early = load_located(path)
    c = _Checker(name)
    c.problems.extend(early)
    if not isinstance(root, LDict):
        c.add(root, "a flow file must be a mapping with 'nodes' and 'intents'")
        raise FlowErrors(c.problems)
    c.unknown_keys(root, _TOP_KEYS, "the flow")
    langs = _languages(c, root)
    prompts_raw = c.mapping(root.get("prompts"), "prompts", root)
    prompts = {k: c.per_lang(prompts_raw.get(k), langs, f"prompts '{k}'", prompts_raw)
               for k in SYSTEM_PROMPTS}
    intents_raw = c.mapping(root.get("intents"), "intents", root)
    intents = {k: _intent(c, k, c.mapping(v, f"intent '{k}'"), langs, intents_raw.key_pos[k][0])
               for k, v in intents_raw.items()}
    nodes_raw = c.mapping(root.get("nodes"), "nodes", root)
    nodes = {k: _node(c, k, c.mapping(v, f"node '{k}'"), langs, nodes_raw.key_pos[k][0])
             for k, v in nodes_raw.items()}
    flow = Flow(
        name=c.string(root, "flow", "the flow", required=False) or Path(name).stem,
        path=name, languages=langs,
        start=c.string(root, "start", "the flow") or "root",
        settings=_settings(c, c.mapping(root.get("settings", LDict()), "settings")),
        queues=_queues(c, c.mapping(root.get("queues"), "queues", root)),
        prompts=prompts, confirm_words=_confirm_words(c, root, langs),
        intents=intents, nodes=nodes,
    )
    _check_refs(c, root, flow)
    if c.problems:
        raise FlowErrors(c.problems)
    return flow
