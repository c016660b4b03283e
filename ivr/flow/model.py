"""A loaded, validated call flow: plain frozen values, no YAML left in them."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..types import Lang, Priority
from .steps import Step

__all__ = ["NODE_TYPES", "Flow", "Intent", "Node", "NodeType", "Settings"]


class NodeType(enum.StrEnum):
    """menu asks and routes; service is a business node; transfer hands to a queue; end hangs up.

    The values are the flow file's `type:` strings."""

    MENU = "menu"
    SERVICE = "service"
    TRANSFER = "transfer"
    END = "end"


NODE_TYPES = tuple(t.value for t in NodeType)
"""The `type:` values a flow file may use."""


@dataclass(frozen=True)
class Settings:
    """Decision thresholds and retry limits, tunable per flow without a release."""

    accept: float = 0.80
    """Top confidence at or above this (with enough margin) goes straight to the node."""
    confirm: float = 0.55
    """At or above this (below accept) asks the caller to confirm; below it, reprompts."""
    margin: float = 0.08
    """If the top two candidates are closer than this, confirm instead of accepting."""
    max_out_of_scope: float = 0.15
    """If the learnt classifier gives at least this probability to "none of the flow's
    intents" (ivr/nlu/scorer.py), confirm instead of accepting (1 turns the check off)."""
    max_retries: int = 2
    """Misses of any kind (no input, unknown key, not understood) a menu asks again after; the
    next one gives up (ivr.nlu.escalation)."""
    max_low_confidence: int = 2
    """Answers not understood at one menu at which it gives up, if that comes first."""
    fallback_queue: str = "general"
    """Queue for handoffs that have no queue of their own."""
    prompt_rate: float = 1.0
    """Speaking rate of prompts for the player or TTS (0.8 = 20 % slower)."""
    no_input_seconds: float = 6.0
    """Silence before the caller counts as having said nothing."""


@dataclass(frozen=True)
class Intent:
    """Something a caller can ask for, with example phrases per language."""

    id: str
    """Intent id (e.g. "card_loss")."""
    target: str
    """Node reached when the intent is accepted."""
    is_global: bool
    """Reachable from any node."""
    label: Mapping[Lang, str]
    """Short phrase used in confirmation prompts."""
    phrases: Mapping[Lang, tuple[str, ...]]
    """Example caller sentences."""
    line: int = 0
    """Where it is defined."""


@dataclass(frozen=True)
class Node:
    """One place in the call."""

    id: str
    """Node id."""
    type: NodeType | None
    """What the node does; None only in a flow with problems (the type missing or unknown:
    reported, and lint skips the node)."""
    prompt: Mapping[Lang, str]
    """What the caller hears on arrival."""
    intents: tuple[str, ...] = ()
    """Local intents (besides global ones) understood here."""
    dtmf: Mapping[str, str] = field(default_factory=dict)
    """Keypad key -> node id."""
    on_fail: str | None = None
    """Node after the retries are used up (None: hand off to the fallback queue)."""
    queue: str | None = None
    """For transfer nodes."""
    priority: Priority | None = None
    """For transfer nodes; None means the queue's own priority."""
    next: str | None = None
    """For service nodes that lead on."""
    steps: tuple[Step, ...] = ()
    """For service nodes: what the node does on arrival, in order (ivr.flow.steps)."""
    line: int = 0
    """Where it is defined."""


@dataclass(frozen=True)
class Flow:
    """A whole call flow."""

    name: str
    """Flow name."""
    path: str
    """File it was loaded from."""
    languages: tuple[Lang, ...]
    """Languages every prompt and phrase list covers."""
    start: str
    """First node."""
    settings: Settings
    """Thresholds and limits."""
    queues: Mapping[str, Priority]
    """Human queues and their priority."""
    prompts: Mapping[str, Mapping[Lang, str]]
    """System prompts: confirm, reprompt, no_input, handoff."""
    confirm_words: Mapping[str, Mapping[Lang, tuple[str, ...]]]
    """"yes"/"no" -> language -> words."""
    intents: Mapping[str, Intent]
    """Every intent by id."""
    nodes: Mapping[str, Node]
    """Every node by id."""
    announcement: Mapping[Lang, str] = field(default_factory=dict)
    """Played once before the start node (e.g. an emergency notice); empty for none."""
    overlay_files: tuple[str, ...] = ()
    """Overlay files the flow lists (applied when active; see ivr.flow.overlay)."""
    overlays: tuple[str, ...] = ()
    """Names of the overlays applied to this flow, in order (recorded in every call's trace)."""
    queue_skills: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Queue -> the skills an agent needs to see it (`skills:`; languages zh/en/ko are skills
    too). A queue without `skills:` is open to every agent (empty set)."""
    source: Any = field(default=None, compare=False, repr=False)
    """The located YAML the flow was built from (positions for lint, base for overlays)."""

    def intents_at(self, node_id: str) -> tuple[str, ...]:
        """Intent ids understood at a node: its local ones, then the global ones."""
        node = self.nodes[node_id]
        local = tuple(i for i in node.intents if i in self.intents)
        glob = tuple(i for i, intent in self.intents.items() if intent.is_global and i not in local)
        return local + glob

    def queue_priority(self, node: Node) -> Priority:
        """The priority a transfer node files with."""
        if node.priority is not None:
            return node.priority
        return self.queues.get(node.queue or self.settings.fallback_queue, Priority.NORMAL)
