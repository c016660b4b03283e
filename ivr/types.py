"""The values that cross between stages: audio -> utterance -> decision -> dialog -> outcome.

Every value is a frozen dataclass with a readable `__str__`, so traces read well and replays
compare whole values. This module imports nothing from the rest of the package.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "LANGS",
    "Audio",
    "Candidate",
    "Decision",
    "DecisionKind",
    "Dtmf",
    "Handoff",
    "Lang",
    "Outcome",
    "Priority",
    "Slot",
    "TraceEvent",
    "TurnKind",
    "Utterance",
    "Word",
]

Lang = Literal["zh", "en", "ko"]
LANGS: tuple[Lang, ...] = ("zh", "en", "ko")

SAMPLE_RATE = 16_000
"""The rate every recogniser input is converted to."""

FRAME_MS = 20
"""One frame of caller audio: what a phone line carries per packet and what every stage takes."""

FRAME_BYTES = 2 * SAMPLE_RATE * FRAME_MS // 1000
"""One 20 ms frame of 16 kHz PCM16 mono: 640 bytes."""


class Dtmf(enum.Enum):
    """A telephone keypad key."""

    D0 = "0"
    D1 = "1"
    D2 = "2"
    D3 = "3"
    D4 = "4"
    D5 = "5"
    D6 = "6"
    D7 = "7"
    D8 = "8"
    D9 = "9"
    STAR = "*"
    HASH = "#"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Audio:
    """Decoded audio, mono PCM16 at 16 kHz, with what the file was."""

    pcm: bytes
    """Little-endian signed 16-bit mono samples at `SAMPLE_RATE`."""
    source: str
    """Where it came from (a path, "microphone", ...)."""
    source_rate: int
    """The sample rate before conversion."""
    source_channels: int
    """The channel count before conversion."""
    encoding: str
    """"pcm16", "mulaw", "alaw", ... as found in the file."""

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return len(self.pcm) / 2 / SAMPLE_RATE

    @property
    def narrowband(self) -> bool:
        """Recorded at 8 kHz or less (a telephone line): silent above 4 kHz once resampled."""
        return self.source_rate <= 8000

    def __str__(self) -> str:
        return (
            f"{self.source} ({self.encoding}, {self.source_rate} Hz, "
            f"{self.source_channels} ch, {self.seconds:.2f} s)"
        )


@dataclass(frozen=True)
class Word:
    """One recognised word with its timing."""

    word: str
    """The word as the recogniser spelled it."""
    start: float
    """Start, seconds from the start of the utterance."""
    end: float
    """End, seconds from the start of the utterance."""
    conf: float
    """The recogniser's word confidence (near 1.0 even when wrong: not for rejection alone)."""


@dataclass(frozen=True)
class Utterance:
    """What the caller said in one turn, as text."""

    text: str
    """The transcript (Chinese without the recogniser's inter-word spaces)."""
    lang: Lang
    """The language the caller was answered in."""
    source: Literal["speech", "text"] = "text"
    """Recognised speech or typed text."""
    words: tuple[Word, ...] = ()
    """Word timings from the recogniser; empty for text."""
    alternatives: tuple[str, ...] = ()
    """Other transcripts the recogniser considered (best first, excluding `text`)."""
    audio_seconds: float = 0.0
    """Length of the audio decoded; 0 for text."""
    decode_seconds: float = 0.0
    """Wall time spent decoding (not part of traces: not deterministic)."""
    unsure: bool = False
    """Heard on weak evidence (ivr.speech.judge, `JudgeConfig.confirm_fit`): the dialog may
    confirm what it routes to, never accept it."""

    def __str__(self) -> str:
        return f"[{self.lang}/{self.source}] {self.text!r}"


@dataclass(frozen=True)
class Candidate:
    """One ranked intent."""

    intent: str
    """Intent id."""
    score: float
    """Confidence in 0..1."""

    def __str__(self) -> str:
        return f"{self.intent}:{self.score:.2f}"


@dataclass(frozen=True)
class Slot:
    """A value taken from what the caller said (card tail, amount, date, phone)."""

    name: str
    """Slot kind, e.g. "card_tail"."""
    value: str
    """Normalised value. Sensitive values are stored masked."""
    masked: str
    """The form that may be printed or stored."""

    def __str__(self) -> str:
        return f"{self.name}={self.masked}"


class DecisionKind(enum.Enum):
    """What the policy decided to do with a turn."""

    ACCEPT = "accept"
    CONFIRM = "confirm"
    REPROMPT = "reprompt"
    HANDOFF = "handoff"

    def __str__(self) -> str:
        return self.value


class TurnKind(enum.StrEnum):
    """What one caller turn came to (`Turn.decision`): the policy's decision for a sentence,
    or what a key, a yes/no answer or silence did. The values are the replay contract's
    strings (`ivr replay --json`: "decision")."""

    ACCEPT = "accept"
    CONFIRM = "confirm"
    REPROMPT = "reprompt"
    HANDOFF = "handoff"
    DTMF = "dtmf"
    YES = "yes"
    NO = "no"
    NO_INPUT = "no_input"
    COLLECT = "collect"
    """A value given to a node's collect step (by keys or speech)."""

    @classmethod
    def of(cls, kind: DecisionKind) -> TurnKind:
        """The turn kind of a policy decision (same name)."""
        return cls(kind.value)


@dataclass(frozen=True)
class Decision:
    """The matcher's ranked candidates turned into one action."""

    kind: DecisionKind
    """accept, confirm, reprompt or handoff."""
    intent: str | None
    """The chosen intent (None for reprompt, or handoff with nothing matched)."""
    confidence: float
    """Confidence of the top candidate, 0..1."""
    candidates: tuple[Candidate, ...] = ()
    """Top candidates, best first."""
    reason: str | None = None
    """Why, for reprompt and handoff (e.g. "low_confidence", "no_match")."""

    def __str__(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.kind} {self.intent or '-'} {self.confidence:.2f}{why}"


class Priority(enum.IntEnum):
    """Queue priority: higher is served first."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    URGENT = 3

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Handoff:
    """A caller handed to a human queue, with everything heard so the agent never asks twice."""

    call_id: str
    """Unique per call; filing the same call twice keeps one record."""
    queue: str
    """Queue name from the flow."""
    priority: Priority
    """Serving order."""
    reason: str
    """Why: caller_asked, priority_intent, low_confidence, no_match, no_input, error, ..."""
    lang: Lang
    """The caller's language."""
    heard: tuple[str, ...]
    """Every transcript of the call, in order (sensitive digits masked)."""
    candidates: tuple[Candidate, ...]
    """The last turn's ranked intents."""
    path: tuple[str, ...]
    """Node ids visited, in order."""
    slots: tuple[Slot, ...] = ()
    """Slots collected (masked)."""
    intent: str | None = None
    """The intent that led here, if any."""
    created_at: float = 0.0
    """Unix time the record was filed."""
    overlays: tuple[str, ...] = ()
    """Names of the overlays active on the call's flow (e.g. elderly_green_channel), in order."""

    def __str__(self) -> str:
        return f"handoff {self.call_id} -> {self.queue} [{self.priority}] ({self.reason})"


@dataclass(frozen=True)
class Outcome:
    """How a call ended."""

    type: Literal["node", "handoff", "hangup"]
    """Reached a business node, handed to a queue, or the caller hung up / ran out of input."""
    node: str | None = None
    """The last node (the business node for "node")."""
    queue: str | None = None
    """The queue for "handoff"."""
    reason: str | None = None
    """Why, for handoff and hangup."""

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of the replay contract."""
        return {"type": self.type, "node": self.node, "queue": self.queue, "reason": self.reason}

    def __str__(self) -> str:
        if self.type == "node":
            return f"node {self.node}"
        if self.type == "handoff":
            return f"handoff to {self.queue} ({self.reason}) from {self.node}"
        return f"hangup at {self.node} ({self.reason})"


@dataclass(frozen=True)
class TraceEvent:
    """One step of a call. A trace is the list of these; it holds nothing non-deterministic."""

    step: int
    """0-based position in the call."""
    kind: str
    """prompt, heard, decision, dtmf, confirm, goto, no_input, no_match, handoff, end, ..."""
    node: str
    """The node the call was at."""
    data: tuple[tuple[str, Any], ...] = field(default=())
    """Event details as sorted key/value pairs (hashable, JSON-friendly values)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON shape: {"step", "kind", "node", **data}."""
        return {"step": self.step, "kind": self.kind, "node": self.node, **dict(self.data)}

    def get(self, key: str, default: Any = None) -> Any:
        """One detail's value (`default` when the event has none)."""
        return dict(self.data).get(key, default)

    def __str__(self) -> str:
        details = " ".join(f"{k}={v}" for k, v in self.data)
        return f"{self.step:>3} {self.node:<22} {self.kind:<9} {details}".rstrip()
