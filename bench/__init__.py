"""Benchmarks of the ivr engine; they read the checkout (tests/data, samples/), so they live
beside the package, not in it. Run from the repo root: `python -m bench.intent` etc."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The checkout's root folder (holds ivr/, tests/, samples/, bench/results)."""
