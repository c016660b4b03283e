"""The human queue's backend-neutral parts and its command line.

The record (validate, mask, encode, what a retry is), the figures and their formatting, the
URL scheme -> backend table, and `ivr replay` / `ivr queue` filing every caller exactly once.
What each backend must do is in test_handoff_shared.py; SQLite's own promises in
test_handoff_sqlite.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.cli import main
from ivr.errors import QueueError
from ivr.handoff import (
    BACKENDS,
    DEFAULT_QUEUE_PATH,
    DuplicateCallId,
    QueuedHandoff,
    default_queue_path,
    open_queue,
)
from ivr.handoff.format import (
    format_handoff,
    format_stats,
    format_summary,
    handoff_to_json,
)
from ivr.handoff.record import check_refiling, decode_json, encode_json, prepare, same_call
from ivr.handoff.stats import Tally, build_stats, percentile, tally, waits
from ivr.types import Candidate, Priority, Slot

from .conftest import BANK, ROOT
from .test_handoff_shared import CARD, handoff

SAMPLES = ROOT / "samples"

# -- the record ---------------------------------------------------------------------------------


def test_prepare_masks_validates_and_stamps() -> None:
    h = prepare(
        handoff(heard=(f"卡号{CARD}",), slots=(Slot("pin", "4321", "4321"),), created_at=0.0,
                priority=3),  # type: ignore[arg-type]
        now=5.0,
        where="queue X",
    )
    assert h.heard == ("卡号****7894",) and h.slots == (Slot("pin", "***", "***"),)
    assert h.created_at == 5.0 and type(h.priority) is Priority
    with pytest.raises(QueueError, match=r"^queue X: invalid handoff 'c1': unknown language"):
        prepare(handoff(lang="fr"), now=5.0, where="queue X")  # type: ignore[arg-type]


def test_encoded_record_round_trips_and_names_every_field() -> None:
    h = prepare(handoff(), now=0.0, where="q")
    text = encode_json(h)
    assert decode_json(text) == h
    assert sorted(json.loads(text)) == sorted(h.__dataclass_fields__)
    with pytest.raises(TypeError):
        decode_json("[1, 2]")


@given(stamp=st.floats(1, 4e9))
def test_a_retry_is_the_same_call_whenever_it_is_filed(stamp: float) -> None:
    first = prepare(handoff(), now=0.0, where="q")
    again = prepare(handoff(created_at=stamp), now=0.0, where="q")
    assert same_call(first, again)
    check_refiling(first, again, where="q")  # no error


def test_a_different_record_is_a_duplicate_call_id_naming_the_fields() -> None:
    first = prepare(handoff("x"), now=0.0, where="q")
    other = prepare(handoff("x", queue="loans", reason="no_match"), now=0.0, where="q")
    assert not same_call(first, other)
    with pytest.raises(DuplicateCallId, match=r"^q: call id 'x' .* \(differs in queue, reason\)"):
        check_refiling(first, other, where="q")


# -- the figures --------------------------------------------------------------------------------


def test_stats_from_tallies_and_their_table() -> None:
    assert format_stats(build_stats([], 1_000.0)) == "no handoffs"
    records = [
        QueuedHandoff(1, handoff("c1", created_at=700.0), "waiting"),
        QueuedHandoff(2, handoff("c2", created_at=880.0, reason="no_match",
                                 priority=Priority.URGENT), "waiting"),
        QueuedHandoff(3, handoff("c3", created_at=900.0), "waiting"),
        QueuedHandoff(4, handoff("l1", queue="loans", created_at=990.0, reason="caller_asked"),
                      "taken", "a1", 995.0),
    ]
    tallies = tally(records)
    assert Tally("cards", "waiting", Priority.NORMAL, "low_confidence", 2, 700.0) in tallies
    spans = waits([(r, r.taken_at) for r in records])
    stats = build_stats(tallies, 1_000.0, spans)
    assert build_stats(reversed(tallies), 1_000.0, reversed(spans)) == stats
    assert format_stats(stats).splitlines() == [
        "queue  waiting  taken  done  urgent  high  normal  low  oldest  in 20s  p50  p90  reasons",
        "cards        3      0     0       1     0       2    0  5m 00s      0%    -    -  "
        "low_confidence 2, no_match 1",
        "loans        0      1     0       0     0       0    0       -    100%   5s   5s  -",
        "total        3      1     0       1     0       2    0  5m 00s",
    ]
    assert [(c.answered, c.missed) for c in stats.queues] == [(0, 3), (1, 0)]
    assert json.loads(json.dumps(stats.as_dict()))["queues"][0]["by_priority"]["urgent"] == 1


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50), st.floats(0.01, 1))
def test_percentile_is_a_value_with_enough_below_it(values: list[float], share: float) -> None:
    values.sort()
    p = percentile(values, share)
    assert p in values
    assert sum(v <= p for v in values) >= share * len(values)  # nearest rank: the smallest
    assert sum(v < p for v in values) < share * len(values)  # such value


def test_format_handoff_gives_the_whole_context() -> None:
    q = QueuedHandoff(
        id=7,
        handoff=handoff(
            priority=Priority.URGENT,
            reason="priority_intent",
            intent="report_fraud",
            heard=("我的卡被盗刷了", f"卡号{CARD}"),
            candidates=(Candidate("report_fraud", 0.93), Candidate("lost_card", 0.4)),
            slots=(Slot("card_tail", "7890", "7890"), Slot("otp", "123456", "123456")),
            path=("welcome", "main_menu", "fraud"),
            created_at=1_700_000_000.0,
        ),
        status="waiting",
    )
    text = format_handoff(q, now=1_700_000_125.0)
    assert text.splitlines() == [
        "Handoff #7  call c1  -> queue cards  [URGENT]",
        "  reason    priority_intent",
        "  language  zh",
        "  intent    report_fraud",
        "  waited    2m 05s (filed 2023-11-14 22:13:20 UTC)",
        "  status    waiting",
        "Heard:",
        "  1. 我的卡被盗刷了",
        "  2. 卡号****7894",
        "Candidates:",
        "  report_fraud  0.93",
        "  lost_card     0.40",
        "Slots:",
        "  card_tail  7890",
        "  otp        ***",
        "Path: welcome -> main_menu -> fraud",
    ]
    assert format_summary(q, now=1_700_000_125.0) == (
        "#7  URGENT  cards  c1  priority_intent  waited 2m 05s  report_fraud"
    )
    data = handoff_to_json(q)
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert data["priority"] == "urgent" and data["heard"][1] == "卡号****7894"
    assert CARD not in json.dumps(data) and "123456" not in json.dumps(data)


def test_format_taken_handoff_measures_wait_until_taken() -> None:
    q = QueuedHandoff(
        1,
        handoff(heard=(), candidates=(), slots=(), path=(), intent=None, created_at=0.0),
        status="taken",
        taken_by="agent7",
        taken_at=3_725.0,
    )
    text = format_handoff(q, now=99_999.0)
    assert "waited    1h 02m" in text
    assert "taken by agent7 at 1970-01-01 01:02:05 UTC" in text
    assert "intent    -" in text and "Path: (none)" in text and "(nothing)" in text


def test_default_queue_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("IVR_QUEUE", raising=False)
    assert default_queue_path() == DEFAULT_QUEUE_PATH == Path("var/handoff.sqlite3")
    monkeypatch.setenv("IVR_QUEUE", str(tmp_path / "x.sqlite3"))
    assert default_queue_path() == tmp_path / "x.sqlite3"
    monkeypatch.setenv("IVR_QUEUE", "")
    assert default_queue_path() == DEFAULT_QUEUE_PATH




# -- the scheme -> backend table ----------------------------------------------------------------


def test_the_backend_table_knows_sqlite_and_redis() -> None:
    assert sorted(BACKENDS) == ["redis", "rediss", "sqlite"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("postgres://db/q",
         r"^queue postgres://db/q: unknown backend 'postgres' "
         r"\(known: sqlite:, redis:, rediss:\)$"),
        ("HTTPS://x", "unknown backend 'https'"),
    ],
)
def test_unknown_or_planned_schemes_are_one_line_errors(
    target: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(QueueError, match=message):
        open_queue(target)
    assert list(tmp_path.iterdir()) == []


# -- the command line: every caller filed once, bad queues one line -----------------------------


def _queued(db: Path) -> list[str]:
    queue = open_queue(db)
    try:
        return sorted(q.handoff.call_id for q in queue.list())
    finally:
        queue.close()


@pytest.mark.slow  # real Vosk decoding of four calls
def test_replay_of_two_files_with_one_name_files_both_callers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for folder, sample in (("a", "ko_fraud.wav"), ("b", "ko_elderly.wav")):
        (tmp_path / folder).mkdir()
        shutil.copy(SAMPLES / "audio" / sample, tmp_path / folder / "call.wav")
    wavs = [str(tmp_path / "a" / "call.wav"), str(tmp_path / "b" / "call.wav")]
    db = tmp_path / "q.sqlite3"
    assert main(["replay", "--flow", str(BANK), "--queue", str(db), *wavs]) == 0
    out = capsys.readouterr().out
    assert "2 handed to a human" in out
    assert _queued(db) == sorted(wavs)  # the path tells them apart
    assert main(["replay", "--flow", str(BANK), "--queue", str(db), "--json", *wavs]) == 0
    assert [json.loads(line)["call"] for line in capsys.readouterr().out.splitlines()] == wavs
    assert _queued(db) == sorted(wavs)  # replaying again is a retry, not two more callers


def test_replay_refuses_a_second_call_under_a_used_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scam = "lang: en\ncall: same\nturns: [{say: \"I think I'm being scammed\"}]\n"
    agent = "lang: en\ncall: same\nturns: [{say: \"put me through to a real person\"}]\n"
    (tmp_path / "one.yaml").write_text(scam)
    (tmp_path / "two.yaml").write_text(agent)
    db = tmp_path / "q.sqlite3"
    code = main(["replay", "--flow", str(BANK), "--queue", str(db),
                 str(tmp_path / "one.yaml"), str(tmp_path / "two.yaml")])
    out, err = capsys.readouterr()
    assert code == 2
    [line] = err.splitlines()
    assert line.startswith(f"ivr: error: queue DB {db}: call id 'same' is already filed")
    assert "1 calls:" in out and "1 handed to a human" in out  # what the summary counts is filed
    queue = open_queue(db)
    [kept] = queue.list()
    queue.close()
    assert kept.handoff.queue == "fraud"


@pytest.mark.parametrize("target", ["/typo/x.sqlite3", "sqlite://x", "nosuchdir/q.db",
                                    "redis://127.0.0.1:1/0", "mongodb://x"])
@pytest.mark.parametrize("command", [["queue", "list"], ["queue", "stats"], ["queue", "take"]])
def test_a_bad_queue_is_one_line_and_creates_nothing(
    target: str, command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--queue", target]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith("ivr: error: queue ")
    assert list(tmp_path.iterdir()) == [] and not Path("/typo").exists()


def test_the_default_queue_is_created_in_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IVR_QUEUE", raising=False)
    assert main(["queue", "list"]) == 0
    assert capsys.readouterr().out == "no callers waiting\n"
    assert (tmp_path / "var" / "handoff.sqlite3").is_file()
    assert main(["queue", "stats", "--queue", f"sqlite:{DEFAULT_QUEUE_PATH}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["waiting"] == 0


def test_agent_step_checks_once_for_every_backend() -> None:
    """D1: the one checker both backends call before their storage step."""
    from ivr.handoff.audit import agent_step

    step = agent_step("q", "alice", lease_s=30, queue=["fraud", "fraud", "cards"], langs={"en"})
    assert (step.agent, step.lease_s, step.queues, step.langs) == (
        "alice", 30.0, ("fraud", "cards"), ("en",))
    assert agent_step("q", "bob", target=("disposition", "resolved")).target == "resolved"
    for kwargs in ({"lease_s": 0}, {"lease_s": float("nan")}, {"queue": [""]},
                   {"langs": ["xx"]}, {"target": ("queue", "")}):
        with pytest.raises(QueueError):
            agent_step("q", "alice", **kwargs)
