"""`ivr serve`: the long-running service that answers phone calls (SIP and/or AudioSocket),
each call a `PhoneDriver` run of the call session; optional Prometheus `/metrics`.

Every option is checked before anything listens (`ivr.phone.config`); then the queue opens,
every prompt is rendered, the speech model loads, and only then the lines listen. SIGTERM or
SIGINT drains: new INVITEs get 503, the AudioSocket listener closes, calls in progress finish.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Mapping
from typing import Any

from ivr.errors import UsageError
from ivr.phone.config import ServeOptions

__all__ = ["serve"]


def _transfers(given: Mapping[str, str], queues: Any) -> dict[str, str]:
    """Queue → SIP URI, checked against the flow's queues; UsageError naming what is wrong."""
    for queue, uri in given.items():
        if not uri.startswith(("sip:", "sips:")):
            raise UsageError(f"--transfer must be QUEUE=sip:user@host[:port], "
                             f"got {queue}={uri!r}")
        if queue not in queues:
            raise UsageError(f"--transfer names queue {queue!r}, which the flow does not have "
                             f"(its queues: {', '.join(sorted(queues))})")
    return dict(given)


def _check_langs(opts: ServeOptions, languages: tuple[str, ...]) -> None:
    for lang in (opts.lang, *opts.lang_for.values()):
        if lang is not None and lang not in languages:
            raise UsageError(f"language {lang!r} is not one of the flow's "
                             f"({', '.join(languages)})")


def serve(opts: ServeOptions) -> int:
    """Run the service until SIGTERM/SIGINT; 0 when it drained."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from ivr.asr import ServiceConfig
    from ivr.call import Hotline, bank_services
    from ivr.flow import load_linted
    from ivr.handoff import open_queue
    from ivr.phone.driver import MAX_WARM_TURNS, PhoneDriver
    from ivr.phone.metrics import ServeMetrics
    from ivr.phone.prompts import PromptAudio
    from ivr.speech import SpeechConfig

    flow = load_linted(opts.flow, list(opts.overlays))
    transfers = _transfers(opts.transfer, flow.queues)
    _check_langs(opts, flow.languages)
    lang = opts.lang or flow.languages[0]
    queue = open_queue(opts.queue)
    services = bank_services(opts.backend)  # a bad URL or no token: before anything listens
    audio = PromptAudio(flow, opts.prompts)
    audio.require_synthesis()
    audio.render_all()  # every known prompt is audio before the first call
    speech = SpeechConfig(service=ServiceConfig(workers=opts.workers))
    hotline = Hotline(flow, queue=queue, model=opts.model, services=services, speech=speech)
    metrics = ServeMetrics(queue)
    try:
        hotline.listener(lang)  # load the speech model before the first call
        for other in sorted(set(opts.lang_for.values()) - {lang}):
            try:
                hotline.listener(other)
            except Exception as exc:  # callers of that number are handed to agents
                logging.getLogger(__name__).warning(
                    "no %s speech model (%s): its callers are handed to an agent",
                    other, type(exc).__name__)
        if opts.metrics is not None:
            port = metrics.serve(*opts.metrics)
            print(f"ivr serve: metrics on http://{opts.metrics[0]}:{port}/metrics",
                  file=sys.stderr, flush=True)
        driver = PhoneDriver(hotline, audio, lang, transfers, observe=metrics.observe)
        driver.warm_up(min(opts.max_calls, MAX_WARM_TURNS))  # no caller finds them cold
        asyncio.run(_serve(driver, opts, flow.languages))
    finally:
        metrics.close()
        hotline.close()
    return 0


async def _serve(driver: Any, opts: ServeOptions, languages: tuple[Any, ...]) -> None:
    from ivr.phone.audiosocket_line import AudioSocketLine
    from ivr.phone.sipline import LineConfig, SipLine

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sip, audiosocket = opts.sip, opts.audiosocket
    sip_line = (SipLine(LineConfig(sip[0], sip[1], opts.trust, opts.max_calls,
                                   lang_for=opts.lang_for, languages=languages,
                                   transfer_by=opts.transfer_by), driver.sip)
                if sip else None)
    as_line = (AudioSocketLine(audiosocket[0], audiosocket[1], driver.audiosocket,
                               opts.max_calls) if audiosocket else None)
    if sip_line is not None:
        await sip_line.start()
    if as_line is not None:
        await as_line.start()
    where = [f"SIP udp {sip[0]}:{sip[1]}" if sip else "",
             f"AudioSocket tcp {audiosocket[0]}:{as_line.port}" if as_line and audiosocket
             else ""]
    print(f"ivr serve: listening on {', '.join(w for w in where if w)}; "
          f"{opts.max_calls} calls at most; language {driver.lang}; "
          f"{opts.workers} speech worker{'s' if opts.workers > 1 else ''}", file=sys.stderr,
          flush=True)
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
