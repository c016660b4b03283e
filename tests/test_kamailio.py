"""Scale-out behind Kamailio (issue 12 item 6): deploy/kamailio/kamailio.cfg in front of two
`ivr serve` engines, real baresip calls through it, one engine killed mid-run.

Also, without Kamailio: the SIP line honours a proxy's Record-Route (its 200 copies it, its
own BYE routes through it in order), which is what keeps in-dialog requests on the proxy.
Everything listens on 127.0.0.1; every wait is bounded; every process is stopped.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ivr.phone.sdp import build_offer
from ivr.phone.sip import SipRequest, SipResponse, parse_message
from ivr.phone.sipline import LineConfig
from tests.test_phone_serve import ENDED, FLOW, ROOT, env
from tests.test_phone_sip_baresip import Baresip, baresip, free_port, line, tone_wav

DEPLOY = ROOT / "deploy" / "kamailio"
PROMPTS = ROOT / "var" / "prompts"  # the cache test_phone_serve uses too
PROXY_ROUTES = ("<sip:192.0.2.10;lr;ftag=a>", "<sip:192.0.2.20;lr>")


def invite(port: int, me: int, rtp: int) -> bytes:
    sdp = build_offer(address="127.0.0.1", port=rtp, session_id=7)
    head = (f"INVITE sip:ivr@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-rr-1;rport\r\n"
            f"Record-Route: {PROXY_ROUTES[0]}\r\nRecord-Route: {PROXY_ROUTES[1]}\r\n"
            f"From: <sip:caller@127.0.0.1>;tag=c1\r\nTo: <sip:ivr@127.0.0.1:{port}>\r\n"
            f"Call-ID: rr-call-1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
            f"Contact: <sip:caller@127.0.0.1:{me}>\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(sdp.encode())}\r\n\r\n")
    return head.encode() + sdp.encode()


def test_the_line_copies_record_route_into_its_200_and_routes_its_bye_through_it() -> None:
    async def run() -> list[SipRequest | SipResponse]:
        port = free_port(socket.SOCK_DGRAM)
        async with line(LineConfig(port=port)):  # answers, plays 1 s, hangs up (BYE)
            loop = asyncio.get_running_loop()
            got: asyncio.Queue[bytes] = asyncio.Queue()

            class Proxy(asyncio.DatagramProtocol):
                def datagram_received(self, data: bytes, addr: object) -> None:
                    got.put_nowait(data)

            transport, _ = await loop.create_datagram_endpoint(
                Proxy, local_addr=("127.0.0.1", 0), remote_addr=("127.0.0.1", port))
            me = transport.get_extra_info("sockname")[1]
            transport.sendto(invite(port, me, free_port(socket.SOCK_DGRAM)))
            seen: list[SipRequest | SipResponse] = []
            deadline = loop.time() + 8
            while not any(isinstance(m, SipRequest) and m.method == "BYE" for m in seen):
                message = parse_message(await asyncio.wait_for(got.get(),
                                                               deadline - loop.time()))
                assert isinstance(message, SipRequest | SipResponse), message
                seen.append(message)
                if isinstance(message, SipResponse) and message.status == 200:
                    to = message.header("to") or ""
                    transport.sendto(
                        f"ACK sip:ivr@127.0.0.1:{port} SIP/2.0\r\n"
                        f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-rr-2;rport\r\n"
                        f"From: <sip:caller@127.0.0.1>;tag=c1\r\nTo: {to}\r\n"
                        f"Call-ID: rr-call-1\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\n"
                        f"Content-Length: 0\r\n\r\n".encode())
            transport.close()
            return seen

    seen = asyncio.run(run())
    (ok,) = [m for m in seen if isinstance(m, SipResponse) and m.status == 200]
    assert tuple(ok.header_all("record-route")) == PROXY_ROUTES
    (bye,) = [m for m in seen if isinstance(m, SipRequest) and m.method == "BYE"]
    assert tuple(bye.header_all("route")) == PROXY_ROUTES  # in order, not reversed
    assert bye.uri.startswith("sip:caller@127.0.0.1:")  # to the caller, via the proxies
