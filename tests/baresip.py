"""Starting baresip and driving it over ctrl_tcp: shared by the phone tests and the phone
bench (bench/phone_callers.py), so there is one starter. No ivr import.

baresip is ready when its ctrl_tcp port accepts a connection; that is polled with a bound
(30 s by default) instead of a fixed wait, and a baresip that exits early fails at once.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["CONFIG", "Baresip", "BaresipFailed", "free_port", "start_baresip"]

READY_SECONDS = 30.0
"""How long a baresip may take to listen on ctrl_tcp (a loaded machine took over 10 s)."""


CONFIG = """\
sip_listen 127.0.0.1:{sip}
sip_trans_def udp
call_max_calls 64
net_interface 127.0.0.1
audio_player aubridge,nowhere
audio_alert aubridge,nowhere
audio_source aufile,{wav}
rtp_ports {rtp}-{rtp_end}
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module aubridge.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl}
"""


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class BaresipFailed(RuntimeError):
    """baresip exited or did not listen on ctrl_tcp in time (the message has its log tail)."""


class Baresip:
    """One headless baresip, its ctrl_tcp events collected as they come."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 process: asyncio.subprocess.Process, port: int) -> None:
        self.reader, self.writer, self.process = reader, writer, process
        self.port = port
        self.events: list[dict[str, object]] = []

    async def dial(self, uri: str) -> None:
        await self.command("dial", uri)

    async def command(self, name: str, params: str) -> None:
        data = json.dumps({"command": name, "params": params, "token": "t"}).encode()
        self.writer.write(str(len(data)).encode() + b":" + data + b",")
        await self.writer.drain()

    async def until(self, check: Callable[[list[dict[str, object]]], bool],
                    seconds: float) -> bool:
        """Read events until `check` holds or `seconds` pass (bounded)."""
        async def read() -> None:
            while not check(self.events):
                size = await self.reader.readuntil(b":")
                body = await self.reader.readexactly(int(size[:-1]) + 1)
                event = json.loads(body[:-1])
                if isinstance(event, dict):
                    event["received_at"] = time.monotonic()  # when it reached us
                self.events.append(event)
        try:
            await asyncio.wait_for(read(), seconds)
        except (TimeoutError, asyncio.IncompleteReadError):
            return False
        return True

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e.get("type") == kind)


async def start_baresip(tmp: Path, ctrl: int, sip: int,
                        seconds: float = READY_SECONDS) -> Baresip:
    """Start baresip with the config in `tmp` (listening for ctrl_tcp on `ctrl`, SIP on
    `sip`) and connect to it once ready. On failure the process is killed and
    BaresipFailed says why; the caller kills a returned one's process when done."""
    process = await asyncio.create_subprocess_exec(
        "baresip", "-f", str(tmp), stdin=subprocess.DEVNULL,
        stdout=(tmp / "log.txt").open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + seconds
    while process.returncode is None and time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", ctrl)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        return Baresip(reader, writer, process, sip)
    why = (f"exited with {process.returncode}" if process.returncode is not None
           else f"did not listen on ctrl_tcp within {seconds:.0f} s")
    if process.returncode is None:
        process.kill()
    await asyncio.wait_for(process.wait(), 5)
    log = (tmp / "log.txt").read_text(errors="replace")[-500:]
    raise BaresipFailed(f"baresip {why}: {log}")
