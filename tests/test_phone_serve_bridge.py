"""`ivr serve --transfer-by bridge` end to end: a real process with the bank flow, a baresip
caller that keys 7 (fraud_report, handed to the fraud queue) and a baresip agent that
answers the engine's second leg, hears the caller, and hangs up, which ends the caller's
call. The queue's audit trail says `transferred … SIP 200 bridge`."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from ivr.handoff import open_queue
from tests.test_phone_bridge import established, heard, noise, recording_baresip, write_wav
from tests.test_phone_serve import Served, baresip_call
from tests.test_phone_serve_features import best_match, queued
from tests.test_phone_sip_baresip import closed, free_port, tone_wav

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("sox") is None or shutil.which("espeak-ng") is None
                       or shutil.which("baresip") is None,
                       reason="needs sox, espeak-ng and baresip"),
]


def test_serve_bridges_a_handed_off_caller_to_the_agent(tmp_path: Path) -> None:
    quiet = np.zeros(8000 * 4, "<i2")  # the key is pressed in the quiet, then the caller talks
    voice = noise(36.0, seed=7)
    wav = write_wav(tmp_path / "caller.wav", np.concatenate([quiet, voice]))
    port = free_port(socket.SOCK_DGRAM)

    async def run() -> Served:
        async with recording_baresip(tmp_path / "agent", tone_wav(tmp_path / "agent.wav", 40),
                                     "agent", answer=True) as agent:
            served = Served(tmp_path, "--sip", f"127.0.0.1:{port}", "--transfer-by", "bridge",
                            "--transfer", f"fraud=sip:agent@127.0.0.1:{agent.port}")

            async def agent_side() -> None:
                assert await agent.until(established, 60), agent.events
                await asyncio.sleep(4.0)
                await agent.command("hangup", "")
                assert await agent.until(closed(1), 10), agent.events

            try:
                await asyncio.gather(agent_side(),
                                     baresip_call(tmp_path / "caller", wav, port, keys="7"))
            finally:
                served.stop()
            return served

    served = asyncio.run(run())
    log = served.text()
    found = re.search(r"call (\S+) transfer to queue fraud: 200 \(bridged\)", log)
    assert found, log[-2000:]
    call_id = found.group(1)
    assert re.search(rf"call {re.escape(call_id)} ended: handoff at fraud_report", log), log[-2000:]
    (record,) = queued(served)
    assert record["call_id"] == call_id and record["queue"] == "fraud"
    queue = open_queue(str(served.queue))
    try:
        events = [(e.event, e.actor, e.detail) for e in queue.history(call_id)]  # type: ignore[attr-defined]
    finally:
        queue.close()
    assert ("transferred", "engine", "SIP 200 bridge") in events, events
    agent_heard = heard(tmp_path / "agent")
    score = max(best_match(agent_heard, voice[8000 * k:]) for k in range(0, 34, 2))
    assert score > 0.6, score  # the agent heard the caller through the engine
