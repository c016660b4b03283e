"""`ivr chat`: a call where the caller's side is typed — each line is speech, or a command."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterable
from typing import TextIO

from .call import Call, Hotline
from .console import show_end, show_prompts
from .flow.model import Flow
from .handoff import HandoffQueue
from .steps import Services
from .textio import stdin_lines
from .types import Lang

__all__ = ["chat"]


_COMMANDS = {
    "/help": "/help      this list",
    "/dtmf": "/dtmf KEYS  press keys (0-9, * and #)",
    "/silence": "/silence   say nothing (the no-input timer runs out)",
    "/hangup": "/hangup    hang up",
    "/trace": "/trace     the call's trace so far",
}
"""The chat's commands; any other line is what the caller says."""

_HELP = ("type what the caller says; " + ", ".join(_COMMANDS) + "; end of input hangs up")


def _chat_line(call: Call, line: str, out: TextIO) -> bool:
    """Act on one typed line; False when the caller hangs up."""
    command, _, rest = line.partition(" ") if line.startswith("/") else ("", "", "")
    if not command:
        show_prompts(call.say(line), out)
    elif command == "/dtmf":
        keys = rest.strip()
        if not keys or any(k not in "0123456789*#" for k in keys):
            print("(keys are 0-9, * and #)", file=out)
            return True
        show_prompts(call.press(keys), out)
    elif command == "/silence":
        show_prompts(call.silence(), out)
    elif command == "/hangup":
        return False
    elif command == "/trace":
        print("\n".join(str(e) for e in call.trace), file=out)
    elif command == "/help":
        print("\n".join(_COMMANDS.values()), file=out)
    else:  # a typo is not speech: the caller stays where they were
        print(f"(unknown command {command}; known: {' '.join(_COMMANDS)})", file=out,
              flush=True)
    return True


def chat(flow: Flow, lang: Lang, queue: HandoffQueue | None, *,
         lines: Iterable[str] | None = None, out: TextIO | None = None,
         services: Services | None = None, caller: str | None = None) -> int:
    """A call where the caller's side is typed text: each line is speech, or a command.

    `lines` (default: standard input, UTF-8) are the caller's lines. However the input ends —
    its end, /hangup, a line that cannot be read, Ctrl-C — the call is hung up properly and a
    caller handed off is filed into `queue` before the error, if any, goes on to the CLI.
    """
    out = out or sys.stdout
    call = Hotline(flow, queue=queue, services=services).open_call(
        f"chat-{uuid.uuid4().hex[:12]}", lang, caller=caller)
    try:
        print(f"({_HELP})", file=out)
        show_prompts(call.start(), out)
        for raw in stdin_lines() if lines is None else lines:
            if not _chat_line(call, raw.strip(), out) or call.done:
                break
    finally:  # however it ends (end of input, /hangup, a bad line, Ctrl-C): hang up, file
        show_end(call.hang_up(), out)
    return 0
