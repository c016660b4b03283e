"""Privacy: 1,000 synthetic calls carrying Luhn-valid card numbers, CVVs and PINs — in digits
and spoken (Mandarin with 幺 for 1, English words, Sino-Korean), and keyed — go through
`ivr route`, `ivr replay` and `ivr test` with every report, and into the queue file. None of
what comes out shows a full card number (only its last four digits) or a CVV or PIN digit.

Calls are generated deterministically from their index (hashes, never `random`). The check is
independent of `ivr.privacy`: it maps spoken digits back to digits itself and looks for any 8
consecutive digits of any card, and for digits right after a CVV/PIN word.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivr.cli import main

from .conftest import BANK, FLOWS

N = 1000
PREFIXES = ("4", "51", "55", "62", "35")  # Visa, Mastercard, UnionPay, JCB
LANGS = ("en", "zh", "ko")
ZH = "零幺二三四五六七八九"
EN = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
KO = "공일이삼사오육칠팔구"


def digits(i: int, tag: str, n: int, alphabet: str = "0123456789") -> str:
    h = int(hashlib.sha256(f"{tag}-{i}".encode()).hexdigest(), 16)
    out = ""
    for _ in range(n):
        h, k = divmod(h, len(alphabet))
        out += alphabet[k]
    return out


def luhn_digit(body: str) -> str:
    total = 0
    for k, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if k % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    return luhn_digit(number[:-1]) == number[-1]


def card(i: int, alphabet: str = "0123456789") -> str:
    prefix = PREFIXES[i % len(PREFIXES)] if alphabet == "0123456789" else digits(i, "p", 1,
                                                                                  alphabet)
    body = prefix + digits(i, "card", 15 - len(prefix), alphabet)
    return body + luhn_digit(body)


def spoken(number: str, lang: str, i: int) -> str:
    if lang == "zh":
        words = [ZH[int(d)] if not (d == "1" and i % 4 == 1) else "一" for d in number]
        return "".join(words)
    if lang == "en":
        return " ".join("oh" if d == "0" and i % 2 else EN[int(d)] for d in number)
    chars = ["영" if d == "0" and i % 2 else KO[int(d)] for d in number]
    return " ".join("".join(chars[k:k + 4]) for k in range(0, len(chars), 4))


def grouped(number: str, i: int) -> str:
    sep = (" ", "-", "")[i % 3]
    return sep.join(number[k:k + 4] for k in range(0, len(number), 4))


TEMPLATES = {
    "en": ("my card number is {num} and the cvv is {code}, I lost the card",
           "I want a real person, card {num}, my pin is {code}"),
    "zh": ("我的卡号是{num}，安全码{code}，卡丢了要挂失", "转人工，卡号{num}，密码是{code}"),
    "ko": ("카드 번호 {num} 보안코드 {code} 분실 신고할게요",
           "상담원 연결해 주세요 카드 번호는 {num} 비밀번호는 {code}"),
}


CUES = {"en": ("cvv", "pin"), "zh": ("安全码", "密码"), "ko": ("보안코드", "비밀번호")}


@dataclass(frozen=True)
class Call:
    id: str
    lang: str
    text: str
    card: str
    shown: tuple[str, ...]
    """The card as written in the sentence, and the secret code with the words before it."""


def make_call(i: int) -> Call:
    lang, number = LANGS[i % 3], card(i)
    code = digits(i, "cvv", 3) if i % 2 == 0 else digits(i, "pin", 6)
    words = (i // 3) % 2 == 1  # spoken or digits, in every language
    num = spoken(number, lang, i) if words else grouped(number, i)
    said = spoken(code, lang, i) if words else code
    text = TEMPLATES[lang][i % 2].format(num=num, code=said)
    cue = text.rindex(CUES[lang][i % 2])
    return Call(f"p{i:04d}", lang, text, number, (num, text[cue:text.rindex(said) + len(said)]))


CALLS = [make_call(i) for i in range(N)]


def bank_suite(path: Path) -> None:
    lines = ["calls:"]
    for i, c in enumerate(CALLS):
        say: dict[str, object] = {"say": c.text}
        if i % 3 == 0:  # some fail, so failures (with what was heard) are printed too
            say["expect"] = {"intent": "balance_inquiry"}
        # keys, or silence until the call is handed to a human with what was heard
        turns = [say] + ([{"dtmf": c.card}] if i % 4 == 0 else [{"silence": 1}] * 3)
        lines.append(f"  - call: {c.id}\n    lang: {c.lang}\n"
                     f"    turns: {json.dumps(turns, ensure_ascii=False)}")
    path.write_text("\n".join(lines) + "\n", "utf-8")


def keyed_suite(path: Path) -> list[str]:
    """Calls keying card numbers and PINs on the small flow, where 3-9 are no menu keys."""
    keyed, lines = [], ["calls:"]
    for i in range(100):
        number, pin = card(i, "3456789"), digits(i, "kpin", 6, "3456789")
        keyed.extend((number, pin))
        turns = [{"dtmf": number}] if i % 2 else [{"say": "hello"}, {"dtmf": pin}]
        lines.append(f"  - call: k{i:03d}\n    lang: {('en', 'zh')[i % 2]}\n"
                     f"    turns: {json.dumps(turns)}\n    expect: {{node: card_loss}}")
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return keyed


def run(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        main(list(argv))
    return out.getvalue()


_SPOKEN = str.maketrans({**{ch: str(k) for k, ch in enumerate(ZH)}, "一": "1", "〇": "0",
                         "两": "2", **{ch: str(k) for k, ch in enumerate(KO)}, "영": "0"})
_WORDS = re.compile(r"(?<![a-z])(zero|oh|one|two|three|four|five|six|seven|eight|nine)"
                    r"(?![a-z])", re.IGNORECASE)
_JOIN = re.compile(r"(?<=\d)[ ,，、\-]+(?=\d)")
_RUN = re.compile(r"(?<![\d.])\d{8,}(?![\d.])")  # not floats (timestamps, confidences)
_CUED = re.compile(r"(cvv|pin|安全码|密码|보안코드|비밀번호)[^\d\n]{0,6}\d{3}", re.IGNORECASE)


def normalise(text: str) -> str:
    """Spoken digits to digits, and separators between digits dropped."""
    text = text.translate(_SPOKEN)
    text = _WORDS.sub(lambda m: str(EN.index(m.group().lower()) if m.group().lower() != "oh"
                                    else 0), text)
    return _JOIN.sub("", text)


def leaks(name: str, blob: str, cards: list[str]) -> list[str]:
    found = []
    norm = normalise(blob)
    windows = {run[k:k + 8] for run in _RUN.findall(norm) for k in range(len(run) - 7)}
    for number in cards:
        hits = [number[k:k + 8] for k in range(9) if number[k:k + 8] in windows]
        if hits:
            found.append(f"{name}: 8+ digits of card {number[:4]}…: {hits[0]}")
    found.extend(f"{name}: code after a cue word: {m.group()!r}" for m in _CUED.finditer(norm))
    return found


def test_generated_numbers_are_luhn_valid_and_in_every_form() -> None:
    assert all(luhn_ok(c.card) and len(c.card) == 16 for c in CALLS)
    assert len({c.card for c in CALLS}) == N
    assert any("幺" in c.text for c in CALLS) and any("one" in c.text for c in CALLS)
    assert any("사" in c.text for c in CALLS) and any(c.card[:4] in c.text for c in CALLS)
    assert not leaks("self-check", "", [c.card for c in CALLS])
    for c in CALLS[:12]:  # the checker finds every form of number and code as written
        planted = leaks("self-check", f"x {c.text} y", [c.card for c in CALLS])
        assert len(planted) == 2, (c.text, planted)
        for shown in c.shown:
            assert leaks("self-check", f"x {shown} y", [c.card for c in CALLS]), shown


@pytest.mark.slow
def test_no_card_number_cvv_or_pin_anywhere(tmp_path: Path) -> None:
    jobs = "2"  # the parallel runner, as CI runs it
    suite, keyed = tmp_path / "bank.yaml", tmp_path / "keyed.yaml"
    bank_suite(suite)
    keyed_cards = keyed_suite(keyed)
    blobs = {
        "ivr test": run("test", str(suite), "--flow", str(BANK), "--jobs", jobs,
                        "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml"),
                        "--html", str(tmp_path / "html"), "--queue", str(tmp_path / "q1.db")),
        "ivr replay -v": run("replay", "--flow", str(BANK), "--queue", str(tmp_path / "q2.db"),
                             "-v", str(suite)),
        "ivr replay --json": run("replay", "--flow", str(BANK), "--queue", ":memory:",
                                 "--json", str(suite)),
        "ivr test keyed": run("test", str(keyed), "--flow", str(FLOWS / "mini.yaml"), "-j", "1",
                              "--json", str(tmp_path / "k.json"), "--html",
                              str(tmp_path / "khtml"), "--queue", str(tmp_path / "q4.db")),
        "ivr replay keyed": run("replay", "--flow", str(FLOWS / "mini.yaml"), "--queue",
                                str(tmp_path / "q5.db"), "-v", str(keyed)),
    }
    for lang in LANGS:
        texts = [c.text for c in CALLS if c.lang == lang]
        blobs[f"ivr route {lang}"] = (run("route", "--flow", str(BANK), "--lang", lang, "--json",
                                          *texts)
                                      + run("route", "--flow", str(BANK), "--lang", lang, *texts))
    for f in ("r.json", "r.xml", "html/index.html", "k.json", "khtml/index.html"):
        blobs[f] = (tmp_path / f).read_text("utf-8")
    for f in sorted(tmp_path.glob("q*.db*")):
        blobs[f.name] = f.read_bytes().decode("utf-8", "ignore")
    cards = [c.card for c in CALLS] + keyed_cards
    problems = [p for name, blob in blobs.items() for p in leaks(name, blob, cards)]
    assert problems == [], "\n".join(problems[:20])
    # the calls really went through: masked numbers everywhere, handoffs filed, failures shown
    assert blobs["ivr test"].count("FAIL ") >= 300 and "***" in blobs["ivr test"]
    assert all("***" in blobs[k] for k in ("r.json", "ivr replay -v", "q1.db", "ivr route zh"))
    assert sum(1 for _ in re.finditer("p0", blobs["q1.db"])) >= 300
    keyed_out = blobs["ivr test keyed"] + blobs["ivr replay keyed"] + blobs["k.json"]
    assert "dtmf:***" in keyed_out and re.search(r"dtmf:[3-9]|key=[3-9]", keyed_out) is None
