"""The steps of one service node, run in order on arrival: a small synchronous state machine.

The dialog hands it the caller's keys, words and silences while it waits for a `collect`; it
answers with a `Next` (wait, done, go to a node, hand off). What it says goes out through the
dialog's `say` (prompts, logged masked); what it does goes into the trace as one event per
step, values masked: a collected value as `mask_slot` shows it (a secret as ***), a request by
its operation only. A secret slot's value leaves only in the `verify` request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..flow.model import Node
from ..flow.steps import Authenticate, Branch, Collect, Condition, Request, Say, template_names
from ..privacy import FULL_MASK, is_secret_name, mask_slot
from ..types import Lang, Slot
from .prompts import system_text
from .services import ServiceError, Services
from .speak import fill, spoken_value
from .values import read_keys, read_speech

__all__ = ["CallState", "Next", "StepRunner"]

_WHOLE_VAR = "{%s}"


@dataclass(frozen=True)
class Next:
    """What the dialog does after a step event."""

    kind: Literal["wait", "done", "goto", "handoff"]
    """wait for the caller; done (the node's steps finished); goto a node; handoff."""
    target: str = ""
    """The node for goto; the reason for handoff."""


@dataclass
class CallState:
    """What the steps of a call know, across nodes: raw values (never printed), their masked
    slots, the steps done, the verification failures."""

    values: dict[str, Any] = field(default_factory=dict)
    """Variable -> raw value (a PIN too, until verify; never logged)."""
    slots: dict[str, Slot] = field(default_factory=dict)
    """Variable -> masked slot (what a trace, report or agent may see)."""
    done: list[str] = field(default_factory=list)
    """Steps completed, e.g. "collect card_tail", "authenticate", "request freeze_card"."""
    auth_failures: int = 0
    """Failed verifications so far in the call."""
    authenticated: bool = False
    """`authenticate` succeeded."""


def _compare(cond: Condition, value: Any) -> bool:
    if cond.op in ("truthy", "falsy"):
        return bool(value) == (cond.op == "truthy")
    want = cond.value
    if isinstance(want, float):
        try:
            got: Any = float(value)
        except (TypeError, ValueError):
            return False
    else:
        got = value if isinstance(want, bool) else str(value)
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "==": lambda a, b: bool(a == b), "!=": lambda a, b: bool(a != b),
        "<": lambda a, b: bool(a < b), ">": lambda a, b: bool(a > b),
        "<=": lambda a, b: bool(a <= b), ">=": lambda a, b: bool(a >= b)}
    try:
        return ops[cond.op](got, want)
    except TypeError:
        return False


class StepRunner:
    """The steps of one node for one call."""

    def __init__(self, node: Node, lang: Lang, state: CallState, services: Services | None, *,
                 say: Callable[[str], None], log: Callable[..., None],
                 yes_no: Callable[[str], bool | None]) -> None:
        self.node, self.lang, self.state, self.services = node, lang, state, services
        self._say, self._log, self._yes_no = say, log, yes_no
        self.index = 0
        self._keys = ""
        self._misses = 0
        self._pending: str | None = None
        """A value read back, waiting for yes or no."""
        self._swallow = ""
        """The terminator key of an entry taken at its full length: pressed next, it is the
        end of that entry (habit), not the start of the next answer."""

    # -- running -------------------------------------------------------------------------------
    def start(self) -> Next:
        """Run from the first step until one waits for the caller or the steps end."""
        return self._run()

    def _run(self) -> Next:
        while self.index < len(self.node.steps):
            step = self.node.steps[self.index]
            if isinstance(step, Collect):
                self._ask(step)
                return Next("wait")
            nxt = self._do(step)
            if nxt is not None:
                return nxt
            self.index += 1
        return Next("done")

    def _do(self, step: Authenticate | Request | Say | Branch) -> Next | None:
        if isinstance(step, Say):
            text = step.text.get(self.lang, "")
            self._say(fill(text, self.state.values, self.lang))
            self._log("said", vars=",".join(n for n, _ in template_names(text)))
            return None
        if isinstance(step, Branch):
            holds = _compare(step.cond, self.state.values.get(step.cond.var))
            self._log("branch", test=step.cond.var, holds=holds)
            target = step.then if holds else step.otherwise
            return Next("goto", target) if target else None
        if isinstance(step, Request):
            return self._request(step)
        return self._authenticate(step)

    @property
    def waiting(self) -> Collect | None:
        """The collect step waiting for the caller, if any."""
        if self.index < len(self.node.steps):
            step = self.node.steps[self.index]
            return step if isinstance(step, Collect) else None
        return None

    # -- collect -------------------------------------------------------------------------------
    def _ask(self, step: Collect) -> None:
        self._keys, self._pending = "", None
        self._say(step.prompt.get(self.lang, ""))

    def on_key(self, key: str) -> Next:
        """One DTMF key while a collect waits."""
        step = self.waiting
        if step is None:
            return Next("done")
        swallow, self._swallow = self._swallow, ""
        if key == swallow and not self._keys:
            return Next("wait")
        if self._pending is not None:
            return self._answer({"1": True, "2": False}.get(key), step)
        if key == step.terminator:
            return self._got(step, read_keys(step, self._keys))
        if key in "*#" and step.kind != "amount":
            return self._got(step, None)
        self._keys += key
        if len(self._keys) >= step.max_len and (step.kind != "amount" or not step.terminator):
            nxt = self._got(step, read_keys(step, self._keys))
            self._swallow = step.terminator
            return nxt
        return Next("wait")

    def on_speech(self, text: str) -> Next:
        """What the caller said while a collect waits (the raw text: never stored here)."""
        step = self.waiting
        if step is None:
            return Next("done")
        self._swallow = ""
        if self._pending is not None:
            return self._answer(self._yes_no(text), step)
        if step.kind == "text" and self._yes_no(text) is not None:
            return self._got(step, None)  # "yes" is not a place or a description
        return self._got(step, read_speech(step, text, self.lang))

    def on_no_input(self) -> Next:
        """The no-input timer ran out while a collect waits."""
        step = self.waiting
        if step is None:
            return Next("done")
        if self._keys:  # typed digits, then stopped: take what was typed
            return self._got(step, read_keys(step, self._keys))
        return self._miss(step, "no_input")

    def _miss(self, step: Collect, why: Literal["no_input", "invalid"]) -> Next:
        self._misses += 1
        self._log("collect_miss", slot=step.slot, why=why, count=self._misses)
        if self._misses > step.retries:
            return Next("handoff", why if why == "no_input" else "invalid_input")
        self._say(system_text(why, self.lang))
        self._ask(step)
        return Next("wait")

    def _got(self, step: Collect, value: str | None) -> Next:
        self._keys = ""
        if value is None:
            return self._miss(step, "invalid")
        if step.confirm:
            self._pending = value
            shown = spoken_value(value, "digits" if step.kind != "amount" else "amount",
                                 self.lang, self.state.values)
            self._say(system_text("confirm", self.lang).replace("{value}", shown))
            return Next("wait")
        return self._store(step, value)

    def _answer(self, yes: bool | None, step: Collect) -> Next:
        value, self._pending = self._pending, None
        if yes is None or value is None:
            return self._miss(step, "invalid")
        if not yes:
            self._log("denied", slot=step.slot)
            self._ask(step)
            return Next("wait")
        return self._store(step, value)

    def _store(self, step: Collect, value: str) -> Next:
        self.state.values[step.slot] = value
        secret = step.secret or is_secret_name(step.slot)
        slot = Slot(step.slot, FULL_MASK, FULL_MASK) if secret else mask_slot(
            Slot(step.slot, value, value))
        self.state.slots[step.slot] = slot
        self.state.done.append(f"collect {step.slot}")
        self._log("collected", slot=str(slot))
        self._misses = 0
        self.index += 1
        return self._run()

    # -- the bank ------------------------------------------------------------------------------
    def _call(self, op: str, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if self.services is None:
            self._log("request", op=op, status="error", reason="no_backend")
            return None
        try:
            reply = self.services.call(op, payload)
        except ServiceError as exc:
            self._log("request", op=op, status="error", reason=exc.reason)
            return None
        self._log("request", op=op, status="ok")
        return reply

    def _backend_error(self) -> Next:
        self._say(system_text("backend_error", self.lang))
        return Next("handoff", "backend_error")

    def _request(self, step: Request) -> Next | None:
        payload: dict[str, Any] = {}
        for key, template in step.payload.items():
            whole = template[1:-1] if template.startswith("{") and template.endswith("}") else ""
            if whole and ":" not in whole and _WHOLE_VAR % whole == template:
                if whole in self.state.values:
                    payload[key] = self.state.values[whole]
            elif template.isdigit():
                payload[key] = int(template)
            else:
                payload[key] = fill(template, self.state.values, self.lang)
        reply = self._call(step.op, payload)
        if reply is None:
            return self._backend_error()
        for var, name in step.into.items():
            if name in reply:
                self.state.values[var] = reply[name]
        self.state.done.append(f"request {step.op}")
        return None

    def _authenticate(self, step: Authenticate) -> Next | None:
        payload = {f: self.state.values[f] for f in step.using if f in self.state.values}
        if not payload:  # nothing to verify with (no caller number on this line): no request
            self._log("authenticated", ok=False, reason="no_facts")
            return Next("goto", step.on_fail) if step.on_fail else Next("handoff", "auth_failed")
        reply = self._call("verify", payload)
        for fact in step.using:  # the PIN leaves only in that one request, then is gone
            if fact == "pin" or is_secret_name(fact):
                self.state.values.pop(fact, None)
        if reply is None:
            return self._backend_error()
        if reply.get("verified") is True and reply.get("customer_id"):
            self.state.values["customer_id"] = reply["customer_id"]
            self.state.authenticated = True
            self.state.done.append("authenticate")
            self._log("authenticated", ok=True)
            return None
        self.state.auth_failures += 1
        self._log("authenticated", ok=False, failures=self.state.auth_failures)
        if self.state.auth_failures >= step.max_failures:
            self._say(system_text("auth_locked", self.lang))
            return Next("goto", step.on_fail) if step.on_fail else Next("handoff", "auth_failed")
        return self._retry_auth(step)

    def _retry_auth(self, step: Authenticate) -> Next | None:
        again = [(k, s) for k, s in enumerate(self.node.steps[: self.index])
                 if isinstance(s, Collect) and s.slot in step.using]
        if not again:  # nothing the caller can give again
            self._say(system_text("auth_locked", self.lang))
            return Next("handoff", "auth_failed")
        self._say(system_text("auth_retry", self.lang))
        self.index, first = again[0]
        self._ask(first)
        return Next("wait")
