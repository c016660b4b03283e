"""Hostile or broken files do no harm: refused fast, memory flat, one clear line each."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from ivr.errors import FlowError, FlowErrors
from ivr.flow import load_flow, yamlpos
from ivr.flow.yamlpos import Limits, LInt, LStr, load_located

from .conftest import BANK, FLOWS

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True))


def _refusal(path: Path) -> tuple[str, int]:
    """(message, peak bytes allocated) for loading a file that must be refused."""
    tracemalloc.start()
    try:
        with pytest.raises((FlowError, FlowErrors)) as info:
            load_flow(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"{path}:")
    return message, peak


def test_500_byte_alias_bomb_refused_in_little_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB, "utf-8")
    assert len(BOMB.encode()) < 500  # expands to 9**9 ≈ 387 million values
    message, peak = _refusal(path)
    assert "alias bomb" in message
    assert peak < 200_000, peak  # measured ~20 KB


def test_17_mb_file_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as f:
        f.truncate(17_000_000)
    message, peak = _refusal(path)
    assert "17000000 bytes, over the 2000000-byte limit" in message
    assert peak < 100_000, peak  # the content is never read


@pytest.mark.parametrize("text, fragment", [
    ("a: &a [1, *a]\n", "recursive alias"),
    ("[" * 100_000 + "]" * 100_000 + "\n", "nesting deeper than 40"),
    ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 60)), "nesting deeper than 40"),
    ("p: &p x\n" + "".join(f"k{i}: *p\n" for i in range(101)), "more than 100 aliases"),
    ("x: !!python/object/apply:os.system [echo hi]\n", "'!!python/object/apply:os.system'"),
    ("x: !!binary aGk=\n", "'!!binary' is not allowed"),
    ("x: !custom 1\n", "'!custom' is not allowed"),
    ("x: !!set {a, b}\n", "'!!set' is not allowed"),
    ("base: &b {a: 1}\nx:\n  <<: *b\n", "merge keys"),
    ("? [a, b]\n: 1\n", "keys must be plain scalars"),
    ("a: b\x00\n", "U+0000 is not allowed"),
    ("a: 1\n---\nb: 2\n", "but found another document"),
    ("# only a comment\n", "file is empty"),
])
def test_hostile_shapes_refused(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text(text, "utf-8")
    message, _ = _refusal(path)
    assert fragment in message


def test_not_utf8_and_directories(tmp_path: Path) -> None:
    (tmp_path / "latin1.yaml").write_bytes("flow: caf\xe9\n".encode("latin-1"))
    assert "not UTF-8" in _refusal(tmp_path / "latin1.yaml")[0]
    (tmp_path / "dir.yaml").mkdir()
    assert "is a directory" in _refusal(tmp_path / "dir.yaml")[0]


def test_a_file_just_under_the_cap_is_parsed_once(tmp_path: Path) -> None:
    """1.9 MB of phrases loads in one parse (aliases are counted while composing)."""
    path = tmp_path / "big.yaml"
    row = "  - " + "check my balance please " * 8 + "\n"
    path.write_text("rows:\n" + row * (1_900_000 // len(row)), "utf-8")
    root, _ = load_located(path)
    assert len(root["rows"]) == 1_900_000 // len(row)


def test_too_many_values_refused_while_composing(tmp_path: Path) -> None:
    """A file of many tiny values stops at the value cap, before anything is built."""
    path = tmp_path / "many.yaml"
    path.write_text("rows:\n" + "  - [a, b, c, d, e, f, g, h, i]\n" * 40_000, "utf-8")
    with pytest.raises(FlowError, match="over 50000 values; refused"):
        load_located(path, Limits(max_nodes=50_000))


def test_every_scalar_keeps_position_and_source(tmp_path: Path) -> None:
    path = tmp_path / "pos.yaml"
    path.write_text('a: 12:30\nb: "12:30"\nc:\n  - 0755\n  - no\n"1": x\n', "utf-8")
    root, problems = load_located(path)
    assert problems == []
    assert isinstance(root["a"], LInt) and root["a"] == 750 and root["a"].source == "12:30"
    assert isinstance(root["b"], LStr) and root["b"] == "12:30"
    assert (root["c"][0].line, root["c"][0].col, root["c"][0].source) == (4, 5, "0755")
    assert root["c"][1].source == "no" and root["c"][1].file == str(path)
    assert root.key_pos["1"].line == 6


@pytest.mark.parametrize("case", ["syntax", "two_documents", "tab_indent"])
def test_messages_are_the_same_without_libyaml(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """libyaml's errors are reworded by PyYAML's parser: the same text either way."""
    monkeypatch.chdir(FLOWS / "bad")
    expected = (FLOWS / "bad" / f"{case}.expected").read_text("utf-8").strip()
    assert len(yamlpos._LOADERS) == 2, "libyaml is installed with PyYAML's wheels"
    for loaders in (yamlpos._LOADERS, yamlpos._LOADERS[-1:]):
        monkeypatch.setattr(yamlpos, "_LOADERS", loaders)
        with pytest.raises(FlowError) as info:
            load_flow(f"{case}.yaml")
        assert str(info.value) == expected


def test_both_parsers_build_the_same_bank_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = load_flow(BANK)
    monkeypatch.setattr(yamlpos, "_LOADERS", yamlpos._LOADERS[-1:])
    assert load_flow(BANK) == fast


def test_file_growing_past_the_cap_while_read_is_refused(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "grows.yaml"
    path.write_text("a: " + "x" * 100 + "\n", "utf-8")
    real_stat = Path.stat

    def small_stat(self: Path, **kw: object) -> os.stat_result:
        st = real_stat(self)
        return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid,
                               st.st_gid, 10, st.st_atime, st.st_mtime, st.st_ctime))

    monkeypatch.setattr(Path, "stat", small_stat)
    with pytest.raises(FlowError, match="over the 50-byte limit"):
        load_located(path, Limits(max_bytes=50))
