"""ITU-T G.711 μ-law and A-law codecs, vectorised with numpy.

The arithmetic follows the ITU reference (the public-domain Sun Microsystems `g711.c`
that accompanies the recommendation): μ-law works on 14-bit magnitudes with a bias of
0x84, A-law on 13-bit magnitudes, eight segments each. Both directions are computed once
for every possible input (256 codes, 65 536 samples) and then applied as table look-ups.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ivr.errors import UsageError

__all__ = ["decode_alaw", "decode_mulaw", "encode_alaw", "encode_mulaw"]

_MULAW_BIAS = 0x84
_MULAW_CLIP = 8159  # largest 14-bit magnitude before the bias is added
_MULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
_ALL_CODES = np.arange(256, dtype=np.int64)
_ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int64)


def _mulaw_decode_formula(codes: NDArray[np.int64]) -> NDArray[np.int16]:
    u = ~codes & 0xFF
    t = (((u & 0x0F) << 3) + _MULAW_BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _MULAW_BIAS - t, t - _MULAW_BIAS).astype(np.int16)


def _mulaw_encode_formula(pcm: NDArray[np.int64]) -> NDArray[np.uint8]:
    val = pcm >> 2
    mask = np.where(val < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(val), _MULAW_CLIP) + (_MULAW_BIAS >> 2)
    seg = np.searchsorted(_MULAW_SEG_END, mag, side="left")
    quant = (mag >> (np.minimum(seg, 7) + 1)) & 0x0F
    code = np.where(seg >= 8, 0x7F, (seg << 4) | quant)
    return (code ^ mask).astype(np.uint8)


def _alaw_decode_formula(codes: NDArray[np.int64]) -> NDArray[np.int16]:
    a = codes ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _alaw_encode_formula(pcm: NDArray[np.int64]) -> NDArray[np.uint8]:
    val = pcm >> 3
    mask = np.where(val >= 0, 0xD5, 0x55)
    mag = np.where(val >= 0, val, -val - 1)
    seg = np.searchsorted(_ALAW_SEG_END, mag, side="left")
    shift = np.where(seg < 2, 1, np.minimum(seg, 7))
    code = np.where(seg >= 8, 0x7F, (seg << 4) | ((mag >> shift) & 0x0F))
    return (code ^ mask).astype(np.uint8)


@cache
def _tables() -> tuple[NDArray[np.int16], NDArray[np.uint8], NDArray[np.int16], NDArray[np.uint8]]:
    """(μ-law decode, μ-law encode, A-law decode, A-law encode) look-up tables."""
    tables = (
        _mulaw_decode_formula(_ALL_CODES),
        _mulaw_encode_formula(_ALL_SAMPLES),
        _alaw_decode_formula(_ALL_CODES),
        _alaw_encode_formula(_ALL_SAMPLES),
    )
    for table in tables:
        table.flags.writeable = False
    return tables


def _integers(values: ArrayLike, low: int, high: int, what: str) -> NDArray[np.int64]:
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise UsageError(f"{what} must be an integer array, got {array.dtype}")
    array = array.astype(np.int64)
    if array.size and (array.min() < low or array.max() > high):
        raise UsageError(f"{what} must be in {low}..{high}")
    return array


def _as_codes(codes: ArrayLike) -> NDArray[np.uint8] | NDArray[np.int64]:
    array = np.asarray(codes)
    if array.dtype == np.uint8:
        return array
    return _integers(array, 0, 255, "G.711 codes")


def _as_index(samples: ArrayLike) -> NDArray[np.uint16] | NDArray[np.int64]:
    array = np.asarray(samples)
    if array.dtype == np.int16:
        return array.view(np.uint16) ^ np.uint16(0x8000)
    return _integers(array, -32768, 32767, "samples") + 32768


def decode_mulaw(codes: ArrayLike) -> NDArray[np.int16]:
    """μ-law codes (uint8) to linear int16 samples, same shape."""
    return _tables()[0][_as_codes(codes)]


def encode_mulaw(samples: ArrayLike) -> NDArray[np.uint8]:
    """Linear int16 samples to μ-law codes (uint8), same shape."""
    return _tables()[1][_as_index(samples)]


def decode_alaw(codes: ArrayLike) -> NDArray[np.int16]:
    """A-law codes (uint8) to linear int16 samples, same shape."""
    return _tables()[2][_as_codes(codes)]


def encode_alaw(samples: ArrayLike) -> NDArray[np.uint8]:
    """Linear int16 samples to A-law codes (uint8), same shape."""
    return _tables()[3][_as_index(samples)]
