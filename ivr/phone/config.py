"""`ivr serve` options: the command line laid over a TOML config file, checked into one
frozen `ServeOptions` (every bad value is one `UsageError` line, before anything listens).

    flow = "flows/bank_hotline.yaml"      # paths are relative to the config file's folder
    sip = "127.0.0.1:5080"
    audiosocket = "off"
    queue = "var/handoff.sqlite3"
    lang = "ko"
    max_calls = 24
    workers = 2                           # speech recognition processes (default: one per core)
    trust = ["127.0.0.1"]
    prompts = "var/prompts"
    metrics = "127.0.0.1:9100"
    [lang_for]                            # called number → language
    "1588" = "ko"
    transfer_by = "refer"                 # or "bridge": the trunk does not do REFER
    [transfer]                            # queue → SIP URI (REFER after the handoff)
    fraud = "sip:agent@127.0.0.1:5090"

A command-line option wins over the file; the maps (`lang_for`, `transfer`) merge key by key,
the command line winning.
"""

from __future__ import annotations

import argparse
import difflib
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.errors import UsageError
from ivr.types import LANGS, Lang

__all__ = ["DEFAULTS", "DEFAULT_CACHE", "DEFAULT_WORKERS", "KEYS", "ServeOptions", "address",
           "options"]

DEFAULT_CACHE = os.path.join("var", "prompts")
"""Where synthesised prompts are cached unless --prompts says otherwise."""
DEFAULT_WORKERS = max(1, os.cpu_count() or 1)
"""Speech recognition processes unless --workers says otherwise: one per core (a worker
decodes on one core; each holds its own copy of the model, about 550 MB for Korean)."""
DEFAULTS: dict[str, Any] = {"sip": "127.0.0.1:5080", "audiosocket": "off", "max_calls": 24,
                            "workers": DEFAULT_WORKERS, "trust": ["127.0.0.1"],
                            "prompts": DEFAULT_CACHE, "metrics": "off", "transfer_by": "refer"}
"""What an option is when neither the command line nor the file gives it."""
_STR = ("flow", "sip", "audiosocket", "queue", "lang", "prompts", "metrics", "model",
        "backend", "transfer_by")
_LIST = ("overlay", "trust")
_MAP = ("lang_for", "transfer")
_INT = ("max_calls", "workers")
KEYS = (*_STR, *_LIST, *_MAP, *_INT)
"""Every key a config file may hold (the options' names, `-` as `_`)."""
_PATHS = ("flow", "overlay", "prompts", "model", "queue")
"""Keys whose relative paths are taken from the config file's folder."""
_MAX_FILE = 1 << 20
_MAX_WORKERS = 64
"""More recognition processes than this is a typo, not a machine (each is ~550 MB)."""


@dataclass(frozen=True)
class ServeOptions:
    """Everything `ivr serve` runs with, checked."""

    flow: str
    """The flow YAML file."""
    overlays: tuple[str, ...]
    """Overlay files laid over it."""
    sip: tuple[str, int] | None
    """SIP UDP listener (None: off)."""
    audiosocket: tuple[str, int] | None
    """AudioSocket TCP listener (None: off)."""
    queue: str | None
    """Handoff queue (None: $IVR_QUEUE or the default file)."""
    lang: Lang | None
    """Default caller language (None: the flow's first)."""
    lang_for: Mapping[str, Lang]
    """Called number → language."""
    max_calls: int
    """Calls at once per line."""
    trust: frozenset[str]
    """SIP source addresses allowed to call."""
    transfer: Mapping[str, str]
    """Queue → SIP URI (checked against the flow's queues later)."""
    prompts: str
    """Prompt audio cache."""
    metrics: tuple[str, int] | None
    """Where /metrics is served (None: off)."""
    model: str | None
    """Speech model directory."""
    backend: str | None = None
    """The bank's service for request/authenticate steps (None: $IVR_BANK_URL or none)."""
    transfer_by: str = "refer"
    """"refer" (a bridge when the REFER is refused) or "bridge" (the trunk does not REFER)."""
    workers: int = DEFAULT_WORKERS
    """Speech recognition processes per language (each decodes on one core)."""


def address(text: str, what: str) -> tuple[str, int]:
    """`HOST:PORT` → (host, port); UsageError naming `what` otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isascii() or not port.isdigit() \
            or not 0 <= int(port) < 65536:
        raise UsageError(f"{what} must be HOST:PORT, got {text!r}")
    return host, int(port)


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise UsageError(f"--trust must be an IP address, got {text!r}") from None


def read_config(path: str) -> dict[str, Any]:
    """A TOML config file → its values in the command line's shapes; UsageError (one line)
    for a file that cannot be read, bad TOML, an unknown key or a value of the wrong type."""
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_FILE + 1)
        if len(data) > _MAX_FILE:
            raise UsageError(f"{path}: a config file over 1 MiB is not a config file")
        table = tomllib.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else str(exc).splitlines()[0]
        raise UsageError(f"cannot read config {path}: {why}") from None
    base = Path(path).parent
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in KEYS:
            near = difflib.get_close_matches(key, KEYS, 1)
            hint = f"did you mean {near[0]!r}?" if near else f"known: {', '.join(sorted(KEYS))}"
            raise UsageError(f"{path}: unknown key {key!r} ({hint})")
        out[key] = _typed(path, key, value)
        if key in _PATHS:
            out[key] = _relative(base, out[key])
    return out


def _typed(path: str, key: str, value: Any) -> Any:
    bad = UsageError(f"{path}: {key} must be "
                     + ("an integer" if key in _INT else "a list of strings"
                        if key in _LIST else "a table of strings" if key in _MAP
                        else "a string") + f", got {str(value)[:60]!r}")
    if key in _INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if key in _LIST:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad
        return list(value)
    if key in _MAP:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise bad
        return [f"{k}={v}" for k, v in value.items()]
    if not isinstance(value, str):
        raise bad
    return value


def _relative(base: Path, value: Any) -> Any:
    if isinstance(value, list):
        return [_relative(base, v) for v in value]
    if "://" in value or os.path.isabs(value):
        return value
    return str(base / value)


def _merge(args: argparse.Namespace, file: Mapping[str, Any]) -> dict[str, Any]:
    """Command line over file over defaults; maps merged key by key."""
    out: dict[str, Any] = {}
    for key in KEYS:
        given = getattr(args, key, None)
        if key in _MAP:
            merged = {item.partition("=")[0]: item for item in file.get(key, [])}
            merged.update({item.partition("=")[0]: item for item in given or []})
            out[key] = list(merged.values())
        elif given not in (None, []):
            out[key] = given
        else:
            out[key] = file.get(key, DEFAULTS.get(key))
    return out


def options(args: argparse.Namespace) -> ServeOptions:
    """The checked options of `ivr serve` (`--config` read first, when given)."""
    merged = _merge(args, read_config(args.config) if args.config else {})
    if not merged["flow"]:
        raise UsageError("no flow: give --flow FILE or flow = \"FILE\" in the --config file")
    sip = None if merged["sip"] == "off" else address(merged["sip"], "--sip")
    audiosocket = (None if merged["audiosocket"] == "off"
                   else address(merged["audiosocket"], "--audiosocket"))
    if sip is None and audiosocket is None:
        raise UsageError("nothing to listen on: give --sip or --audiosocket")
    max_calls = merged["max_calls"]
    if max_calls < 1:
        raise UsageError(f"--max-calls must be at least 1, got {max_calls}")
    if merged["transfer_by"] not in ("refer", "bridge"):
        raise UsageError(f"transfer_by must be refer or bridge, got {merged['transfer_by']!r}")
    workers = merged["workers"]
    if not 1 <= workers <= _MAX_WORKERS:
        raise UsageError(f"--workers must be 1..{_MAX_WORKERS}, got {workers}")
    lang = merged["lang"]
    if lang is not None and lang not in LANGS:
        raise UsageError(f"--lang must be one of {', '.join(LANGS)}, got {lang!r}")
    return ServeOptions(
        flow=merged["flow"], overlays=tuple(merged["overlay"] or ()), sip=sip,
        audiosocket=audiosocket, queue=merged["queue"] or None, lang=lang,
        lang_for=_lang_for(merged["lang_for"]), max_calls=max_calls,
        trust=frozenset(_ip(a) for a in merged["trust"]),
        transfer=_pairs(merged["transfer"], "--transfer", "QUEUE=sip:user@host[:port]"),
        prompts=merged["prompts"],
        metrics=None if merged["metrics"] == "off" else address(merged["metrics"], "--metrics"),
        model=merged["model"] or None, backend=merged["backend"] or None,
        transfer_by=merged["transfer_by"], workers=workers)


def _pairs(items: list[str], what: str, form: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"{what} must be {form}, got {item!r}")
        out[key] = value
    return out


def _lang_for(items: list[str]) -> dict[str, Lang]:
    out: dict[str, Lang] = {}
    for number, lang in _pairs(items, "--lang-for", "NUMBER=LANG").items():
        if lang not in LANGS or any(c in number for c in " \t<>@;:"):
            raise UsageError(f"--lang-for must be NUMBER=LANG with LANG one of "
                             f"{', '.join(LANGS)}, got {number}={lang!r}")
        out[number] = lang
    return out
