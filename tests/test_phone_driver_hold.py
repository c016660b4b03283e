"""The phone driver while the caller holds the call (real Vosk, the bank flow, espeak-ng
prompts; the line is test_phone_driver's stand-in with a `held` flag as `PhoneCall` has):
the held phone's music and silence are not listened to, its quiet is not a dead line, and
after the resume the caller's key is the turn's answer (no reprompt, no handoff)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from ivr.call import CallResult, Hotline
from ivr.phone.audiosocket import Audio, DtmfKey
from ivr.phone.driver import PhoneDriver
from ivr.phone.prompts import PromptAudio
from ivr.types import Dtmf
from tests.test_phone_driver import CACHE, StandInLine, hotline, needs_tools

__all__ = ["hotline"]  # the module-scoped fixture, shared


class HeldLine(StandInLine):
    def __init__(self) -> None:
        super().__init__()
        self.held = False


@pytest.mark.slow
@needs_tools
def test_a_held_caller_is_not_reprompted_nor_dropped(hotline: Hotline) -> None:
    line = HeldLine()
    music = (np.random.default_rng(1).standard_normal(160) * 6000).astype("<i2").tobytes()

    async def caller() -> None:
        await asyncio.sleep(0.5)
        line.held = True
        for _ in range(300):  # 6 s of music on hold
            await line.events.put(Audio(music))
            await asyncio.sleep(0.02)
        await asyncio.sleep(3.0)  # then nothing at all (3x the media timeout)
        for _ in range(400):  # then 8 s of digital silence: no-input would have run out
            await line.events.put(Audio(b"\0\0" * 160))
            await asyncio.sleep(0.02)
        line.held = False
        await asyncio.sleep(0.5)
        await line.events.put(DtmfKey(Dtmf.D3))
        await asyncio.sleep(0.5)
        line.ended.set()  # the caller hangs up at the next node

    async def run() -> CallResult:
        driver = PhoneDriver(hotline, PromptAudio(hotline.flow, CACHE), "ko",
                             media_timeout_s=1.0)
        task = asyncio.create_task(caller())
        try:
            return await asyncio.wait_for(driver.run(line, "drv-hold"), 90)
        finally:
            task.cancel()

    result = asyncio.run(run())
    decisions = [t.decision for t in result.turns]
    assert result.path[:2] == ("root", "card_loss"), (result.path, decisions)
    assert "no_input" not in decisions and "reprompt" not in decisions, decisions
    assert result.outcome.reason == "caller_hung_up", result.outcome  # not line_dead
