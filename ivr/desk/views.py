"""HTML of the desk: jinja2 templates with autoescaping, and what each page part is given.

Whole pages and the live parts of pages (what the server-sent events carry) are rendered here
from the same templates, so a page looks the same before and after an update. Autoescaping is
on for every template (`autoescape=True`, not by file name), and undefined names are errors.
Caller text reaches a template only masked (`mask_sensitive`, `mask_slot`) and escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..handoff import QueuedHandoff
from ..handoff.format import format_age
from ..privacy import mask_sensitive, mask_slot
from .floor import DISPOSITIONS

__all__ = ["CallView", "Views", "call_view"]

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class CallView:
    """Everything the engine knows about one caller, ready to show (masked)."""

    call_id: str
    """The call id."""
    queue: str
    """Its queue."""
    priority: str
    """Priority name."""
    reason: str
    """Why it was handed off."""
    lang: str
    """The caller's language."""
    intent: str | None
    """The intent that led here (id)."""
    waited: str
    """How long the caller waited (until taken, or until now)."""
    heard: tuple[str, ...]
    """What was heard, turn by turn (masked)."""
    candidates: tuple[tuple[str, float], ...]
    """The last turn's candidates: intent id and confidence."""
    slots: tuple[tuple[str, str], ...]
    """Slot name and masked value (a card number shows only its last four)."""
    path: tuple[str, ...]
    """Nodes visited."""
    status: str
    """waiting | taken | done."""
    taken_by: str | None
    """Who holds it."""


def call_view(q: QueuedHandoff, now: float) -> CallView:
    """A record as the desk shows it."""
    h = q.handoff
    end = q.taken_at if q.status != "waiting" and q.taken_at is not None else now
    return CallView(
        call_id=h.call_id, queue=h.queue, priority=str(h.priority), reason=h.reason,
        lang=h.lang, intent=h.intent, waited=format_age(end - h.created_at),
        heard=tuple(mask_sensitive(t) for t in h.heard),
        candidates=tuple((c.intent, c.score) for c in h.candidates),
        slots=tuple((s.name, s.masked) for s in map(mask_slot, h.slots)),
        path=h.path, status=q.status, taken_by=q.taken_by,
    )


class Views:
    """The template environment and one method per page or live part."""

    def __init__(self) -> None:
        self.env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                               undefined=StrictUndefined, trim_blocks=True,
                               lstrip_blocks=True)
        self.env.globals["dispositions"] = DISPOSITIONS
        self.env.filters["age"] = format_age
        self.env.filters["pct"] = lambda x: "-" if x is None else f"{100 * x:.0f} %"

    def render(self, template: str, **context: Any) -> str:
        """A template rendered with `context` (every value escaped unless marked safe)."""
        return self.env.get_template(template).render(**context)
