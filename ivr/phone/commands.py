"""`ivr prompts render` and `ivr serve`: the phone room's commands (the service itself is in
`ivr.phone.serve`, its options in `ivr.phone.config`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ivr.phone.config import DEFAULT_CACHE, DEFAULTS
from ivr.types import LANGS

__all__ = ["register"]

Handler = Callable[[argparse.Namespace], int]


def _add_flow(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument("--flow", required=required, help="flow YAML file")
    p.add_argument("--overlay", action="append", default=None if not required else [],
                   metavar="FILE", help="overlay laid over the flow where active (repeatable)")


def register(sub: Any) -> dict[str, Handler]:
    """Add `prompts` and `serve` to the `ivr` command line."""
    p = sub.add_parser("prompts", help="prompts as phone audio")
    psub = p.add_subparsers(dest="prompts_command", required=True, metavar="ACTION")
    r = psub.add_parser("render", help="render every prompt of the flow to 8 kHz audio "
                        "(espeak-ng; studio recordings in prompts/<lang>/<node>.wav win)")
    _add_flow(r)
    r.add_argument("--out", default=DEFAULT_CACHE,
                   help=f"cache directory (default {DEFAULT_CACHE})")

    # defaults are applied after the --config file (ivr.phone.config): None = not given
    s = sub.add_parser("serve", help="answer phone calls (SIP and/or Asterisk AudioSocket)")
    s.add_argument("--config", metavar="FILE",
                   help="TOML file with any of these options (the command line wins)")
    _add_flow(s, required=False)
    s.add_argument("--sip", metavar="HOST:PORT",
                   help=f"SIP (UDP) listener (default {DEFAULTS['sip']}; 'off' for none)")
    s.add_argument("--audiosocket", metavar="HOST:PORT",
                   help="AudioSocket (TCP) listener, e.g. 127.0.0.1:9092 (default off)")
    s.add_argument("--backend", metavar="URL",
                   help="the bank's service for request and authenticate steps, http(s)://host:"
                        "port (default: $IVR_BANK_URL; token from $IVR_BANK_TOKEN)")
    s.add_argument("--queue", help="handoff queue: a SQLite file or sqlite:///abs/path "
                   "(default: $IVR_QUEUE or var/handoff.sqlite3)")
    s.add_argument("--lang", choices=LANGS, help="callers' language (default: the flow's first)")
    s.add_argument("--lang-for", action="append", metavar="NUMBER=LANG",
                   help="callers of this number (SIP Request-URI user part) speak LANG "
                   "(repeatable; an X-IVR-Lang header from a trusted source wins)")
    s.add_argument("--model", help="Vosk model directory")
    s.add_argument("--max-calls", type=int,
                   help=f"calls at once (default {DEFAULTS['max_calls']})")
    s.add_argument("--workers", type=int,
                   help="speech recognition processes, each with its own copy of the model "
                        f"(default {DEFAULTS['workers']}: one per core)")
    s.add_argument("--trust", action="append", metavar="ADDR",
                   help="source address allowed to call (repeatable; default 127.0.0.1)")
    s.add_argument("--transfer", action="append", metavar="QUEUE=SIP-URI",
                   help="transfer SIP callers handed off to QUEUE to this URI (repeatable)")
    s.add_argument("--transfer-by", choices=("refer", "bridge"),
                   help="refer: REFER the caller, bridging a second leg when the REFER is "
                   "refused (default); bridge: the trunk does not do REFER, always bridge")
    s.add_argument("--prompts", help=f"prompt audio cache (default {DEFAULT_CACHE})")
    s.add_argument("--metrics", metavar="HOST:PORT",
                   help="serve Prometheus /metrics here, e.g. 127.0.0.1:9100 (default off)")
    return {"prompts": _cmd_prompts, "serve": _cmd_serve}


def _cmd_prompts(args: argparse.Namespace) -> int:
    from ivr.flow import load_linted
    from ivr.phone.prompts import PromptAudio

    audio = PromptAudio(load_linted(args.flow, args.overlay), args.out)
    audio.require_synthesis()
    report = audio.render_all()
    print(f"{report.synthesised} rendered, {report.cached} already cached, {report.studio} "
          f"studio recordings; {report.seconds:.1f} s of audio in {args.out}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from ivr.phone.config import options
    from ivr.phone.serve import serve

    return serve(options(args))
