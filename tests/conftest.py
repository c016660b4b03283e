"""Shared fixtures: the flows under test, paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.flow import Flow, load_flow

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "tests" / "flows"
BANK = ROOT / "flows" / "bank_hotline.yaml"


@pytest.fixture(scope="session")
def mini() -> Flow:
    return load_flow(FLOWS / "mini.yaml")


@pytest.fixture(scope="session")
def bank() -> Flow:
    return load_flow(BANK)
