"""When a menu gives up on a caller: one rule, from the flow's settings, for everyone.

The dialog acts on it; lint and `ivr graph` describe it; nothing else counts misses. At a menu,
every miss counts: no input, a key the menu does not have, speech that matches nothing or too
weakly, a "no" to a confirmation question. Misses of speech ("not understood") also count on
their own. The menu gives up at the miss that makes `max_retries + 1` misses in all, or
`max_low_confidence` not understood, whichever comes first; the call then goes to the menu's
`on_fail`, or to the fallback queue. Both counts start again at zero on entering a node.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal, Protocol

__all__ = ["Count", "Miss", "Retries", "Rule"]

Limit = Literal["said", "misses"]


class Retries(Protocol):
    """What the rule reads from a flow's settings (ivr.flow.model.Settings provides it)."""

    @property
    def max_retries(self) -> int:
        """Menus ask again this many times."""

    @property
    def max_low_confidence(self) -> int:
        """Turns not understood before the menu gives up."""


class Miss(Enum):
    """One turn at a menu that did not move the call."""

    NO_INPUT = "no_input"
    """The caller said nothing before the no-input timer ran out."""
    KEY = "key"
    """A DTMF key the menu has no entry for."""
    SAID = "said"
    """Speech not understood: no match, low confidence, or a "no" to a confirmation."""


@dataclass(frozen=True)
class Count:
    """Misses so far at the current node."""

    misses: int = 0
    """Misses of every kind."""
    said: int = 0
    """Of them, speech not understood."""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}es" if word.endswith("s") else f"{n} {word}s"


@dataclass(frozen=True)
class Rule:
    """When a menu gives up."""

    misses: int
    """Give up at this many misses of any kind (max_retries + 1)."""
    said: int
    """... or at this many not understood (max_low_confidence), whichever comes first."""

    @classmethod
    def of(cls, settings: Retries) -> Rule:
        """The rule a flow's settings make."""
        return cls(misses=settings.max_retries + 1, said=settings.max_low_confidence)

    def count(self, count: Count, miss: Miss) -> Count:
        """The count after one more miss."""
        return Count(count.misses + 1, count.said + (miss is Miss.SAID))

    def limit(self, count: Count) -> Limit | None:
        """Which limit `count` reaches ("said" first), or None: the menu asks again."""
        if count.said >= self.said:
            return "said"
        if count.misses >= self.misses:
            return "misses"
        return None

    def gives_up_after(self, miss: Miss) -> int:
        """How many misses of one kind in a row make the menu give up."""
        return min(self.said, self.misses) if miss is Miss.SAID else self.misses

    def describe(self) -> str:
        """The rule in words, as lint notes and the graph say it."""
        said = self.gives_up_after(Miss.SAID)
        if said < self.misses:
            return (f"after {_plural(said, 'answer')} not understood, or "
                    f"{_plural(self.misses, 'miss')} in all (counting no input and unknown keys)")
        return f"after {_plural(self.misses, 'miss')} (no match, no input or unknown key)"

    def label(self) -> str:
        """The rule as a short edge label in pictures."""
        said = self.gives_up_after(Miss.SAID)
        if said < self.misses:
            return f"after {said} not understood / {_plural(self.misses, 'miss')}"
        return f"after {_plural(self.misses, 'miss')}"

    def retry_label(self) -> str | None:
        """The retries as a short loop label in pictures (None: no retry at all)."""
        said = self.gives_up_after(Miss.SAID)
        if self.misses == 1:
            return None
        if said < self.misses:
            again = f"not understood: retry ×{said - 1}; " if said > 1 else ""
            return f"{again}no input / unknown key: retry ×{self.misses - 1}"
        return f"no match / no input: retry ×{self.misses - 1}"
