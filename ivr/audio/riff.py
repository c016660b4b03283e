"""The RIFF/WAVE container: find the `fmt ` and `data` chunks and check the format.

Everything here reads through a `Source` (bytes in memory, or a file read on demand: only
chunk headers and the `fmt ` body are read) and raises `WavProblem(reason)`; the caller
(`ivr.audio.wav`) prefixes the path and turns it into an `AudioError`. Lenient where real
recorders are sloppy (RIFF sizes that disagree with the file, a data chunk cut short, a
streaming writer's placeholder sizes, an odd chunk without its pad byte), strict where the
samples could not be decoded correctly (sample rate, channels, block align, format).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "MAX_RATE",
    "MIN_RATE",
    "BytesSource",
    "Source",
    "WavFormat",
    "WavProblem",
    "find_chunks",
    "locate_chunks",
    "parse_fmt",
    "sniff",
]

MIN_RATE = 1_000
"""Lowest accepted sample rate in Hz (lower rates would blow up on conversion to 16 kHz)."""
MAX_RATE = 768_000
"""Highest accepted sample rate in Hz."""
MAX_CHUNKS = 10_000
"""Chunks walked before giving up (a hostile file could hold millions of empty ones)."""

PCM, IEEE_FLOAT, ALAW, MULAW, EXTENSIBLE = 0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE
_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")  # KSDATAFORMAT_SUBTYPE_* suffix

_FORMAT_NAMES = {
    0x0000: "unknown",
    0x0002: "Microsoft ADPCM",
    0x0008: "DTS",
    0x0010: "OKI ADPCM",
    0x0011: "IMA ADPCM",
    0x0017: "Dialogic OKI ADPCM",
    0x0022: "DSP Group TrueSpeech",
    0x0031: "GSM 6.10",
    0x0040: "G.721 ADPCM",
    0x0050: "MPEG audio",
    0x0055: "MPEG Layer 3 (MP3)",
    0x0064: "G.726 ADPCM",
    0x0065: "G.722 ADPCM",
    0x0092: "Dolby AC-3 SPDIF",
    0x00FF: "AAC",
    0x0161: "Windows Media Audio",
    0x1610: "HE-AAC",
    0xF1AC: "FLAC",
}

_MAGIC = (
    (b"ID3", "MP3"),
    (b"\xff\xfb", "MP3"),
    (b"\xff\xf3", "MP3"),
    (b"\xff\xf2", "MP3"),
    (b"OggS", "OGG"),
    (b"fLaC", "FLAC"),
    (b"RIFX", "big-endian RIFF, not supported"),
    (b"RF64", "RF64, not supported"),
    (b"FORM", "AIFF"),
    (b".snd", "Sun AU"),
    (b"#!AMR", "AMR"),
    (b"\x1aE\xdf\xa3", "Matroska/WebM"),
    (b"\xff\xf1", "AAC (ADTS)"),
    (b"\xff\xf9", "AAC (ADTS)"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x00\x00\x00\x00", "binary zeros"),
)


class WavProblem(Exception):
    """A reason the bytes cannot be decoded; the caller adds the path."""


@dataclass(frozen=True)
class WavFormat:
    """What the `fmt ` chunk says, checked."""

    encoding: str
    """"pcm8", "pcm16", "pcm24", "pcm32", "float32", "float64", "mulaw" or "alaw"."""
    rate: int
    """Samples per second per channel."""
    channels: int
    """Interleaved channels."""
    width: int
    """Bytes per sample of one channel (the container size)."""

    @property
    def block_align(self) -> int:
        """Bytes per frame (one sample of every channel)."""
        return self.width * self.channels


def _quote(head: bytes) -> str:
    return repr(head.decode("latin-1"))


def sniff(head: bytes) -> str:
    """A one-line reason why bytes that do not start with RIFF....WAVE are not a WAV file."""
    if head.startswith(b"RIFF") and len(head) >= 12:
        return f"RIFF file but not WAVE (form type {_quote(head[8:12])})"
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return f"not a WAV file (starts with {_quote(head[:8])}, looks like MP4/M4A)"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return f"not a WAV file (starts with {_quote(magic)}, looks like {kind})"
    if _looks_like_text(head[:512]):
        return f"not a WAV file (starts with {_quote(head[:4])}, looks like text)"
    return f"not a WAV file (starts with {_quote(head[:4])})"


def _looks_like_text(sample: bytes) -> bool:
    """True for UTF-8 text without control characters (a cut last character is allowed)."""
    sample = sample.removeprefix(b"\xef\xbb\xbf")
    for cut in range(4):
        try:
            text = sample[: len(sample) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return bool(text) and all(ch.isprintable() or ch in "\t\r\n" for ch in text)
    return False


def _printable(chunk_id: bytes) -> bool:
    return len(chunk_id) == 4 and all(32 <= c < 127 for c in chunk_id)


class Source(Protocol):
    """Random access to the bytes of a file: in memory, or read from disk on demand."""

    size: int
    """Total bytes."""

    def read_at(self, offset: int, n: int) -> bytes:
        """Up to `n` bytes from `offset` (fewer at the end)."""
        ...


class BytesSource:
    """A `Source` over bytes in memory."""

    def __init__(self, data: bytes) -> None:
        self.data, self.size = data, len(data)

    def read_at(self, offset: int, n: int) -> bytes:
        """Up to `n` bytes from `offset`."""
        return self.data[offset : offset + n]


def _next_chunk(src: Source, body: int, size: int) -> int:
    """Offset of the chunk after a body of `size` bytes at `body`, honouring the pad byte.

    Some writers forget the pad byte after an odd-sized chunk; when the padded offset holds
    no plausible chunk id but the unpadded one does, the unpadded offset is used.
    """
    end = body + size
    if size % 2:
        ahead = src.read_at(end, 5)
        if not _printable(ahead[1:5]) and _printable(ahead[0:4]):
            return end
    return end + size % 2


def find_chunks(data: bytes) -> tuple[bytes, memoryview]:
    """The `fmt ` body and the `data` body of a WAVE file in memory (see `locate_chunks`)."""
    fmt, start, size = locate_chunks(BytesSource(data))
    return fmt, memoryview(data)[start : start + size]


def locate_chunks(src: Source) -> tuple[bytes, int, int]:
    """The `fmt ` body, and the offset and size of the `data` body, of a WAVE file.

    Only chunk headers and the `fmt ` body are read, so a file of any length is walked in a
    few reads. The data body is cut at the end of the file when its header claims more, and
    taken to the end of the file when a streaming writer left a placeholder size of zero.
    """
    head = src.read_at(0, 512)
    if head[:4] != b"RIFF"[: len(head)]:
        raise WavProblem(sniff(head))
    if src.size < 12:
        raise WavProblem(f"truncated header ({src.size} bytes)")
    if head[8:12] != b"WAVE":
        raise WavProblem(sniff(head))
    riff_end = 8 + struct.unpack_from("<I", head, 4)[0]
    fmt: bytes | None = None
    body: tuple[int, int] | None = None
    pos, walked = 12, 0
    while pos + 8 <= src.size and (fmt is None or body is None):
        walked += 1
        if walked > MAX_CHUNKS:
            raise WavProblem(f"more than {MAX_CHUNKS} chunks before the audio")
        header = src.read_at(pos, 8)
        chunk_id = header[:4]
        (size,) = struct.unpack_from("<I", header, 4)
        start = pos + 8
        if chunk_id == b"fmt " and fmt is None:
            if start + size > src.size:
                raise WavProblem(f"truncated fmt chunk ({src.size - start} of {size} bytes)")
            fmt = src.read_at(start, size)
        elif chunk_id == b"data" and body is None:
            if size == 0 and riff_end <= start < src.size:
                size = src.size - start  # streaming writer never filled in the sizes
            body = (start, max(0, min(size, src.size - start)))
        pos = _next_chunk(src, start, size)
    if fmt is None:
        raise WavProblem("no fmt chunk" + ("" if body is None else " to say how to read the data"))
    if body is None:
        raise WavProblem("no data chunk")
    return fmt, body[0], body[1]


def _format_name(tag: int) -> str:
    name = _FORMAT_NAMES.get(tag, "unknown")
    return f"{name} (tag 0x{tag:04X})"


def _format_tag(fmt: bytes) -> int:
    """The format tag, looking through WAVE_FORMAT_EXTENSIBLE to its sub-format GUID."""
    (tag,) = struct.unpack_from("<H", fmt, 0)
    if tag != EXTENSIBLE:
        return int(tag)
    if len(fmt) < 40:
        raise WavProblem(f"EXTENSIBLE fmt chunk too short ({len(fmt)} bytes, need 40)")
    guid = fmt[24:40]
    if guid[2:] != _GUID_TAIL:
        raise WavProblem(f"unsupported EXTENSIBLE sub-format GUID {guid.hex()}")
    return int(struct.unpack_from("<H", guid, 0)[0])


def _encoding(tag: int, bits: int) -> tuple[str, int]:
    """(encoding, container bytes per sample) for a format tag and bits per sample."""
    if tag == PCM:
        width = (bits + 7) // 8
        if width not in (1, 2, 3, 4):
            raise WavProblem(f"unsupported PCM sample size {bits} bits")
        return f"pcm{8 * width}", width
    if tag == IEEE_FLOAT:
        if bits not in (32, 64):
            raise WavProblem(f"unsupported float sample size {bits} bits")
        return f"float{bits}", bits // 8
    if tag in (MULAW, ALAW):
        if bits != 8:
            raise WavProblem(f"G.711 needs 8 bits per sample, header says {bits}")
        return ("mulaw" if tag == MULAW else "alaw"), 1
    raise WavProblem(
        f"unsupported format {_format_name(tag)}; "
        "convert it first, e.g. `sox in.wav -e signed -b 16 out.wav`"
    )


def parse_fmt(fmt: bytes) -> WavFormat:
    """Check a `fmt ` chunk body and say how to decode the data."""
    if len(fmt) < 16:
        raise WavProblem(f"fmt chunk too short ({len(fmt)} bytes, need 16)")
    _, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt, 0)
    encoding, width = _encoding(_format_tag(fmt), bits)
    if channels == 0:
        raise WavProblem("zero channels")
    if rate == 0:
        raise WavProblem("sample rate 0")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise WavProblem(f"sample rate {rate} Hz out of range {MIN_RATE}..{MAX_RATE}")
    if block_align != channels * width:
        raise WavProblem(
            f"block align {block_align} does not match {channels} channel(s) × {width} byte(s)"
        )
    return WavFormat(encoding=encoding, rate=rate, channels=channels, width=width)
