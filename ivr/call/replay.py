"""The scripted driver: a call's inputs (text, recordings, keys, silence) played in order."""

from __future__ import annotations

from collections.abc import Iterable

from .inputs import CallInput, HangUp, Press, Say, Silence, Speak
from .result import CallResult
from .session import Call

__all__ = ["play"]


def play(call: Call, inputs: Iterable[CallInput]) -> CallResult:
    """Answer `call`, play `inputs` until it ends or they run out, then hang up.

    Raises:
        AudioError: a recording is missing or broken (the call is not filed).
        DuplicateCallId: the queue holds a different call under this id.
    """
    call.start()
    for item in inputs:
        if call.done or isinstance(item, HangUp):
            break
        if isinstance(item, Say):
            call.say(item.text)
        elif isinstance(item, Speak):
            call.hear_file(item.path)
        elif isinstance(item, Press):
            call.press(item.keys)
        elif isinstance(item, Silence):
            call.silence()
    return call.hang_up()
