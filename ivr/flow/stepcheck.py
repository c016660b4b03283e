"""Whole-flow checks of node steps: variables used but never set, secrets that could leave, and
requests that need the caller's identity on a path where `authenticate` has not succeeded.

A request needs identity when it says `needs_auth: true` or sends `customer_id`. "Succeeded on
every path" is a must-analysis over the flow's graph: a node is entered authenticated only if
every way into it (intent, key, on_fail, next, branch) leaves an authenticated node or step.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .model import Flow, Node
from .steps import FORMATS, Authenticate, Branch, Collect, Request, Say, template_names

__all__ = ["BUILTIN_VARS", "StepFinding", "authenticated_on_entry", "needs_identity",
           "step_findings"]

BUILTIN_VARS = frozenset({"caller_number", "lang"})
"""Variables every call has: the caller's number (when the line gives one), the language."""
AUTH_VARS = frozenset({"customer_id"})
"""Variables set by a successful `authenticate`."""


@dataclass(frozen=True)
class StepFinding:
    """One problem at a step."""

    node: str
    """The node."""
    index: int
    """The step's index in the node's steps."""
    code: str
    """undefined-variable | secret-leak | needs-auth | format | auth-fact."""
    message: str
    """What is wrong."""


def _defined(flow: Flow) -> set[str]:
    out = set(BUILTIN_VARS)
    for node in flow.nodes.values():
        for step in node.steps:
            if isinstance(step, Collect):
                out.add(step.slot)
            elif isinstance(step, Request):
                out.update(step.into)
            elif isinstance(step, Authenticate):
                out.update(AUTH_VARS)
    return out


def _secrets(flow: Flow) -> set[str]:
    return {s.slot for n in flow.nodes.values() for s in n.steps
            if isinstance(s, Collect) and s.secret}


def _uses(step: object) -> list[tuple[str, str | None]]:
    if isinstance(step, Say):
        return [u for text in step.text.values() for u in template_names(text)]
    if isinstance(step, Request):
        return [u for text in step.payload.values() for u in template_names(text)]
    if isinstance(step, Branch):
        return [(step.cond.var, None)]
    return []


def needs_identity(step: Request) -> bool:
    """The request may only run once the caller is authenticated."""
    return step.needs_auth or "customer_id" in step.payload or any(
        name in AUTH_VARS for text in step.payload.values() for name, _ in template_names(text))


def _edges(flow: Flow, node: Node, authed: bool) -> Iterator[tuple[str, bool]]:
    """(target, authenticated on the way there) for every way out of a node."""
    for target in node.dtmf.values():
        yield target, authed
    for iid in flow.intents_at(node.id) if node.type == "menu" else ():
        yield flow.intents[iid].target, authed
    if node.on_fail:
        yield node.on_fail, authed
    state = authed
    for step in node.steps:
        if isinstance(step, Authenticate):
            if step.on_fail:
                yield step.on_fail, state
            state = True
        elif isinstance(step, Branch):
            yield step.then, state
            if step.otherwise:
                yield step.otherwise, state
    if node.next:
        yield node.next, state


def authenticated_on_entry(flow: Flow) -> dict[str, bool]:
    """Node -> whether every path into it has passed a successful `authenticate`."""
    state = {nid: nid != flow.start for nid in flow.nodes}
    changed = True
    while changed:
        changed = False
        for nid, node in flow.nodes.items():
            for target, authed in _edges(flow, node, state[nid]):
                if target in state and state[target] and not authed:
                    state[target] = False
                    changed = True
    return state


def _node_findings(node: Node, authed: bool, defined: set[str], secrets: set[str]
                   ) -> Iterator[StepFinding]:
    for k, step in enumerate(node.steps):
        for name, fmt in _uses(step):
            if name not in defined:
                yield StepFinding(node.id, k, "undefined-variable",
                                  f"node '{node.id}': variable '{name}' is never set (no "
                                  "collect, request 'into' or authenticate sets it)")
            if name in secrets:
                yield StepFinding(node.id, k, "secret-leak",
                                  f"node '{node.id}': secret '{name}' may only be sent by "
                                  "authenticate, never spoken, tested or sent elsewhere")
            if fmt is not None and fmt not in FORMATS:
                yield StepFinding(node.id, k, "format",
                                  f"node '{node.id}': unknown format '{fmt}' for '{name}' "
                                  f"(one of {', '.join(FORMATS)})")
        if isinstance(step, Authenticate):
            for fact in step.using:
                if fact not in BUILTIN_VARS and fact not in defined:
                    yield StepFinding(node.id, k, "auth-fact",
                                      f"node '{node.id}': authenticate uses '{fact}', which no "
                                      "collect step sets")
            authed = True
        elif isinstance(step, Request) and needs_identity(step) and not authed:
            yield StepFinding(node.id, k, "needs-auth",
                              f"node '{node.id}': request '{step.op}' needs the caller's "
                              "identity but can run before authenticate succeeds (add an "
                              "authenticate step before it, on every path)")


def step_findings(flow: Flow) -> list[StepFinding]:
    """Every step problem in a built flow."""
    defined, secrets = _defined(flow), _secrets(flow)
    entry = authenticated_on_entry(flow)
    return [f for nid, node in flow.nodes.items()
            for f in _node_findings(node, entry.get(nid, False), defined, secrets)]
