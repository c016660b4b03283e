"""`make bench-queue` in its quick mode, so the benchmark cannot rot (slow: ~1 min)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.queue import main

from .redis_server import REDIS_SERVER


@pytest.mark.slow
@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")
def test_quick_bench_loses_nothing_on_either_backend(tmp_path: Path) -> None:
    assert main(["--quick", "--seed", "13", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "queue.json").read_text("utf-8"))
    assert results["seed"] == 13 and results["ok"] is True
    for backend in ("sqlite", "redis"):
        for phase in ("load", "kill9"):
            r = results[backend][phase]
            assert (r["lost"], r["duplicated"], r["held_twice"]) == (0, 0, 0), (backend, phase)
            assert r["done"] == r["records"] == r["acknowledged"] > 0, (backend, phase)
        assert results[backend]["kill9"]["killed_engines"] > 0
        assert results[backend]["kill9"]["killed_agents"] > 0
    restart = results["redis"]["restart"]
    assert restart["lost"] == 0 and restart["acknowledged_before_kill"] > 0
    assert "| sqlite | load |" in (tmp_path / "queue.md").read_text("utf-8")
