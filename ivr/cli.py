"""The `ivr` command. Thin: parses arguments, calls the rooms, prints; errors become one line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, cast

from . import __version__
from .errors import FlowError, FlowErrors, IvrError, UsageError
from .textio import check_text, configure_streams, stdin_lines
from .types import LANGS

if TYPE_CHECKING:
    from .flow import Flow

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]


def _add_flow(p: argparse.ArgumentParser) -> None:
    p.add_argument("--flow", required=True, help="flow YAML file")
    p.add_argument("--overlay", action="append", default=[], metavar="FILE",
                   help="overlay laid over the flow where active (repeatable)")
    p.add_argument("--now", help="the time overlays are judged at (ISO 8601; default: now)")
    p.add_argument("--region", help="the caller's region, for regional overlays")


def _flow(args: argparse.Namespace) -> Flow:
    """The flow a command runs: only what `ivr lint` passes (errors refused, exit 2)."""
    from .flow import load_linted

    return load_linted(args.flow, args.overlay, now=args.now, region=args.region)


def _add_lang(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--lang", choices=LANGS, required=required, help="caller language")


def _add_queue(p: argparse.ArgumentParser) -> None:
    p.add_argument("--queue", help="handoff queue: a SQLite file or sqlite:///abs/path "
                   "(default: $IVR_QUEUE or var/handoff.sqlite3)")


def add_backend(p: argparse.ArgumentParser) -> None:
    """`--backend URL`: the bank's service that node steps call."""
    p.add_argument("--backend", metavar="URL",
                   help="the bank's service for request and authenticate steps, http(s)://host:"
                        "port (default: $IVR_BANK_URL; token from $IVR_BANK_TOKEN)")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the problem and where to read more, no usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="ivr", description="Offline voice navigation for bank hotlines.")
    ap.add_argument("--version", action="version", version=f"ivr {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("route", help="route first sentences at the root menu")
    _add_flow(p)
    _add_lang(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--explain", action="store_true", help="show why: per candidate the matcher "
                   "and classifier evidence, the nearest phrases and the weightiest n-grams")
    p.add_argument("--nearest", type=_nearest, default=3, metavar="N",
                   help="nearest phrases per candidate with --explain (1-20, default 3)")
    p.add_argument("text", nargs="*", help="sentences (default: one per line on stdin)")

    p = sub.add_parser("replay", help="replay WAV files or call scripts through the flow")
    _add_flow(p)
    _add_lang(p, required=False)
    _add_queue(p)
    p.add_argument("--model", help="Vosk model directory (overrides $IVR_MODEL and models/)")
    p.add_argument("--json", action="store_true", help="one JSON object per line per call")
    p.add_argument("-v", "--verbose", action="store_true", help="print every trace step")
    p.add_argument("--cold", action="store_true",
                   help="new recognisers for every utterance: each file's words depend on its "
                        "audio only, not on the files before it (slower)")
    add_backend(p)
    p.add_argument("files", nargs="+", help="WAV files or call scripts (.yaml)")

    p = sub.add_parser("chat", help="be the caller, by typing")
    _add_flow(p)
    _add_lang(p)
    _add_queue(p)
    add_backend(p)
    p.add_argument("--caller", metavar="NUMBER", help="the caller's number (digits), as a "
                   "phone line would give it")

    p = sub.add_parser("call", help="a live call from the microphone")
    _add_flow(p)
    _add_lang(p)
    _add_queue(p)
    p.add_argument("--model", help="Vosk model directory")
    p.add_argument("--no-barge-in", dest="barge_in", action="store_false",
                   help="let prompts play out (on a loudspeaker the prompt can trigger barge-in)")
    p.add_argument("--no-voice", dest="voice", action="store_false",
                   help="print prompts only; do not speak them with espeak-ng")

    return ap


def _queue(args: argparse.Namespace) -> object:
    from .handoff import open_queue

    return open_queue(args.queue or None)  # a URL or a path; None: $IVR_QUEUE or var/


def _nearest(value: str) -> int:
    """--nearest: a whole number of phrases, 1..20."""
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 20:
        raise argparse.ArgumentTypeError(f"--nearest wants a whole number 1-20, not {value!r}")
    return int(value)


def _cmd_route(args: argparse.Namespace) -> int:
    from .call import Hotline
    from .nlu.contrast import focus
    from .nlu.explain import explain

    hotline = Hotline(_flow(args))
    lines = ([check_text(t, f"argument {i}") for i, t in enumerate(args.text, 1)]
             if args.text else stdin_lines())
    for text in lines:
        r = hotline.route(text, args.lang)
        why = explain(hotline.matcher(args.lang), text, r.text, hotline.flow.intents_at(
            hotline.flow.start), nearest=args.nearest) if args.explain else ()
        limit = hotline.flow.settings.max_out_of_scope
        read = focus(r.text, args.lang)  # what was scored: a contrast's negated part left out
        if args.json:
            out = r.as_dict() | ({"explain": [w.as_dict() for w in why], "reason": r.reason,
                                  "out_of_scope": r.out_of_scope, "read_as": read,
                                  "max_out_of_scope": limit} if args.explain else {})
            print(json.dumps(out, ensure_ascii=False), flush=True)
        else:
            cands = "  ".join(str(c) for c in r.candidates)
            lines = [str(w) for w in why]
            if args.explain and read != r.text:
                lines.insert(0, f"  read as {read!r} (what the caller says they do not mean "
                                f"is left out)")
            if args.explain:
                lines.append(f"  none of these (classifier): {r.out_of_scope:.2f}, accepts "
                             f"only under max_out_of_scope {limit:.2f}; reason: "
                             f"{r.reason or '-'}")
            print(f"{r.decision:<8} {r.intent or '-':<20} {r.confidence:.2f}  {r.text!r}  "
                  f"[{cands}]", *lines, sep="\n" if lines else " ", flush=True)
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from .call import Hotline, Speak, bank_services, call_language
    from .handoff import HandoffQueue
    from .qa.expect import check_call
    from .qa.report import call_json, format_call, format_summary
    from .qa.script import CallScript, load_scripts
    from .speech import SpeechConfig

    services = bank_services(args.backend)
    hotline = Hotline(_flow(args), queue=cast(HandoffQueue, _queue(args)),
                      model=args.model, services=services,
                      speech=SpeechConfig().cold() if args.cold else None)
    results, failures, checked, errors = [], 0, 0, 0
    # a bare WAV's call id is its name, or the path as given when two files share that name
    stems = Counter(Path(n).stem for n in args.files)
    for name in args.files:
        try:
            if name.lower().endswith((".yaml", ".yml")):
                scripts = load_scripts(name)
            else:
                call_id = Path(name).stem if stems[Path(name).stem] == 1 else name
                scripts = [CallScript(call_id, None, (Speak(name),), name)]
            for script in scripts:
                lang = call_language(script.lang or args.lang, script.inputs,
                                     f"{script.source}: call '{script.call_id}'")
                result = hotline.run(script.call_id, lang, script.inputs,
                                     caller=script.caller, label=script.expected_node)
                results.append(result)
                problems = [str(f) for f in check_call(script, result)]
                checked += bool(script.expect or script.turn_expect)
                failures += bool(problems) and not script.xfail
                if args.json:
                    print(json.dumps(call_json(result), ensure_ascii=False), flush=True)
                else:
                    print(format_call(result, verbose=args.verbose))
                    label = f"KNOWN FAILURE ({script.xfail})" if script.xfail else "FAILED"
                    for problem in problems:
                        print(f"  {label}  {problem}")
                    print(flush=True)
        except (FlowError, FlowErrors) as exc:
            errors += 1
            print(exc, file=sys.stderr, flush=True)
        except IvrError as exc:
            errors += 1
            print(f"ivr: error: {exc}", file=sys.stderr, flush=True)
    if not args.json:
        print(format_summary(results, failures, checked))
    return 2 if errors else (1 if failures else 0)


def _cmd_chat(args: argparse.Namespace) -> int:
    from .call import bank_services
    from .chat import chat
    from .handoff import HandoffQueue

    if args.caller is not None and not (args.caller.isdigit() and 5 <= len(args.caller) <= 15):
        raise UsageError(f"--caller {args.caller!r}: the caller's number as 5 to 15 digits")
    services = bank_services(args.backend)
    return chat(_flow(args), args.lang, cast(HandoffQueue, _queue(args)), lines=stdin_lines(),
                services=services, caller=args.caller)


def _cmd_call(args: argparse.Namespace) -> int:
    from .handoff import HandoffQueue
    from .live import live_call

    return live_call(_flow(args), args.lang, cast(HandoffQueue, _queue(args)), args.model,
                     barge_in=args.barge_in, voice=args.voice)


_COMMANDS: dict[str, Handler] = {
    "route": _cmd_route, "replay": _cmd_replay, "chat": _cmd_chat, "call": _cmd_call,
}

# Rooms that bring commands of their own register them here: each module has
# `register(sub) -> dict[str, Handler]`, adding its subparsers and returning their handlers.
_ROOM_COMMANDS = ("ivr.flow.commands", "ivr.qa.commands", "ivr.models.commands",
                  "ivr.phone.commands", "ivr.handoff.commands", "ivr.desk.commands")


def build() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    """The whole command line: the parser with every room's subcommands, and their handlers."""
    import importlib

    parser = _parser()
    handlers = dict(_COMMANDS)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in _ROOM_COMMANDS:
        handlers.update(importlib.import_module(name).register(sub))
    return parser, handlers


def _one_line(exc: BaseException) -> str:
    """What went wrong, as the one line the CLI prints (flow problems: one line each)."""
    if isinstance(exc, FlowError | FlowErrors):
        return str(exc)  # file:line:col: message, one line per problem
    if isinstance(exc, IvrError):
        text = str(exc)
    elif isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        text = f"{where}{exc.strerror or exc}"
    elif isinstance(exc, UnicodeError):
        text = f"text that is not valid UTF-8 ({exc})"
    else:
        text = (f"internal error, please report it: {type(exc).__name__}: {exc} "
                "(IVR_DEBUG=1 shows the traceback)")
    return "ivr: error: " + " ".join(text.split())


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the exit flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point. Exit 0 on success, 1 when a check failed (`test`, `lint --strict`, a
    replayed expectation), 2 on bad usage or input, 130 on Ctrl-C, 70 on an internal error
    (a bug) — every error one line on stderr, never a traceback."""
    configure_streams()
    try:
        parser, handlers = build()
        args = parser.parse_args(argv)
        return handlers[args.command](args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`ivr ... | head`): not an error of ours
        _quiet_stdout()
        return 0
    except (IvrError, OSError, UnicodeError) as exc:
        print(_one_line(exc), file=sys.stderr)
        return 2
    except Exception as exc:
        if os.environ.get("IVR_DEBUG"):
            raise
        print(_one_line(exc), file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
