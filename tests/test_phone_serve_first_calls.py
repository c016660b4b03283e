"""The first calls after `ivr serve` starts are routed as `ivr replay` routes their audio.

Found with bench.phone: the first calls found every recogniser cold, decoding fell 3-9 s
behind real time, and the recognition worker shed the streams opened then to one grammar
view without free decoding; `ko_fraud` at 8 kHz, which only the second ("fast") view
hears, was then reprompted in one of two identical calls placed together, and the caller
sat through 25 s of reprompt and menu. `ivr serve` now warms the recognisers first.
Real baresip (two calls at once from one baresip), real `ivr serve`, the embedded model.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_phone_serve import CALLER, FLOW, Served, env
from tests.test_phone_sip_baresip import Baresip, baresip, closed, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(any(shutil.which(t) is None for t in ("baresip", "sox", "espeak-ng")),
                       reason="needs baresip, sox and espeak-ng"),
]


def test_two_calls_placed_together_right_after_start_are_both_routed_as_replay(
    tmp_path: Path
) -> None:
    wav = tmp_path / "caller.wav"
    subprocess.run(["sox", "-D", "-R", str(CALLER), "-r", "8000", "-c", "1", "-b", "16", str(wav),
                    "pad", "0", "8"], check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-m", "ivr.cli", "replay", "--flow", str(FLOW),
                           "--lang", "ko", "--json", "--queue", str(tmp_path / "r.sqlite3"),
                           str(wav)], env=env(), capture_output=True, text=True, timeout=120)
    expected = json.loads(done.stdout.splitlines()[0])["outcome"]["node"]
    assert expected == "fraud_report", done.stdout  # the check below means something
    port = free_port(socket.SOCK_DGRAM)
    served = Served(tmp_path, "--sip", f"127.0.0.1:{port}")

    async def run() -> Baresip:
        (tmp_path / "phone").mkdir()
        async with baresip(tmp_path / "phone", wav) as phone:
            for _ in range(2):
                await phone.dial(f"sip:ivr@127.0.0.1:{port}")
            assert await phone.until(closed(2), 90), phone.events
            await asyncio.sleep(1.0)  # the BYEs reach the engine before baresip goes
            return phone

    try:
        phone = asyncio.run(run())
    finally:
        served.stop()
    assert phone.count("CALL_ESTABLISHED") == 2
    nodes = [node for _, _, node in served.ended()]
    assert nodes == [expected, expected], served.text()[-3000:]
