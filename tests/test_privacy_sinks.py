"""Every sink of the real CLI, checked for the attack forms of issue 10 finding 1.

The attacks — the 15 forms the issue reported, plus a fixed, derandomised hypothesis sample of
generated calls (separators . / _ 杠 -, financial Chinese numerals, native Korean numbers, a PIN
before its keyword, a CVV with no keyword, a code split over turns, card and code in one
breath) — go through `ivr route` (plain, --json), `ivr replay` (plain, -v, --json), `ivr chat`
(a typed script, its /trace, the handoff it files), `ivr test` (--json, --junit, --html), the
SQLite queue files (database, -wal, -shm) and the call-outcome log in them (every call's
record), `ivr queue list|take|stats` (plain and --json),
stdout, stderr, and the log records of every logger at DEBUG (caplog and a file handler).

The checker is independent of `ivr.privacy`: it maps every numeral system back to ASCII digits
on its own, drops caller-style separators between digits, and then looks for a PIN's digits
(4-6) anywhere, a CVV's 3 digits next to a cue word, and any 8 consecutive digits of a card.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ivr.cli import main

from .conftest import BANK, ROOT
from .test_privacy_generated import Call, calls, luhn_digit

# -- the reference: every numeral system back to ASCII digits --------------------------------

_CHARS = {**{c: str(i) for i, c in enumerate("零一二三四五六七八九")},
          **{c: str(i + 1) for i, c in enumerate("壹贰叁肆伍陆柒捌玖")},
          "〇": "0", "幺": "1", "两": "2", "貳": "2", "參": "3", "陸": "6", "拾": "10",
          **{c: str(i) for i, c in enumerate("공일이삼사오육칠팔구")}, "영": "0"}
_WORDS = {"하나": "1", "둘": "2", "셋": "3", "넷": "4", "다섯": "5", "여섯": "6", "일곱": "7",
          "여덟": "8", "아홉": "9", "열": "10", "zero": "0", "oh": "0", "one": "1", "two": "2",
          "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
          "nine": "9"}
_EN_RE = re.compile(r"(?<![a-z])(?:(double|triple)\s+)?(zero|oh|one|two|three|four|five|six|"
                    r"seven|eight|nine)(?![a-z])", re.IGNORECASE)
_KO_RE = re.compile("|".join(k for k in _WORDS if not k.isascii()))
_NOISE_RE = re.compile(
    r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d| ?UTC)?"  # times
    r"|(?<![\d.])(?:\d|\d{9,10})\.\d+(?![\d.])"  # scores 0.6077, epoch seconds 1796398771.78
    r'|"(?:\w+_seconds|at|created_at|taken_at|done_at|lease_until)": -?\d+(?:\.\d+)?'
    # ^ the queue's own ages, waits and clocks in JSON (12.7237 s of waiting is not a PIN)
)
"""Numbers the engine writes itself (timestamps, scores): no caller ever says one."""
_JOIN_RE = re.compile(r"(?<=\d)(?:[\s\-./_,、·…—–杠\"'\\]|dash|\\n){1,6}(?=\d)")
"""Separators a caller (or a list of turns in JSON) puts between the digits of one number."""
_CUE_RE = re.compile(r"pin|cvv|code|password|on the back|密码|背面|安全码|验证码|비밀번호|뒷면|"
                     r"보안코드|비번", re.IGNORECASE)


def ascii_digits(text: str) -> str:
    """`text` with every digit, in any numeral system, as ASCII and separators dropped."""
    text = _NOISE_RE.sub(" ", text)
    text = _EN_RE.sub(lambda m: _WORDS[m[2].lower()] * {"double": 2, "triple": 3}.get(
        (m[1] or "").lower(), 1), text)
    text = _KO_RE.sub(lambda m: _WORDS[m.group()], text)
    text = "".join(_CHARS.get(c) or (str(int(c)) if c.isdecimal() else c) for c in text)
    return _JOIN_RE.sub("", text)


@dataclass(frozen=True)
class Attack:
    lang: str
    turns: tuple[str, ...]
    codes: tuple[str, ...] = ()
    """PIN or CVV digits: none may be readable."""
    cards: tuple[str, ...] = ()
    """Card numbers: no 8 consecutive digits may be readable."""


def leaks(name: str, blob: str, attacks: list[Attack]) -> list[str]:
    """What of the attacks' secrets can be read from `blob`, one line per leak."""
    norm = ascii_digits(blob)
    runs = re.findall(r"\d+", norm)
    found = []
    for a in attacks:
        for card in a.cards:
            hit = next((card[i : i + 8] for i in range(len(card) - 7)
                        if any(card[i : i + 8] in r for r in runs)), None)
            if hit:
                found.append(f"{name}: card {card}: {hit} readable ({a.turns})")
        for code in a.codes:
            if len(code) >= 4 and any(code in r for r in runs):
                found.append(f"{name}: code {code} readable ({a.turns})")
            elif len(code) == 3 and _near_cue(norm, code):
                found.append(f"{name}: code {code} readable next to a cue ({a.turns})")
    return found


def _near_cue(norm: str, code: str) -> bool:
    for m in _CUE_RE.finditer(norm):
        window = norm[max(0, m.start() - 16) : m.end() + 16]
        if any(code in r for r in re.findall(r"\d+", window)):
            return True
    return False


# -- the attacks -----------------------------------------------------------------------------

REPORTED = [
    Attack("en", ("4111.1111.1111.1111 please",), cards=("4111111111111111",)),
    Attack("en", ("card 4532/0151/1283/0366",), cards=("4532015112830366",)),
    Attack("en", ("my card is 4532_0151_1283_0366",), cards=("4532015112830366",)),
    Attack("zh", ("卡号6222杠0212杠3456杠7894",), cards=("6222021234567894",)),
    Attack("zh", ("陆贰贰贰零贰壹贰叁肆伍陆柒捌玖零壹贰捌",), cards=("6222021234567890128",)),
    Attack("en", ("the three digits on the back are 4 5 6",), codes=("456",)),
    Attack("en", ("the code on the back is seven eight nine",), codes=("789",)),
    Attack("zh", ("背面三位数是一二三",), codes=("123",)),
    Attack("ko", ("카드 뒷면 세자리 숫자는 칠팔구",), codes=("789",)),
    Attack("en", ("1234 is my pin",), codes=("1234",)),
    Attack("ko", ("1234가 비밀번호예요",), codes=("1234",)),
    Attack("zh", ("123456是我的密码",), codes=("123456", "3456")),
    Attack("ko", ("비밀번호는 하나 둘 셋 넷",), codes=("1234",)),
    Attack("en", ("I need to give you my pin", "1 2 3 4"), codes=("1234",)),
    Attack("zh", ("我要告诉你密码", "九八七六"), codes=("9876",)),
]


def test_reference_reads_every_attack() -> None:
    """The checker sees each secret in what the caller said (else it could never fail)."""
    assert all(luhn_digit(c[:-1]) == c[-1] for a in REPORTED for c in a.cards)
    for a in REPORTED:
        assert leaks("said", "\n".join(a.turns), [a]), a
        assert leaks("json", json.dumps(list(a.turns), ensure_ascii=False), [a]), a
    assert not leaks("masked", "heard ***\nheard ****1111 card ****0366", REPORTED)
    assert not leaks("noise", "2026-12-04 15:39:31 UTC 0.6077 1796398771.7854912", REPORTED)
    # the queue's waits in stats --json: 12.7237 s (a clock reading, not the 9876 said)
    assert not leaks("wait", '"wait_max_seconds": 12.7237498760', REPORTED)
    assert leaks("heard", '"heard": ["12.7237498760"]', REPORTED)  # the same digits heard


def from_generated(call: Call) -> Attack:
    return Attack(call.lang, call.turns, call.secrets, call.cards)


# -- running the CLI -------------------------------------------------------------------------


def run(*argv: str, stdin: str | None = None) -> str:
    """stdout and stderr of `ivr argv` run in this process."""
    out = io.StringIO()
    old = sys.stdin
    try:
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            main(list(argv))
    finally:
        sys.stdin = old
    return out.getvalue()


def suite(path: Path, attacks: list[Attack]) -> None:
    """A call-script suite: each attack's turns, then silence until a human takes the call;
    every other call expects what it will not get, so its failure is reported."""
    lines = ["calls:"]
    for i, a in enumerate(attacks):
        turns: list[dict[str, object]] = [{"say": t} for t in a.turns]
        if i % 2:  # fails: a failure is printed with what was heard (stdout, JUnit, HTML)
            turns[0]["expect"] = {"intent": "balance_inquiry"}
        turns += [{"silence": 1}] * 3
        lines.append(f"  - call: s{i:03d}\n    lang: {a.lang}\n"
                     f"    turns: {json.dumps(turns, ensure_ascii=False)}")
    path.write_text("\n".join(lines) + "\n", "utf-8")


@contextlib.contextmanager
def debug_log(path: Path) -> Iterator[None]:
    """Every logger at DEBUG, written to `path`."""
    root = logging.getLogger()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(args)s"))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


def every_sink(tmp: Path, attacks: list[Attack], *, chat: int = 1) -> dict[str, str]:
    """What every CLI output and file holds after the attacks went through the engine."""
    script, flow = tmp / "attacks.yaml", str(BANK)
    suite(script, attacks)
    q = tmp / "q.sqlite3"
    out = {
        "test": run("test", str(script), "--flow", flow, "-j", "1", "--json", str(tmp / "r.json"),
                    "--junit", str(tmp / "r.xml"), "--html", str(tmp / "html"),
                    "--queue", str(tmp / "qt.sqlite3")),
        "replay": run("replay", "--flow", flow, "--queue", str(q), str(script)),
        "replay -v": run("replay", "--flow", flow, "--queue", ":memory:", "-v", str(script)),
        "replay --json": run("replay", "--flow", flow, "--queue", ":memory:", "--json",
                             str(script)),
    }
    for lang in ("en", "zh", "ko"):
        said = [t for a in attacks if a.lang == lang for t in a.turns]
        if said:
            out[f"route {lang}"] = run("route", "--flow", flow, "--lang", lang, *said)
            out[f"route --json {lang}"] = run("route", "--flow", flow, "--lang", lang, "--json",
                                              stdin="\n".join(said) + "\n")
    for i, a in enumerate(attacks):
        if len(a.turns) > 1 or i % chat == 0:  # every `chat`-th call, and every split one
            typed = [*a.turns, "/trace", "/silence", "/silence", "/silence", "/trace"]
            out[f"chat {i}"] = run("chat", "--flow", flow, "--lang", a.lang, "--queue",
                                   str(tmp / "qc.sqlite3"), stdin="\n".join(typed) + "\n")
    for f in ("r.json", "r.xml", "html/index.html"):
        out[f] = (tmp / f).read_text("utf-8")
    for db in ("q", "qt", "qc"):
        dbq = str(tmp / f"{db}.sqlite3")
        out[f"queue {db}"] = "".join(
            run("queue", *cmd, "--queue", dbq) for cmd in (
                ["list"], ["list", "--json"], ["stats"], ["stats", "--json"]))
        out[f"queue take {db}"] = "".join(
            run("queue", "take", "--queue", dbq, *(["--json"] if k % 2 else []))
            for k in range(len(attacks)))
        with sqlite3.connect(dbq) as raw:  # the calls filed: close each, read its history
            calls = [r[0] for r in raw.execute("SELECT call_id FROM handoffs WHERE status = "
                                               "'taken' ORDER BY id")]
            out[f"outcomes {db}"] = "\n".join(  # the call-outcome log beside the queue
                r[0] for r in raw.execute("SELECT record FROM call_outcomes ORDER BY id"))
        raw.close()
        out[f"queue history {db}"] = "".join(
            run("queue", "done", c, "--disposition", "resolved", "--queue", dbq)
            + run("queue", "history", c, "--queue", dbq)
            + run("queue", "history", c, "--json", "--queue", dbq) for c in calls) + "".join(
            run("queue", *cmd, "--queue", dbq) for cmd in (
                ["list", "--status", "done"], ["list", "--status", "done", "--json"],
                ["purge", "--days", "0"], ["stats"], ["stats", "--json"]))
    for f in sorted(tmp.glob("*.sqlite3*")):  # database, -wal, -shm: as bytes on disk
        out[f.name] = f.read_bytes().decode("utf-8", "replace")
    return out


def check(tmp: Path, attacks: list[Attack], caplog: pytest.LogCaptureFixture, *,
          chat: int = 1) -> dict[str, str]:
    caplog.set_level(logging.DEBUG)
    with debug_log(tmp / "debug.log"):
        out = every_sink(tmp, attacks, chat=chat)
    out["log file"] = (tmp / "debug.log").read_text("utf-8")
    out["caplog"] = "\n".join(f"{r.name} {r.getMessage()} {r.args}" for r in caplog.records)
    problems = [p for name, blob in out.items() for p in leaks(name, blob, attacks)]
    assert problems == [], "\n".join(problems[:30])
    return out


@pytest.mark.slow
def test_reported_attacks_reach_no_sink(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = check(tmp_path, REPORTED, caplog, chat=3)
    # the attacks really went through every sink: masks where the numbers were, calls filed
    for name in ("test", "replay -v", "replay --json", "route en", "route --json zh", "r.json",
                 "r.xml", "html/index.html", "queue take q", "queue take qc"):
        assert "***" in out[name], name
    # a typed split attack reached the chat's sinks (which chat depends on routing: the scorer
    # accepts "I need to give you my pin" at once, so chat 13 ends before its digits)
    assert any("***" in blob for name, blob in out.items() if name.startswith("chat ")), out
    assert "Handoff #" in out["queue q"] and "Handoff #" in out["queue qt"]
    assert "Handoff #" in out["queue qc"] and "decision" in out["chat 0"]
    assert '"event": "done"' in out["queue history q"] and "purged" in out["queue history q"]
    assert "****1111" in out["replay -v"]  # a Luhn-valid card keeps its tail for the agent
    for db in ("q", "qt"):  # every replayed and tested call wrote its outcome record
        assert out[f"outcomes {db}"].count('"kind": ') == len(REPORTED), db


GENERATED = 40
"""Generated calls pushed through every sink (one fixed, derandomised sample)."""


@pytest.mark.slow
@settings(max_examples=1, derandomize=True, database=None, deadline=None,
          phases=[Phase.generate], suppress_health_check=list(HealthCheck))
@given(sample=st.lists(calls(), min_size=GENERATED, max_size=GENERATED))
def test_generated_attacks_reach_no_sink(sample: list[Call],
                                         tmp_path_factory: pytest.TempPathFactory,
                                         caplog: pytest.LogCaptureFixture) -> None:
    attacks = [from_generated(c) for c in sample
               if all(code not in card[-4:] for code in c.secrets for card in c.cards)]
    for a in attacks:
        assert leaks("said", json.dumps(list(a.turns), ensure_ascii=False), [a]), a
    check(tmp_path_factory.mktemp("gen"), attacks, caplog, chat=2)


@pytest.mark.slow
def test_subprocess_stdout_and_stderr(tmp_path: Path) -> None:
    """The CLI as a separate process, with the engine's loggers at DEBUG on its stderr."""
    said = [t for a in REPORTED if a.lang == "en" for t in a.turns]
    code = ("import logging, sys; logging.basicConfig(level=logging.DEBUG); "
            "from ivr.cli import main; sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"}
    q = str(tmp_path / "q.sqlite3")
    typed = "\n".join([*said, "/trace", "/silence", "/silence", "/silence"]) + "\n"
    procs = [
        subprocess.run([sys.executable, "-c", code, "route", "--flow", str(BANK), "--lang", "en",
                        "--json", *said], capture_output=True, env=env, check=False),
        subprocess.run([sys.executable, "-c", code, "chat", "--flow", str(BANK), "--lang", "en",
                        "--queue", q], input=typed.encode(), capture_output=True, env=env,
                       check=False),
        subprocess.run([sys.executable, "-c", code, "queue", "take", "--queue", q], env=env,
                       capture_output=True, check=False),
    ]
    attacks = [a for a in REPORTED if a.lang == "en"]
    problems = [p for k, pr in enumerate(procs) for name, blob in
                ((f"stdout {k}", pr.stdout), (f"stderr {k}", pr.stderr))
                for p in leaks(name, blob.decode("utf-8", "replace"), attacks)]
    assert problems == [], "\n".join(problems)
    assert all(p.returncode == 0 for p in procs), [p.stderr[-300:] for p in procs]
    assert b"***" in procs[0].stdout and b"***" in procs[2].stdout


# -- the residual forms: one digit in a turn naming a secret, a code one digit per turn -------

RESIDUAL = [
    ("en", ("my pin is 1",), 0),
    ("zh", ("密码是一吗",), 0),
    ("ko", ("비밀번호는 하나예요",), 0),
    ("en", ("1 please", "hello", "2 please", "hello", "3 please", "and 4 please"), 1),
    ("zh", ("一号", "你好", "二号", "嗯", "三号", "四号"), 1),
    ("ko", ("1번요", "안녕하세요", "2번요", "3번요", "4번요"), 1),
]
"""Turns, and how many of their digits may be readable from any sink (a first menu choice)."""


def test_lone_digits_are_not_kept_when_they_can_be_a_code(tmp_path: Path) -> None:
    """Across turns on a patient flow (nine misses before a human takes the call)."""
    script, flow = tmp_path / "residual.yaml", tmp_path / "patient.yaml"
    shutil.copytree(BANK.parent / "overlays", tmp_path / "overlays")
    flow.write_text(BANK.read_text("utf-8").replace("max_retries: 2", "max_retries: 9").replace(
        "max_low_confidence: 2", "max_low_confidence: 9"), "utf-8")
    suite(script, [Attack(lang, turns) for lang, turns, _ in RESIDUAL])
    lines = run("replay", "--flow", str(flow), "--queue", str(tmp_path / "q.sqlite3"), "--json",
                str(script)).splitlines()
    assert len(lines) == len(RESIDUAL)
    for (_, turns, most), line in zip(RESIDUAL, lines, strict=False):
        heard = [t["heard"] for t in json.loads(line)["turns"]]
        shown = [c for h in heard for c in ascii_digits(h) if c.isdigit()]
        assert len(heard) >= len(turns) or len(turns) == 1, (turns, heard)
        assert len(shown) <= most and "***" in " ".join(heard), (turns, heard)
