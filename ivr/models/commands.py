"""Commands this room adds to `ivr` (registered by ivr.cli): `ivr models ...`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..types import LANGS

__all__ = ["register"]

Handler = Callable[[argparse.Namespace], int]
_CATALOG_HELP = "the bank's catalogue file (default: $IVR_CATALOG, else the shipped one)"


def register(sub: Any) -> dict[str, Handler]:
    """Add `models` and its actions to `sub` (argparse subparsers); return the handler."""
    p = sub.add_parser("models", help="speech models",
                       description="Download checks each zip's sha256 against the catalogue's "
                       "pin, else against the digest recorded here at its first download "
                       "(trusted.json in the models directory), else records it (first use).")
    msub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    q = msub.add_parser("list", help="the catalogue, how each digest is verified, "
                        "what is installed")
    q.add_argument("--catalog", metavar="FILE", help=_CATALOG_HELP)
    q = msub.add_parser("download", help="download, verify and unpack a model")
    q.add_argument("name")
    q.add_argument("--catalog", metavar="FILE", help=_CATALOG_HELP)
    q.add_argument("--url", help="download from this URL instead of the catalogue's (or "
                   "$IVR_MODEL_MIRROR/NAME.zip); the digest is checked all the same")
    q.add_argument("--require-pinned", action="store_true",
                   help="refuse a model whose sha256 the catalogue does not pin (no first use)")
    q = msub.add_parser("path", help="the model directory used for a language")
    q.add_argument("--lang", choices=LANGS, required=True, help="caller language")
    q.add_argument("--model", help="explicit model directory")
    q = msub.add_parser("pin", help="pin a model's sha256 in a catalogue file")
    q.add_argument("name")
    q.add_argument("--catalog", metavar="FILE",
                   help="catalogue file to write (default: $IVR_CATALOG); created from the "
                   "shipped one when missing")
    q.add_argument("--sha256", help="the digest to pin (default: the one recorded here)")
    q = msub.add_parser("trust", help="digests recorded at first download on this machine")
    tsub = q.add_subparsers(dest="trust_command", required=True, metavar="ACTION")
    tsub.add_parser("list", help="every recorded digest")
    tsub.add_parser("export", help="the trust file as JSON, for $IVR_MODELS/trusted.json "
                    "on other machines")
    t = tsub.add_parser("forget", help="drop a record, so the next download is a first use")
    t.add_argument("name")
    return {"models": _cmd_models}


def _catalog_file(args: argparse.Namespace) -> Path | None:
    return Path(args.catalog) if getattr(args, "catalog", None) else None


def _cmd_models(args: argparse.Namespace) -> int:
    from . import Catalog, download, format_model_list, list_models, resolve_model
    from .listing import recorded_names

    if args.models_command == "list":
        rows = list_models(Catalog.load(_catalog_file(args)))
        print(format_model_list(rows, recorded_names()))
    elif args.models_command == "download":
        print(download(args.name, url=args.url, require_pinned=args.require_pinned,
                       catalog=Catalog.load(_catalog_file(args)), progress=sys.stderr))
    elif args.models_command == "path":
        print(resolve_model(args.lang, args.model))
    elif args.models_command == "pin":
        _pin(args)
    else:
        _trust(args)
    return 0


def _pin(args: argparse.Namespace) -> None:
    from . import load_trust, models_dir, pin_digest
    from .trust import trust_path

    configured = args.catalog or os.environ.get("IVR_CATALOG", "")
    if configured == "":
        raise ModelError("say which catalogue file to write: --catalog FILE or $IVR_CATALOG "
                         "(a missing file starts as a copy of the shipped catalogue)")
    path = Path(configured)
    digest = args.sha256
    if digest is None:
        recorded = load_trust(models_dir()).get(args.name)
        if recorded is None:
            raise ModelError(f"no digest of {args.name!r} is recorded in "
                             f"{trust_path(models_dir())}: download it first or pass --sha256")
        digest = recorded.sha256
    changed = pin_digest(path, args.name, digest)
    state = "pinned" if changed else "was already pinned"
    print(f"{args.name}: sha256 {digest} {state} in {path}; downloads with --catalog {path} "
          f"or IVR_CATALOG={path} must match it")


def _trust(args: argparse.Namespace) -> None:
    from . import forget, load_trust, models_dir
    from .trust import trust_path

    directory = models_dir()
    if args.trust_command == "forget":
        gone = forget(directory, args.name)
        print(f"forgot {gone}; the next download of {args.name} is a first use again")
        return
    records = load_trust(directory)
    if args.trust_command == "export":
        body = {n: {k: v for k, v in asdict(r).items() if k != "name"}
                for n, r in sorted(records.items())}
        print(json.dumps({"models": body}, indent=2))
        return
    for rec in records.values():
        print(rec)
    if not records:
        print(f"no digests recorded in {trust_path(directory)}")
