"""Where prepared model directories live (ivr/asr/modeldir.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.asr.modeldir import cache_dir


def test_ivr_cache_names_the_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IVR_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path


def test_ivr_cache_off_is_the_default_place_not_a_folder_named_off(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("IVR_CACHE", "off")
    assert cache_dir() == tmp_path / "ivr"
    monkeypatch.delenv("IVR_CACHE")
    assert cache_dir() == tmp_path / "ivr"
