"""Calls: the session every driver steps a dialog through, and what calls share.

* `Hotline` — the flow, matchers, speech models and queue, loaded once; `open_call`.
* `Call` — one call session: `start / say / hear / press / silence / hang_up`, prompts out as
  `Prompt` events, a `CallResult` at the end (`ivr.call.session`).
* `play` — the scripted driver: `Say / Speak / Press / Silence / HangUp` inputs in order.
* `call_language` — the one rule for a call whose language nobody gave.
* `bank_services` — the bank's systems (`--backend URL` / $IVR_BANK_URL) for node steps.
"""

from __future__ import annotations

from .bank import BankServices, bank_services
from .hotline import Hotline
from .inputs import (
    DEFAULT_AUDIO_LANG,
    CallInput,
    HangUp,
    Press,
    Say,
    Silence,
    Speak,
    call_language,
)
from .replay import play
from .result import CallResult, Prompt, RouteResult
from .session import Call

__all__ = [
    "DEFAULT_AUDIO_LANG", "BankServices", "Call", "CallInput", "CallResult", "HangUp", "Hotline",
    "Press", "Prompt", "RouteResult", "Say", "Silence", "Speak", "bank_services", "call_language",
    "play",
]
