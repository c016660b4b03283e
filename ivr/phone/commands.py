"""`ivr prompts render` and `ivr serve`: the phone room's commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from ivr.errors import UsageError
from ivr.types import LANGS

__all__ = ["register"]

Handler = Callable[[argparse.Namespace], int]
DEFAULT_CACHE = os.path.join("var", "prompts")
"""Where synthesised prompts are cached unless --out / --prompts says otherwise."""


def _address(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isascii() or not port.isdigit() \
            or not 0 <= int(port) < 65536:
        raise UsageError(f"{what} must be HOST:PORT, got {text!r}")
    return host, int(port)


def _ip(text: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise UsageError(f"--trust must be an IP address, got {text!r}") from None


def _add_flow(p: argparse.ArgumentParser) -> None:
    p.add_argument("--flow", required=True, help="flow YAML file")
    p.add_argument("--overlay", action="append", default=[], metavar="FILE",
                   help="overlay laid over the flow where active (repeatable)")


def register(sub: Any) -> dict[str, Handler]:
    """Add `prompts` and `serve` to the `ivr` command line."""
    p = sub.add_parser("prompts", help="prompts as phone audio")
    psub = p.add_subparsers(dest="prompts_command", required=True, metavar="ACTION")
    r = psub.add_parser("render", help="render every prompt of the flow to 8 kHz audio "
                        "(espeak-ng; studio recordings in prompts/<lang>/<node>.wav win)")
    _add_flow(r)
    r.add_argument("--out", default=DEFAULT_CACHE,
                   help=f"cache directory (default {DEFAULT_CACHE})")

    s = sub.add_parser("serve", help="answer phone calls (SIP and/or Asterisk AudioSocket)")
    _add_flow(s)
    s.add_argument("--sip", default="127.0.0.1:5080", metavar="HOST:PORT",
                   help="SIP (UDP) listener (default 127.0.0.1:5080; 'off' for none)")
    s.add_argument("--audiosocket", default="off", metavar="HOST:PORT",
                   help="AudioSocket (TCP) listener, e.g. 127.0.0.1:9092 (default off)")
    s.add_argument("--backend", metavar="URL",
                   help="the bank's service for request and authenticate steps, http(s)://host:"
                        "port (default: $IVR_BANK_URL; token from $IVR_BANK_TOKEN)")
    s.add_argument("--queue", help="handoff queue: a SQLite file or sqlite:///abs/path "
                   "(default: $IVR_QUEUE or var/handoff.sqlite3)")
    s.add_argument("--lang", choices=LANGS, help="callers' language (default: the flow's first)")
    s.add_argument("--model", help="Vosk model directory")
    s.add_argument("--max-calls", type=int, default=24, help="calls at once (default 24)")
    s.add_argument("--trust", action="append", default=[], metavar="ADDR",
                   help="source address allowed to call (repeatable; default 127.0.0.1)")
    s.add_argument("--transfer", action="append", default=[], metavar="QUEUE=SIP-URI",
                   help="REFER SIP callers handed off to QUEUE to this URI (repeatable)")
    s.add_argument("--prompts", default=DEFAULT_CACHE,
                   help=f"prompt audio cache (default {DEFAULT_CACHE})")
    return {"prompts": _cmd_prompts, "serve": _cmd_serve}


def _transfers(given: list[str], queues: Any) -> dict[str, str]:
    """`QUEUE=sip:...` options → a map; UsageError naming what is wrong."""
    out: dict[str, str] = {}
    for item in given:
        queue, sep, uri = item.partition("=")
        if not sep or not uri.startswith(("sip:", "sips:")):
            raise UsageError(f"--transfer must be QUEUE=sip:user@host[:port], got {item!r}")
        if queue not in queues:
            raise UsageError(f"--transfer names queue {queue!r}, which the flow does not have "
                             f"(its queues: {', '.join(sorted(queues))})")
        out[queue] = uri
    return out


def _flow(args: argparse.Namespace) -> Any:
    from ivr.flow import load_linted

    return load_linted(args.flow, args.overlay)


def _cmd_prompts(args: argparse.Namespace) -> int:
    from ivr.phone.prompts import PromptAudio

    audio = PromptAudio(_flow(args), args.out)
    audio.require_synthesis()
    report = audio.render_all()
    print(f"{report.synthesised} rendered, {report.cached} already cached, {report.studio} "
          f"studio recordings; {report.seconds:.1f} s of audio in {args.out}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    sip = None if args.sip == "off" else _address(args.sip, "--sip")
    audiosocket = None if args.audiosocket == "off" else _address(args.audiosocket,
                                                                  "--audiosocket")
    if sip is None and audiosocket is None:
        raise UsageError("nothing to listen on: give --sip or --audiosocket")
    if args.max_calls < 1:
        raise UsageError(f"--max-calls must be at least 1, got {args.max_calls}")
    trusted = frozenset(_ip(a) for a in args.trust or ["127.0.0.1"])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from ivr.call import Hotline, bank_services
    from ivr.handoff import open_queue
    from ivr.phone.driver import PhoneDriver
    from ivr.phone.prompts import PromptAudio

    flow = _flow(args)
    transfers = _transfers(args.transfer, flow.queues)
    lang = args.lang or flow.languages[0]
    queue = open_queue(args.queue or None)
    services = bank_services(args.backend)  # a bad URL or no token: before anything listens
    audio = PromptAudio(flow, args.prompts)
    audio.require_synthesis()
    audio.render_all()  # every known prompt is audio before the first call
    hotline = Hotline(flow, queue=queue, model=args.model, services=services)
    try:
        hotline.listener(lang)  # load the speech model before the first call
        driver = PhoneDriver(hotline, audio, lang, transfers)
        asyncio.run(_serve(driver, sip, audiosocket, args.max_calls, trusted))
    finally:
        hotline.close()
    return 0


async def _serve(driver: Any, sip: tuple[str, int] | None,
                 audiosocket: tuple[str, int] | None, max_calls: int,
                 trusted: frozenset[str]) -> None:
    from ivr.phone.audiosocket_line import AudioSocketLine
    from ivr.phone.sipline import LineConfig, SipLine

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sip_line = (SipLine(LineConfig(sip[0], sip[1], trusted, max_calls), driver.sip)
                if sip else None)
    as_line = (AudioSocketLine(audiosocket[0], audiosocket[1], driver.audiosocket, max_calls)
               if audiosocket else None)
    if sip_line is not None:
        await sip_line.start()
    if as_line is not None:
        await as_line.start()
    where = [f"SIP udp {sip[0]}:{sip[1]}" if sip else "",
             f"AudioSocket tcp {audiosocket[0]}:{as_line.port}" if as_line and audiosocket
             else ""]
    print(f"ivr serve: listening on {', '.join(w for w in where if w)}; "
          f"{max_calls} calls at most; language {driver.lang}", file=sys.stderr, flush=True)
    await stop.wait()
    print("ivr serve: draining (new calls get 503); waiting for calls in progress",
          file=sys.stderr, flush=True)
    if sip_line is not None:
        sip_line.draining = True
    if as_line is not None and as_line._server is not None:
        as_line._server.close()  # no new connections; the ones open go on
    while ((sip_line is not None and sip_line.active)
           or (as_line is not None and as_line._active)):
        await asyncio.sleep(0.1)
    if sip_line is not None:
        await sip_line.stop()
    if as_line is not None:
        await as_line.stop()
    print("ivr serve: stopped", file=sys.stderr, flush=True)
