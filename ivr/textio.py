"""Text in and out of the commands: output files, standard input and output.

One place decides what the commands do at the edges, so every command behaves alike:

* an output file that cannot be written (a folder, a missing folder, no permission) is a
  `UsageError` naming the path and the reason — one line from the CLI, never a traceback;
* standard input is UTF-8, decoded line by line, strictly: a line that is not UTF-8 is a
  `UsageError` naming its line number and the first bad byte (nothing is guessed or replaced);
* standard output is UTF-8 whatever the locale, and strict: JSON printed by any command is
  valid UTF-8 or the command fails with one line (it never writes surrogate escapes).
"""

from __future__ import annotations

import errno
import io
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from .errors import UsageError

__all__ = ["check_text", "configure_streams", "output_problem", "stdin_lines", "write_output"]


def configure_streams() -> None:
    """Standard output UTF-8 and strict; standard error never fails on a character."""
    for stream, errors in ((sys.stdout, "strict"), (sys.stderr, "backslashreplace")):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8", errors=errors)


def output_problem(path: str | Path, exc: OSError, what: str = "") -> UsageError:
    """A clear one-line error for an output file `path` that could not be written."""
    p = Path(path)
    target = f"cannot write {what + ' ' if what else ''}{path}"
    blocker = next((a for a in (p, *p.parents) if a.exists() and not a.is_dir()), None)
    if isinstance(exc, IsADirectoryError):
        why = "it is a folder, not a file"
    elif exc.errno == errno.ENOENT and not p.parent.exists():
        why = f"there is no folder {p.parent}"
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST) and blocker is not None:
        why = f"{blocker} is a file, not a folder"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "permission denied"
    else:
        why = exc.strerror or str(exc)
    return UsageError(f"{target}: {why}")


def write_output(path: str | Path, text: str, *, make_folders: bool = False,
                 what: str = "") -> Path:
    """Write `text` (UTF-8) to `path`; with `make_folders`, create missing folders first.

    Raises:
        UsageError: the file cannot be written (one line: the path and why).
    """
    p = Path(path)
    try:
        if make_folders:
            p.parent.mkdir(parents=True, exist_ok=True)
        with p.open("w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise output_problem(path, exc, what) from None
    return p


def _decode(raw: bytes, number: int, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name}: line {number} is not UTF-8 (byte 0x{raw[exc.start]:02x} at "
                         f"byte {exc.start + 1} of the line)") from None


def stdin_lines(stream: BinaryIO | TextIO | None = None, name: str = "stdin") -> Iterator[str]:
    """The lines of standard input (or `stream`), decoded as UTF-8, without line endings.

    Raises:
        UsageError: a line is not valid UTF-8 (on reaching it; earlier lines were yielded).
    """
    source = sys.stdin if stream is None else stream
    binary: Iterable[bytes | str] = getattr(source, "buffer", source)
    for number, raw in enumerate(binary, 1):
        text = raw if isinstance(raw, str) else _decode(raw, number, name)
        check_text(text, f"{name}: line {number}")
        yield text.rstrip("\r\n")


def check_text(text: str, where: str) -> str:
    """`text` unchanged, if it holds no undecodable bytes (surrogate escapes from the OS).

    Raises:
        UsageError: it does (e.g. a command-line argument that was not UTF-8).
    """
    bad = next((i for i, ch in enumerate(text) if "\ud800" <= ch <= "\udfff"), None)
    if bad is not None:
        raise UsageError(f"{where} is not UTF-8 (character {bad + 1})")
    return text
