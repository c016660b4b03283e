"""Scale-out behind Kamailio (issue 12 item 6): deploy/kamailio/kamailio.cfg in front of two
`ivr serve` engines, real baresip calls through it, one engine killed mid-run.

Also, without Kamailio: the SIP line honours a proxy's Record-Route (its 200 copies it, its
own BYE routes through it in order), which is what keeps in-dialog requests on the proxy.
Everything listens on 127.0.0.1; every wait is bounded; every process is stopped.
"""

from __future__ import annotations

import asyncio
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ivr.phone.sdp import build_offer
from ivr.phone.sip import SipRequest, SipResponse, build_response, parse_message, serialize
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


needs_kamailio = pytest.mark.skipif(shutil.which("kamailio") is None,
                                    reason="kamailio is not installed (apt-get install kamailio)")
needs_callers = pytest.mark.skipif(
    shutil.which("baresip") is None or shutil.which("espeak-ng") is None,
    reason="needs baresip (the callers) and espeak-ng (the engines' prompts)")


def test_engines_sh_writes_one_dispatcher_line_per_engine() -> None:
    done = subprocess.run(["sh", str(DEPLOY / "engines.sh"), "3", "10.0.0.5", "6000"],
                          capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    lines = [x for x in done.stdout.splitlines() if not x.startswith("#")]
    assert lines == [f"1 sip:10.0.0.5:{p} 0 0" for p in (6000, 6001, 6002)]
    bad = subprocess.run(["sh", str(DEPLOY / "engines.sh"), "two"], capture_output=True,
                         text=True, timeout=10)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1


class Engine:
    """One `ivr serve` child on 127.0.0.1 (stderr to a file); started, not yet waited for."""

    def __init__(self, tmp: Path, name: str, agent: int) -> None:
        self.port = free_port(socket.SOCK_DGRAM)
        self.log = tmp / f"{name}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ivr.cli", "serve", "--flow", str(FLOW), "--lang", "ko",
             "--queue", str(tmp / f"{name}.sqlite3"), "--prompts", str(PROMPTS),
             "--sip", f"127.0.0.1:{self.port}", "--trust", "127.0.0.1",
             "--transfer", f"fraud=sip:agent@127.0.0.1:{agent}"],
            env=env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"))

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def ready(self) -> bool:
        assert self.process.poll() is None, self.text()[-2000:]
        return "listening on" in self.text()

    def ended(self) -> int:
        return len(ENDED.findall(self.text()))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


@contextmanager
def kamailio(tmp: Path, engines: list[int],
             trusted: str = "127.0.0.1") -> Iterator[tuple[int, Path]]:
    """deploy/kamailio/kamailio.cfg in the foreground before the engines on these
    127.0.0.1 ports, `trusted` its PBX, its lists and runtime dir under `tmp`, probing every
    second; (its SIP port, its log)."""
    run = tmp / "kamailio"
    run.mkdir()
    (run / "dispatcher.list").write_text(
        "".join(f"1 sip:127.0.0.1:{port} 0 0\n" for port in engines))
    (run / "address.list").write_text(f"1 {trusted} 32 0 pbx\n")
    port = free_port(socket.SOCK_DGRAM)
    log = run / "kamailio.log"
    process = subprocess.Popen(
        ["kamailio", "-DD", "-E", "-f", str(DEPLOY / "kamailio.cfg"), "-Y", str(run),
         "-P", str(run / "kamailio.pid"), "-m", "32", "-M", "4",
         "-A", f"LISTEN=udp:127.0.0.1:{port}",
         "-A", f'DS_LIST="{run / "dispatcher.list"}"',
         "-A", f'ADDRESS_LIST="{run / "address.list"}"',
         "-A", f'CTL_SOCKET="unix:{run / "ctl"}"',
         "-A", "PING_INTERVAL=1", "-A", "FR_TIMER=1500"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    try:
        deadline = time.monotonic() + 20
        while not options_answered(port, trusted):
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "kamailio did not answer OPTIONS in 20 s"
        yield port, log
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def options_answered(port: int, source: str) -> bool:
    """One OPTIONS to the proxy itself from `source`; True on a 200 within half a second."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(0.5)
        me = s.getsockname()[1]
        s.sendto((f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
                  f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-up-{me};rport\r\n"
                  f"From: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1:{port}>\r\n"
                  f"Call-ID: up-{me}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                  f"Content-Length: 0\r\n\r\n").encode(), ("127.0.0.1", port))
        try:
            reply = parse_message(s.recv(65536))
        except OSError:
            return False
    return isinstance(reply, SipResponse) and reply.status == 200


async def calls(phone: Baresip, port: int, n: int, seconds: float) -> None:
    """`n` calls to the proxy, one at a time a little apart; waits for all to close."""
    done = phone.count("CALL_CLOSED")
    for _ in range(n):
        await phone.dial(f"sip:ivr@127.0.0.1:{port}")
        await asyncio.sleep(0.3)
    assert await phone.until(lambda events: sum(
        e.get("type") == "CALL_CLOSED" for e in events) >= done + n, seconds), phone.events


@pytest.mark.slow
@needs_kamailio
@needs_callers
def test_calls_through_kamailio_spread_over_two_engines_and_survive_one_killed(
    tmp_path: Path
) -> None:
    rendered = subprocess.run([sys.executable, "-m", "ivr.cli", "prompts", "render", "--flow",
                               str(FLOW), "--out", str(PROMPTS)], env=env(),
                              capture_output=True, text=True, timeout=300)
    assert rendered.returncode == 0, rendered.stderr  # cached after the first run
    engines, first, then, transferred, proxy = asyncio.run(scale_out(tmp_path))
    a, b = engines
    assert transferred  # a REFER through Kamailio: the caller's phone reached the agent
    assert re.search(r"transfer to queue fraud: 200", a.text() + b.text())
    assert re.search(r"in-dialog REFER", proxy) and re.search(r"in-dialog NOTIFY", proxy)
    assert first == 4  # every call answered
    assert a.ended() >= 1 and b.ended() >= 1, (a.ended(), b.ended())  # spread over both
    assert a.ended() + b.ended() == 1 + 4 + 4
    assert then == 4  # after the kill: every new call established, on the survivor
    assert b.ended() >= 4
    dead = rf"sip:127\.0\.0\.1:{a.port}"
    assert re.search(rf"engine ({dead} did not answer|down: {dead}\b)", proxy), proxy[-3000:]
    assert proxy.count("retried on engine") <= 2  # once marked inactive, no call goes there
    assert len(re.findall(r"in-dialog (ACK|BYE)", proxy)) >= 2 * 8, proxy[-3000:]


async def scale_out(tmp: Path) -> tuple[list[Engine], int, int, bool, str]:
    """An agent, two engines, Kamailio; a transferred call, then `place_calls`."""
    from tests.test_phone_serve import baresip_call

    (tmp / "agent").mkdir()
    async with baresip(tmp / "agent", tone_wav(tmp / "agent.wav", 20.0), user="agent",
                       answer=True) as agent:
        engines = [Engine(tmp, "engine_a", agent.port), Engine(tmp, "engine_b", agent.port)]
        try:
            deadline = time.monotonic() + 120
            while not all(e.ready() for e in engines):
                assert time.monotonic() < deadline, "ivr serve did not start in 120 s"
                await asyncio.sleep(0.2)
            with kamailio(tmp, [e.port for e in engines]) as (port, log):
                quiet = tmp / "quiet.wav"  # keys 7 (fraud_report), stays on the line
                with wave.open(str(quiet), "wb") as out:
                    out.setnchannels(1)
                    out.setsampwidth(2)
                    out.setframerate(8000)
                    out.writeframes(b"\0\0" * 8000 * 25)
                await baresip_call(tmp / "transfer", quiet, port, keys="7")
                transferred = await agent.until(lambda events: any(
                    e.get("type") == "CALL_ESTABLISHED" for e in events), 15)
                first, then = await place_calls(tmp, port, engines)
                proxy = log.read_text(errors="replace")
        finally:
            for engine in engines:
                engine.stop()
    return engines, first, then, transferred, proxy


async def place_calls(tmp: Path, port: int, engines: list[Engine]) -> tuple[int, int]:
    """Four calls; SIGKILL the first engine; four more (two at once, two after a probe)."""
    wav = tone_wav(tmp / "caller.wav", 3.0)
    (tmp / "caller").mkdir()
    async with baresip(tmp / "caller", wav) as phone:
        await calls(phone, port, 4, 30)
        before = phone.count("CALL_ESTABLISHED")
        deadline = time.monotonic() + 15  # the engines log each call once its session ends
        while sum(e.ended() for e in engines) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        engines[0].process.send_signal(signal.SIGKILL)
        engines[0].process.wait(5)
        await calls(phone, port, 2, 30)  # the failure route retries on the survivor
        await asyncio.sleep(2.5)  # the OPTIONS probe has marked the dead engine inactive
        await calls(phone, port, 2, 30)
        return before, phone.count("CALL_ESTABLISHED") - before


def request(sock: socket.socket, port: int, method: str, uri: str, *,
            extra: str = "", to_tag: str = "", hops: int = 70) -> SipResponse | None:
    """Send one request to the proxy; its first final response within 3 s, else None."""
    me = sock.getsockname()
    tag = f";tag={to_tag}" if to_tag else ""
    sock.sendto((f"{method} {uri} SIP/2.0\r\n"
                 f"Via: SIP/2.0/UDP {me[0]}:{me[1]};branch=z9hG4bK-{method}-{me[1]};rport\r\n"
                 f"From: <sip:pbx@{me[0]}>;tag=f1\r\nTo: <{uri}>{tag}\r\n"
                 f"Call-ID: {method}-{me[1]}@test\r\nCSeq: 1 {method}\r\n"
                 f"Max-Forwards: {hops}\r\nContact: <sip:pbx@{me[0]}:{me[1]}>\r\n{extra}"
                 f"Content-Length: 0\r\n\r\n").encode(), ("127.0.0.1", port))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            reply = parse_message(sock.recv(65536))
        except OSError:
            return None
        if isinstance(reply, SipResponse) and reply.status >= 200:
            return reply
    return None


def engine_receives_invite(engine: socket.socket, seconds: float) -> SipRequest | None:
    """Play a live engine: answer the proxy's OPTIONS probes until an INVITE arrives."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        engine.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data, addr = engine.recvfrom(65536)
        except OSError:
            return None
        message = parse_message(data)
        if isinstance(message, SipRequest) and message.method == "INVITE":
            return message
        if isinstance(message, SipRequest) and message.method == "OPTIONS":
            engine.sendto(serialize(build_response(message, 200, "OK", to_tag="e")), addr)
    return None


@needs_kamailio
def test_kamailio_serves_only_trusted_sources_and_relays_new_calls_only_to_engines(
    tmp_path: Path
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as engine, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as pbx, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        engine.bind(("127.0.0.1", 0))
        pbx.bind(("127.0.0.2", 0))
        stranger.bind(("127.0.0.3", 0))
        with kamailio(tmp_path, [engine.getsockname()[1]], trusted="127.0.0.2") as (port, _):
            me = f"sip:127.0.0.1:{port}"
            refused = [request(stranger, port, m, me) for m in ("OPTIONS", "INVITE")]
            registered = request(pbx, port, "REGISTER", me)
            stray = request(pbx, port, "BYE", "sip:bob@198.51.100.7", to_tag="t")
            looped = request(pbx, port, "INVITE", me, hops=0)
            pbx.sendto(b"", ("127.0.0.1", port))  # nothing: no reply, no crash
            relay = "sip:bob@198.51.100.7"  # a foreign Request-URI goes to an engine only
            threading.Thread(target=request, args=(pbx, port, "INVITE", relay),
                             daemon=True).start()
            arrived = engine_receives_invite(engine, 5)
    assert [r.status if r else None for r in refused] == [403, 403]
    assert registered is not None and registered.status == 405
    assert stray is not None and stray.status == 404  # in-dialog without our route: not relayed
    assert looped is not None and looped.status == 483
    assert arrived is not None and arrived.uri == relay
    assert any(f"127.0.0.1:{port}" in r for r in arrived.header_all("record-route"))


@needs_kamailio
def test_kamailio_retries_an_invite_refused_with_503_on_the_next_engine(tmp_path: Path) -> None:
    """A draining engine answers new INVITEs 503: the failure route tries the other one."""
    engines = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    invites: list[tuple[int, str]] = []  # (engine index, Call-ID) in arrival order
    try:
        for sock in engines:
            sock.bind(("127.0.0.1", 0))
        ports = [sock.getsockname()[1] for sock in engines]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as pbx, \
                kamailio(tmp_path, ports) as (port, log):
            pbx.bind(("127.0.0.1", 0))
            threading.Thread(target=request, args=(pbx, port, "INVITE", "sip:ivr@bank"),
                             daemon=True).start()
            deadline = time.monotonic() + 6
            while len(invites) < 2 and time.monotonic() < deadline:
                ready, _, _ = select.select(engines, [], [], 0.2)
                for sock in ready:
                    data, addr = sock.recvfrom(65536)
                    message = parse_message(data)
                    if not isinstance(message, SipRequest) or message.method not in (
                            "INVITE", "OPTIONS"):
                        continue  # the proxy's ACK for our 503
                    if message.method == "INVITE":
                        invites.append((engines.index(sock), message.header("call-id") or ""))
                    status, reason = (200, "OK") if message.method == "OPTIONS" else (
                        503, "Service Unavailable")  # both engines are draining
                    sock.sendto(serialize(build_response(message, status, reason,
                                                         to_tag="e")), addr)
            proxy = log.read_text(errors="replace")
    finally:
        for sock in engines:
            sock.close()
    assert len(invites) == 2, proxy[-3000:]
    (first, call), (second, again) = invites
    assert {first, second} == {0, 1} and call == again  # the same call, on the other engine
    assert "with 503" in proxy and "retried on engine" in proxy
