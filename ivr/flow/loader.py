"""Load a flow file and check it whole: every problem at once, each as file:line:col: message."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from ..errors import FlowErrors, FlowProblem
from ..types import LANGS, Lang, Priority
from .checks import Checker, bad_id, show, suggest
from .limits import check_size
from .model import NODE_TYPES, Flow, Intent, Node, NodeType, Settings
from .steps import Authenticate, Branch, Step, parse_steps
from .yamlpos import LBool, LDict, LList, LNone, LStr, load_located, pos_of

__all__ = ["NODE_KEYS", "SYSTEM_PROMPTS", "TOP_KEYS", "build_flow", "load_flow", "suggest"]

SYSTEM_PROMPTS = ("confirm", "reprompt", "no_input", "handoff")
OPTIONAL_PROMPTS = ("transfer_failed",)
"""System prompts a flow may leave out (the phone line has a built-in text for each)."""
_PRIORITIES = {p.name.lower(): p for p in Priority}
TOP_KEYS = ("flow", "languages", "start", "settings", "queues", "prompts", "confirm_words",
            "intents", "nodes", "announcement", "overlays")
NODE_KEYS = ("type", "prompt", "intents", "dtmf", "on_fail", "queue", "priority", "next",
             "steps")
INTENT_KEYS = ("target", "global", "label", "phrases")
# name -> (default, lowest, highest, integer)
SETTINGS: dict[str, tuple[float, float, float, bool]] = {
    "accept": (0.80, 0.0, 1.0, False), "confirm": (0.55, 0.0, 1.0, False),
    "margin": (0.08, 0.0, 1.0, False), "max_out_of_scope": (0.15, 0.0, 1.0, False),
    "max_retries": (2, 0, 10, True),
    "max_low_confidence": (2, 1, 10, True), "prompt_rate": (1.0, 0.5, 2.0, False),
    "no_input_seconds": (6.0, 1.0, 60.0, False),
}
_SETTING_KEYS = (*SETTINGS, "fallback_queue")
DTMF_KEYS = "0123456789*#"


def _settings(c: Checker, raw: LDict) -> Settings:
    c.unknown_keys(raw, _SETTING_KEYS, "settings")
    got = {k: c.number(raw, k, d, lo, hi, integer) for k, (d, lo, hi, integer) in SETTINGS.items()}
    if got["confirm"] > got["accept"]:
        c.add(raw.get("confirm", raw), f"settings: confirm threshold {got['confirm']:g} is above "
                                       f"the accept threshold {got['accept']:g}")
    fallback = c.string(raw, "fallback_queue", "settings", required=False) or "general"
    return Settings(
        accept=got["accept"], confirm=got["confirm"], margin=got["margin"],
        max_out_of_scope=got["max_out_of_scope"], max_retries=int(got["max_retries"]),
        max_low_confidence=int(got["max_low_confidence"]),
        prompt_rate=got["prompt_rate"], no_input_seconds=got["no_input_seconds"],
        fallback_queue=fallback)


def _priority(c: Checker, value: Any, what: str, where: Any) -> Priority | None:
    if value is None or isinstance(value, LNone):
        return None
    if str(value) not in _PRIORITIES or not isinstance(value, LStr):
        c.add(value, f"{what}: priority must be one of {', '.join(_PRIORITIES)}, got "
                     f"{show(value)}{suggest(str(value), _PRIORITIES)}", where)
        return None
    return _PRIORITIES[str(value)]


def _queues(c: Checker, raw: LDict) -> tuple[dict[str, Priority], dict[str, frozenset[str]]]:
    """Queue -> priority, and queue -> the skills an agent needs (`skills: [fraud, zh]`)."""
    out: dict[str, Priority] = {}
    skills: dict[str, frozenset[str]] = {}
    for name, spec in raw.items():
        spec = c.mapping(spec, f"queue '{name}'")
        c.unknown_keys(spec, ("priority", "skills"), f"queue '{name}'")
        out[name] = _priority(c, spec.get("priority"), f"queue '{name}'", spec) or Priority.NORMAL
        skills[name] = _skills(c, spec.get("skills"), f"queue '{name}' skills")
    return out, skills


def _skills(c: Checker, value: Any, what: str) -> frozenset[str]:
    """A list of skill names: plain ids, each once."""
    if value is None or isinstance(value, LNone):
        return frozenset()
    if not isinstance(value, LList):
        c.add(value, f"{what} must be a list, got {show(value)}")
        return frozenset()
    names: set[str] = set()
    for item in value:
        name = c.text(item, f"{what} item", value)
        why = bad_id(name) if name else None
        if why:
            c.add(item, f"{what}: skill {why}", value)
        elif name in names:
            c.add(item, f"{what}: skill '{name}' is listed twice", value)
        elif name:
            names.add(name)
    return frozenset(names)


def _languages(c: Checker, top: LDict) -> tuple[Lang, ...]:
    raw = top.get("languages")
    if not isinstance(raw, LList) or not raw:
        c.add(raw if raw is not None else top, "'languages' must list at least one of zh, en, ko")
        return ("zh", "en", "ko")
    langs: list[Lang] = []
    for item in raw:
        if str(item) not in LANGS or not isinstance(item, LStr):
            c.add(item, f"unknown language {show(item)} (known: {', '.join(LANGS)})"
                        f"{suggest(str(item), LANGS)}")
        else:
            langs.append(cast(Lang, str(item)))
    return tuple(langs)


def _intent(c: Checker, iid: str, raw: LDict, langs: tuple[Lang, ...], line: int) -> Intent:
    c.unknown_keys(raw, INTENT_KEYS, f"intent '{iid}'")
    target = c.string(raw, "target", f"intent '{iid}'", required=False) or iid
    glob = raw.get("global", True)
    if not isinstance(glob, bool | LBool):
        c.add(glob, f"intent '{iid}': 'global' must be true or false, got {show(glob)}", raw)
    return Intent(
        id=iid, target=target, is_global=bool(glob),
        label=c.per_lang(raw.get("label"), langs, f"intent '{iid}' label", raw),
        phrases=c.phrase_lists(raw.get("phrases"), langs, f"intent '{iid}' phrases", raw),
        line=line,
    )


def _dtmf(c: Checker, nid: str, raw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if raw is None:
        return out
    keys = c.mapping(raw, f"node '{nid}' dtmf")
    for key, target in keys.items():
        if len(key) != 1 or key not in DTMF_KEYS:
            c.add_at(keys.key_pos[key], f"node '{nid}': DTMF key '{key}' is not a keypad key "
                                        "(0-9, * or #, quoted)")
        text = c.text(target, f"node '{nid}' dtmf '{key}'", keys)
        if text is not None:
            out[key] = text
    return out


def _node(c: Checker, nid: str, raw: LDict, langs: tuple[Lang, ...], line: int) -> Node:
    c.unknown_keys(raw, NODE_KEYS, f"node '{nid}'")
    ntype = c.string(raw, "type", f"node '{nid}'") or ""  # "" or a bad type: lint skips it
    if ntype and ntype not in NODE_TYPES:
        c.add(raw.get("type"), f"node '{nid}': unknown type '{ntype}' "
                               f"(one of {', '.join(NODE_TYPES)}){suggest(ntype, NODE_TYPES)}")
    return Node(
        id=nid, type=NodeType(ntype) if ntype in NODE_TYPES else None,
        prompt=c.per_lang(raw.get("prompt"), langs, f"node '{nid}' prompt", raw),
        intents=c.ids(raw.get("intents"), f"node '{nid}': 'intents'"),
        dtmf=_dtmf(c, nid, raw.get("dtmf")),
        on_fail=c.string(raw, "on_fail", f"node '{nid}'", required=False),
        queue=c.string(raw, "queue", f"node '{nid}'", required=ntype == "transfer"),
        priority=_priority(c, raw.get("priority"), f"node '{nid}'", raw),
        next=c.string(raw, "next", f"node '{nid}'", required=False),
        steps=_steps(c, nid, ntype, raw, langs),
        line=line,
    )


def _steps(c: Checker, nid: str, ntype: str, raw: LDict,
           langs: tuple[Lang, ...]) -> tuple[Step, ...]:
    if "steps" in raw and ntype and ntype != "service":
        c.add_at(raw.key_pos["steps"], f"node '{nid}': only service nodes have steps "
                                       f"(this one is a {ntype} node)")
    return parse_steps(c, nid, raw.get("steps"), langs)


def _check_refs(c: Checker, top: LDict, flow: Flow) -> None:
    nodes_raw = c.mapping(top.get("nodes"), "nodes")
    intents_raw = c.mapping(top.get("intents"), "intents")
    known_nodes = tuple(flow.nodes)

    def ref(where: Any, what: str, target: str | None, known: tuple[str, ...], kind: str) -> None:
        if target is not None and bad_id(target):
            c.add(where, f"{what}: {bad_id(target)}")
        elif target is not None and target not in known:
            c.add(where, f"{what}: unknown {kind} '{target}'{suggest(target, known)}")

    if "start" in top:
        ref(top.get("start"), "start", flow.start, known_nodes, "node")
    settings = top.get("settings")
    if "queues" in top:
        ref(settings.get("fallback_queue", settings) if isinstance(settings, LDict) else top,
            "settings fallback_queue", flow.settings.fallback_queue, tuple(flow.queues), "queue")
    for iid, intent in flow.intents.items():
        raw = intents_raw.get(iid)
        ref(raw.get("target", raw) if isinstance(raw, LDict) else raw, f"intent '{iid}' target",
            intent.target, known_nodes, "node")
    for nid, node in flow.nodes.items():
        raw = nodes_raw[nid] if isinstance(nodes_raw[nid], LDict) else LDict()

        def get(key: str, raw: LDict = raw) -> Any:
            return raw.get(key, raw)

        dtmf = get("dtmf")
        for key, target in node.dtmf.items():
            where = dtmf.get(key, dtmf) if isinstance(dtmf, LDict) else dtmf
            ref(where, f"node '{nid}' dtmf '{key}'", target, known_nodes, "node")
        listed = get("intents")
        for k, iid in enumerate(node.intents):
            where = listed[k] if isinstance(listed, LList) and k < len(listed) else listed
            ref(where, f"node '{nid}' intents", iid, tuple(flow.intents), "intent")
        ref(get("on_fail"), f"node '{nid}' on_fail", node.on_fail, known_nodes, "node")
        ref(get("next"), f"node '{nid}' next", node.next, known_nodes, "node")
        steps = get("steps")
        for k, step in enumerate(node.steps):
            item = steps[k] if isinstance(steps, LList) and k < len(steps) else steps
            body = next(iter(item.values()), item) if isinstance(item, LDict) else item

            def at(key: str, body: Any = body) -> Any:
                return body.get(key, body) if isinstance(body, LDict) else body

            if isinstance(step, Branch):
                ref(at("then"), f"node '{nid}' branch then", step.then, known_nodes, "node")
                ref(at("else"), f"node '{nid}' branch else", step.otherwise, known_nodes, "node")
            elif isinstance(step, Authenticate):
                ref(at("on_fail"), f"node '{nid}' authenticate on_fail", step.on_fail,
                    known_nodes, "node")
        if node.type == "transfer":
            ref(get("queue"), f"node '{nid}' queue", node.queue, tuple(flow.queues), "queue")


def _service_loops(c: Checker, top: LDict, flow: Flow) -> None:
    """Service nodes whose `next` chain comes back to itself would loop without end."""
    nodes_raw = c.mapping(top.get("nodes"), "nodes")
    done: set[str] = set()
    for nid in flow.nodes:
        chain: list[str] = []
        cur = nid
        while cur not in done and cur not in chain:
            node = flow.nodes.get(cur)
            if node is None or node.type != "service" or not node.next:
                break
            chain.append(cur)
            cur = node.next
        if cur in chain:
            loop = chain[chain.index(cur):]
            first = min(loop, key=lambda n: flow.nodes[n].line)
            at = loop.index(first)
            shown = " → ".join([*loop[at:], *loop[:at], first])
            c.add_at(nodes_raw.key_pos[first], f"node '{first}': service nodes loop forever "
                                               f"without waiting for the caller: {shown}")
        done.update(chain)


def _confirm_words(c: Checker, top: LDict, langs: tuple[Lang, ...]
                   ) -> dict[str, dict[Lang, tuple[str, ...]]]:
    raw = c.mapping(top.get("confirm_words"), "confirm_words", top)
    c.unknown_keys(raw, ("yes", "no"), "confirm_words")
    return {kind: c.phrase_lists(raw.get(kind), langs, f"confirm_words '{kind}'", raw)
            if "confirm_words" in top else {} for kind in ("yes", "no")}


def _overlay_files(c: Checker, top: LDict, name: str) -> tuple[str, ...]:
    base = Path(name).parent
    return tuple(str(base / f) for f in c.ids(top.get("overlays"), "'overlays'"))


def build_flow(root: Any, path: str) -> tuple[Flow, list[FlowProblem]]:
    """Turn located YAML into a Flow, collecting every problem instead of stopping at one.

    The Flow is returned even when there are problems (with defaults where values were bad),
    so lint can go on to check the graph; `load_flow` refuses it.

    Raises:
        FlowError: the flow is larger than ivr.flow.limits allows (one line, nothing built).
    """
    check_size(root, path)
    c = Checker(path)
    top = root if isinstance(root, LDict) else LDict()
    c.unknown_keys(top, TOP_KEYS, "the flow")
    langs = _languages(c, top)
    prompts_raw = c.mapping(top.get("prompts"), "prompts", top)
    c.unknown_keys(prompts_raw, SYSTEM_PROMPTS + OPTIONAL_PROMPTS, "prompts")
    prompts = {k: c.per_lang(prompts_raw.get(k), langs, f"prompts '{k}'", prompts_raw)
               for k in SYSTEM_PROMPTS + OPTIONAL_PROMPTS
               if "prompts" in top and (k in SYSTEM_PROMPTS or k in prompts_raw)}
    intents_raw = c.mapping(top.get("intents"), "intents", top)
    intents = {k: _intent(c, k, c.mapping(v, f"intent '{k}'"), langs, intents_raw.key_pos[k].line)
               for k, v in intents_raw.items()}
    nodes_raw = c.mapping(top.get("nodes"), "nodes", top)
    nodes = {k: _node(c, k, c.mapping(v, f"node '{k}'"), langs, nodes_raw.key_pos[k].line)
             for k, v in nodes_raw.items()}
    announce = top.get("announcement")
    queues, queue_skills = _queues(c, c.mapping(top.get("queues"), "queues", top))
    flow = Flow(
        name=c.string(top, "flow", "the flow", required=False) or Path(path).stem,
        path=path, languages=langs,
        start=c.string(top, "start", "the flow") or "root",
        settings=_settings(c, c.mapping(top.get("settings", LDict()), "settings")),
        queues=queues, queue_skills=queue_skills,
        prompts=prompts, confirm_words=_confirm_words(c, top, langs),
        intents=intents, nodes=nodes,
        announcement=c.per_lang(announce, langs, "announcement", top) if announce else {},
        overlay_files=_overlay_files(c, top, path), source=root,
    )
    _check_refs(c, top, flow)
    _service_loops(c, top, flow)
    if not isinstance(root, LDict):  # the rest would only repeat this
        c.problems = [FlowProblem(path, *pos_of(root), "a flow file must be a mapping with "
                                  "'nodes', 'intents' and the other keys of docs/flow-format.md")]
    return flow, c.problems


def load_flow(path: str | Path) -> Flow:
    """Load and check a flow file (the file alone: overlays are applied by ivr.flow.overlay).

    Raises:
        FlowError: the file cannot be read or parsed at all.
        FlowErrors: every problem found, sorted by position.
    """
    root, early = load_located(path)
    flow, problems = build_flow(root, str(path))
    if early or problems:
        raise FlowErrors(early + problems)
    return flow
