"""The speech room's parts that need no model: vocabulary, grammars, the prepared model
directory, streaming resampling, audio conditioning, the free pool, the worker's scheduler."""

from __future__ import annotations

import logging
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.asr import DecoderConfig, grammar_words, prepare_model, read_vocabulary, segment
from ivr.asr.condition import Conditioner, condition
from ivr.asr.messages import Feed, Message, Open, Quit, Reply, Request, Settle, Stats
from ivr.asr.pool import FreePool, GrammarPool
from ivr.asr.results import DualResult, StreamSpec
from ivr.asr.vocab import spell_digits
from ivr.asr.worker import _Inbox
from ivr.audio.resample import StreamResampler, resample

VOCAB = frozenset({"카드", "를", "분실", "했어요", "잃어", "버렸어요", "atm", "조회", "해"})


def test_words_are_split_into_known_pieces() -> None:
    assert segment("분실했어요", VOCAB) == ("분실", "했어요")
    assert segment("조회해", VOCAB) == ("조회", "해")
    assert segment("없는말", VOCAB) is None


def test_unknown_words_are_reported_with_their_phrases_never_dropped_silently() -> None:
    found = grammar_words(["카드를 분실했어요", "ATM 조회", "카드 블라블라", "!!"], VOCAB)
    assert found.phrases == ("카드 를 분실 했어요", "atm 조회", "카드")
    assert found.unknown == ("블라블라",)
    assert found.dropped == ("카드 블라블라",)
    assert grammar_words(["anything goes"], frozenset()).phrases == ("anything goes",)


def test_digits_in_phrases_are_spelled_as_callers_say_them() -> None:
    spelled = spell_digits("끝자리 1234 계좌", "ko").split()
    assert spelled == ["끝자리", "일", "이", "삼", "사", "계좌"]
    assert spell_digits("24시간", "ko").split() == ["이십사", "시간"]
    assert spell_digits("10", "ko").split() == ["십"]
    assert spell_digits("尾号0571", "zh").split() == ["尾号", "零", "五", "七", "一"]
    assert spell_digits("24小时", "zh").split() == ["二十四", "小时"]
    assert spell_digits("open 24 hours", "en").split() == ["open", "twenty", "four", "hours"]
    assert spell_digits("ending 13", "en").split() == ["ending", "thirteen"]
    assert spell_digits("1234", None) == "1234"
    vocab = VOCAB | {"끝자리", "일", "이", "삼", "사"}
    found = grammar_words(["끝자리 1234 카드"], vocab, "ko")
    assert found.phrases == ("끝자리 일 이 삼 사 카드",) and found.unknown == ()


def test_vocabulary_from_words_txt(tmp_path: Path) -> None:
    (tmp_path / "graph").mkdir()
    (tmp_path / "graph" / "words.txt").write_text("<eps> 0\n카드 1\n\n분실 2\n", "utf-8")
    assert read_vocabulary(tmp_path) == {"<eps>", "카드", "분실"}
    assert read_vocabulary(tmp_path / "nothing") == frozenset()


def _fake_model(root: Path) -> Path:
    model = root / "model"
    for d in ("am", "graph", "ivector", "conf"):
        (model / d).mkdir(parents=True)
    (model / "am" / "final.mdl").write_bytes(b"x")
    (model / "conf" / "model.conf").write_text("--beam=10.0\n--max-active=3000\n"
                                               "--endpoint.rule2.min-trailing-silence=0.5\n")
    (model / "conf" / "mfcc.conf").write_text("--use-energy=false\n")
    return model


def test_prepared_model_shadows_the_conf_and_links_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_CACHE", str(tmp_path / "cache"))
    model = _fake_model(tmp_path)
    shadow = prepare_model(model, DecoderConfig(max_active=1500, beam=9.0))
    assert shadow != model and (shadow / "am").is_symlink()
    assert (shadow / "am" / "final.mdl").read_bytes() == b"x"
    conf = (shadow / "conf" / "model.conf").read_text()
    assert "--beam=9.0" in conf and "--beam=10.0" not in conf and "--max-active=1500" in conf
    assert "--endpoint.rule2.min-trailing-silence=100000.0" in conf
    assert "--dither=0" in (shadow / "conf" / "mfcc.conf").read_text()
    assert prepare_model(model, DecoderConfig(max_active=1500, beam=9.0)) == shadow  # reused
    kept = prepare_model(model, DecoderConfig(max_active=None, beam=None))
    assert "--beam=10.0" in (kept / "conf" / "model.conf").read_text()


def test_unwritable_cache_falls_back_to_the_model_with_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("IVR_CACHE", str(blocker))
    model = _fake_model(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert prepare_model(model) == model
    assert "random dither" in caplog.text


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([(8000, 16000), (16000, 8000), (44100, 16000), (11025, 16000)]),
       st.lists(st.integers(1, 700), min_size=1, max_size=30), st.integers(0, 2**16))
def test_streaming_resampler_matches_the_whole_signal(
        rates: tuple[int, int], chunks: list[int], seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal(sum(chunks)).astype(np.float32) * 1000
    stream = StreamResampler(*rates)
    out, pos = [], 0
    for n in chunks:
        out.append(stream.push(x[pos:pos + n]))
        pos += n
    out.append(stream.flush())
    assert np.allclose(np.concatenate(out), resample(x, *rates), atol=0.05)


def test_conditioning_is_deterministic_and_chunking_does_not_matter() -> None:
    x = (np.random.default_rng(3).standard_normal(16000) * 3000).astype("<i2").tobytes()
    for view in ("plain", "fast"):
        whole = condition(x, view=view, dither=1.0, narrowband=True)
        assert whole == condition(x, view=view, dither=1.0, narrowband=True)
        cond = Conditioner(view, dither=0.0, narrowband=True)
        parts = b"".join(cond(x[i:i + 642]) for i in range(0, len(x), 642)) + cond.flush()
        assert parts == condition(x, view=view, dither=0.0, narrowband=True)
    assert len(condition(x, view="fast")) == pytest.approx(len(x) * 10 / 11, abs=4)
    with pytest.raises(ValueError, match="unknown decoding view"):
        Conditioner("slow", dither=0.0, narrowband=False)


def test_the_fold_mirrors_the_band_above_4k() -> None:
    t = np.arange(16000) / 16000
    x = (np.sin(2 * np.pi * 1000 * t) * 10000).astype("<i2").tobytes()
    y = np.frombuffer(condition(x, dither=0.0, narrowband=True), "<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(y))
    image, tone = spectrum[7000], spectrum[1000]  # 1 Hz bins: 8000 - 1000 Hz
    assert 20 * np.log10(image / tone) == pytest.approx(-21, abs=0.5)


class _Rec:
    resets = 0

    def Reset(self) -> None:  # the Vosk method's name
        self.resets += 1


def test_free_pool_lends_sheds_and_retires() -> None:
    made: list[_Rec] = []

    def make() -> _Rec:
        made.append(_Rec())
        return made[-1]

    pool = FreePool(make, slots=1, life_s=10.0)
    first = pool.acquire()
    assert first is not None and pool.acquire() is None and pool.shed == 1
    forced = pool.acquire(force=True)
    assert forced is not None and len(made) == 2
    pool.release(forced[0], 1.0, dirty=False)
    assert pool.retired == 1 and not pool.idle  # over the slot count
    pool.release(first[0], 4.0, dirty=True, clock_s=2.0)
    assert first[0].resets == 1 and pool.idle == [(first[0], 4.0, 2.0)]
    again = pool.acquire()
    assert again == (first[0], 4.0, 2.0)
    pool.release(again[0], 11.0, dirty=False)
    assert pool.retired == 2 and not pool.idle


def test_free_pool_lends_the_warmest_and_builds_one_young_recogniser_at_a_time() -> None:
    made: list[_Rec] = []

    def make() -> _Rec:
        made.append(_Rec())
        return made[-1]

    pool = FreePool(make, slots=4, life_s=100.0, young_s=10.0, young_max=1)
    young = pool.acquire()
    assert young is not None and pool.acquire() is None and pool.shed == 1  # one young busy
    pool.release(young[0], 12.0, dirty=False)  # warm now
    warm = pool.acquire()
    assert warm == (young[0], 12.0, 0.0)
    second = pool.acquire()  # no young one busy: a new one may be built
    assert second is not None and second[0] is made[1] and pool.acquire() is None
    pool.release(second[0], 3.0, dirty=False)
    pool.release(warm[0], 20.0, dirty=False)
    assert pool.acquire() == (made[0], 20.0, 0.0)  # the warmest idle one first
    assert pool.acquire() == (made[1], 3.0, 0.0)  # still young, and none is busy
    assert pool.acquire() is None and pool.acquire(force=True) is not None


def test_grammar_pool_lends_warm_recognisers_per_grammar_and_bounds_the_idle_ones() -> None:
    made: list[tuple[tuple[str, ...], _Rec]] = []

    def make(grammar: tuple[str, ...]) -> _Rec:
        made.append((grammar, _Rec()))
        return made[-1][1]

    pool = GrammarPool(make, idle_max=2, life_s=10.0)
    menu, yes_no = ("카드 분실", "잔액 조회"), ("네", "아니요")
    a, used, clock = pool.acquire(menu)
    assert (used, clock) == (0.0, 0.0) and pool.created == 1
    pool.release(menu, a, 3.0, dirty=False, clock_s=3.0)
    assert pool.acquire(yes_no)[0] is not a  # another grammar: another recogniser
    assert pool.acquire(menu) == (a, 3.0, 3.0) and pool.reused == 1
    pool.release(menu, a, 4.0, dirty=True, clock_s=3.0)
    assert a.resets == 1  # an abandoned utterance is reset before the next caller
    b, c = made[1][1], pool.acquire(menu)[0]
    assert c is a
    pool.release(yes_no, b, 1.0, dirty=False, clock_s=1.0)
    pool.release(menu, a, 5.0, dirty=False, clock_s=5.0)
    d = make(menu)
    pool.release(menu, d, 0.0, dirty=False, clock_s=0.0)
    assert sum(len(v) for v in pool.idle.values()) == 2  # least recently used dropped: b
    assert yes_no not in pool.idle
    pool.release(menu, pool.acquire(menu)[0], 10.0, dirty=False, clock_s=10.0)
    assert len(pool.idle[menu]) == 1  # retired after its life


def test_worker_inbox_serves_a_waiting_request_first() -> None:
    inbox = _Inbox()
    for msg in [Feed(1, b"a", 0.0), Feed(2, b"b", 0.0), Feed(1, b"c", 0.0),
                Feed(2, b"d", 0.0), Settle(2, 7), Feed(1, b"e", 0.0)]:
        inbox.add(msg)
    order: list[Message] = []
    while inbox:
        order.append(inbox.next())
    assert order == [Feed(2, b"b", 0.0), Feed(2, b"d", 0.0), Settle(2, 7), Feed(1, b"a", 0.0),
                     Feed(1, b"c", 0.0), Feed(1, b"e", 0.0)]


def test_worker_inbox_tells_how_much_of_a_streams_audio_waits() -> None:
    inbox = _Inbox()
    for msg in [Feed(1, b"\0" * 3200, 0.0), Feed(2, b"\0" * 640, 0.0), Feed(1, b"\0" * 640, None),
                Feed(1, b"\0" * 6400, 0.0), Settle(1, 3)]:
        inbox.add(msg)
    # a recording's frames (sent None) are not a live caller's: they do not count
    assert inbox.waiting_audio_s(1) == pytest.approx(0.3) and inbox.waiting_audio_s(3) == 0
    inbox.next()
    assert inbox.waiting_audio_s(1) == pytest.approx(0.2)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 2**31), st.none() | st.lists(st.text(min_size=1), max_size=4).map(tuple),
       st.booleans(), st.booleans(), st.binary(max_size=640),
       st.none() | st.floats(0, 1e6, allow_nan=False))
def test_worker_messages_cross_the_pipe_unchanged(sid: int, grammar: tuple[str, ...] | None,
                                                   narrowband: bool, paced: bool, pcm: bytes,
                                                   sent: float | None) -> None:
    spec = StreamSpec(grammar, narrowband=narrowband, paced=paced)
    for msg in (Open(sid, spec), Open(sid, replace(spec, free=False), 1), Feed(sid, pcm, sent),
                Settle(sid, 3), Stats(4), Quit(), Reply(3, True, DualResult((), None))):
        assert pickle.loads(pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)) == msg
    assert isinstance(Settle(sid, 3), Request) and not isinstance(Feed(sid, pcm, sent), Request)
