"""`ivr serve --config`: the TOML file under the command line, every bad value one line."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from ivr.cli import build
from ivr.errors import UsageError
from ivr.phone.config import DEFAULT_WORKERS, KEYS, ServeOptions, options

FULL = """\
flow = "flows/bank.yaml"
overlay = ["flows/elderly.yaml"]
sip = "127.0.0.1:5070"
audiosocket = "127.0.0.1:9092"
queue = "sqlite:///tmp/q.sqlite3"
lang = "ko"
max_calls = 8
workers = 3
trust = ["127.0.0.1", "10.0.0.5"]
prompts = "cache"
metrics = "127.0.0.1:9100"
model = "/models/ko"
backend = "http://127.0.0.1:8765"
transfer_by = "bridge"
[lang_for]
"1588" = "ko"
"1599" = "en"
[transfer]
fraud = "sip:agent@127.0.0.1:5090"
general = "sip:desk@127.0.0.1:5091"
"""


def serve_options(*argv: str) -> ServeOptions:
    parser, _ = build()
    return options(parser.parse_args(["serve", *argv]))


def test_every_option_from_the_file_paths_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "serve.toml").write_text(FULL, "utf-8")
    opts = serve_options("--config", str(tmp_path / "serve.toml"))
    assert opts == ServeOptions(
        flow=str(tmp_path / "flows/bank.yaml"), overlays=(str(tmp_path / "flows/elderly.yaml"),),
        sip=("127.0.0.1", 5070), audiosocket=("127.0.0.1", 9092),
        queue="sqlite:///tmp/q.sqlite3", lang="ko", lang_for={"1588": "ko", "1599": "en"},
        max_calls=8, trust=frozenset({"127.0.0.1", "10.0.0.5"}),
        transfer={"fraud": "sip:agent@127.0.0.1:5090", "general": "sip:desk@127.0.0.1:5091"},
        prompts=str(tmp_path / "cache"), metrics=("127.0.0.1", 9100), model="/models/ko",
        backend="http://127.0.0.1:8765", transfer_by="bridge", workers=3)
    assert set(KEYS) == set(tomllib.loads(FULL))  # the example file holds every key


def test_every_serve_option_has_a_config_key() -> None:
    parser, _ = build()
    serve = parser._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    dests = {a.dest for a in serve._actions if a.dest not in ("help", "config")}
    assert dests == set(KEYS)


def test_the_command_line_wins_and_maps_merge(tmp_path: Path) -> None:
    (tmp_path / "serve.toml").write_text(FULL, "utf-8")
    opts = serve_options("--config", str(tmp_path / "serve.toml"), "--flow", "other.yaml",
                         "--max-calls", "2", "--workers", "1", "--sip", "off",
                         "--trust", "192.0.2.7",
                         "--lang-for", "1599=zh", "--transfer", "fraud=sip:x@127.0.0.1")
    assert opts.flow == "other.yaml" and opts.max_calls == 2 and opts.sip is None
    assert opts.workers == 1
    assert opts.trust == frozenset({"192.0.2.7"})
    assert opts.lang_for == {"1588": "ko", "1599": "zh"}
    assert opts.transfer == {"fraud": "sip:x@127.0.0.1", "general": "sip:desk@127.0.0.1:5091"}
    assert opts.audiosocket == ("127.0.0.1", 9092)  # not given on the command line: the file's


def test_defaults_without_a_file() -> None:
    opts = serve_options("--flow", "f.yaml")
    assert (opts.sip, opts.audiosocket, opts.max_calls, opts.trust, opts.metrics,
            opts.transfer_by) == (("127.0.0.1", 5080), None, 24, frozenset({"127.0.0.1"}), None,
                                  "refer")
    assert opts.workers == DEFAULT_WORKERS == max(1, os.cpu_count() or 1)


@pytest.mark.parametrize(("text", "message"), [
    ('flow = "f.yaml"\nmax_call = 3\n', "unknown key 'max_call' (did you mean 'max_calls'?)"),
    ('flow = "f.yaml"\nmax_calls = "3"\n', "max_calls must be an integer"),
    ('flow = "f.yaml"\nmax_calls = true\n', "max_calls must be an integer"),
    ('flow = "f.yaml"\nmax_calls = 0\n', "--max-calls must be at least 1"),
    ('flow = "f.yaml"\nworkers = "2"\n', "workers must be an integer"),
    ('flow = "f.yaml"\nworkers = 0\n', "--workers must be 1..64"),
    ('flow = "f.yaml"\nworkers = 500\n', "--workers must be 1..64"),
    ('flow = "f.yaml"\ntrust = "127.0.0.1"\n', "trust must be a list of strings"),
    ('flow = "f.yaml"\ntrust = ["localhost"]\n', "--trust must be an IP address"),
    ('flow = "f.yaml"\nlang_for = ["1588=ko"]\n', "lang_for must be a table of strings"),
    ('flow = "f.yaml"\n[lang_for]\n"1588" = "fr"\n', "--lang-for must be NUMBER=LANG"),
    ('flow = "f.yaml"\n[transfer]\nfraud = 3\n', "transfer must be a table of strings"),
    ('flow = "f.yaml"\nlang = "fr"\n', "--lang must be one of"),
    ('flow = "f.yaml"\nmetrics = "9100"\n', "--metrics must be HOST:PORT"),
    ('flow = "f.yaml"\nsip = "off"\n', "nothing to listen on"),
    ('flow = "f.yaml"\ntransfer_by = "blind"\n', "transfer_by must be refer or bridge"),
    ('sip = "127.0.0.1:5080"\n', "no flow"),
    ('flow = \n', "cannot read config"),
    ('flow = 3\n', "flow must be a string"),
])
def test_bad_files_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "serve.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(UsageError) as caught:
        serve_options("--config", str(path))
    assert message in str(caught.value) and "\n" not in str(caught.value)
