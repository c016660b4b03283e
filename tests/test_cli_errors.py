"""Every command, attacked at its edges: bad input is one line on stderr and exit 2, never a
traceback; standard output is valid UTF-8 whatever the locale.

The cases are generated from the parser itself: every subcommand (walked through argparse's
subparsers, rooms' commands included) and every argument it takes gets each hostile value of
its kind — missing files, folders where files go, files where folders go, non-UTF-8 files,
bad numbers, unknown choices — with non-UTF-8 bytes on standard input. A new command is covered
as it is added; a new kind of argument fails `test_every_argument_has_hostile_values` until
it is given hostile values here. The whole matrix runs in-process (fast); a subset runs as real
subprocesses under LC_ALL=C.UTF-8 and LC_ALL=C, and the whole matrix does with -m slow.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivr.chat import chat
from ivr.cli import build, main
from ivr.desk.agents import AgentStore

from .conftest import FLOWS, ROOT

MINI = str(FLOWS / "mini.yaml")
SCRIPT = """lang: en
calls:
  - call: lost
    turns: [{say: "I lost my card", expect: {intent: card_loss}}]
    expect: {node: card_loss}
"""
BAD_STDIN = b"good morning\nmy card \xff\xfe is gone\n/hangup\n"
"""A first line that is fine, then bytes that are not UTF-8."""

ONE_LINE_ERROR = re.compile(r"^(ivr( \w+)*: error: .+|\S.*:\d+:\d+: .+)$")
"""An error line: `ivr [command]: error: ...`, or a flow problem `file:line:col: ...`."""


@dataclass(frozen=True)
class Paths:
    """Files and folders the hostile values point at (one temporary tree per module)."""

    root: Path

    def __getattr__(self, name: str) -> str:
        return str(self.root / {"suite": "s.yaml", "file": "plain.txt", "folder": "folder",
                                "bad": "bad.yaml", "missing": "missing/none.yaml",
                                "under_file": "plain.txt/x.out", "queue": "q.sqlite3",
                                "new_dir": "new/out.txt", "toml_key": "key.toml",
                                "toml_value": "value.toml", "agents": "agents.sqlite3",
                                "new_agents": "new-agents.sqlite3"}[name])


Kind = Callable[[Paths], list[str]]

GOOD: dict[str, Kind] = {
    "flow": lambda p: [MINI], "lang": lambda p: ["en"], "suite": lambda p: [p.suite],
    "files": lambda p: [p.suite], "jobs": lambda p: ["1"], "queue": lambda p: [p.queue],
    "name": lambda p: ["no-such-model"],
    "call_id": lambda p: ["c1"], "disposition": lambda p: ["resolved"], "days": lambda p: ["30"],
    "agents": lambda p: [p.agents], "agents_file": lambda p: [p.new_agents],
    "agent": lambda p: ["carol"],
}
"""Values for required arguments (and `always` ones) in every case but their own."""

ALWAYS = ("jobs", "queue")
"""Optional arguments given in every case: one process, and no queue outside the tmp tree."""

NEEDED: dict[tuple[str, ...], tuple[str, ...]] = {("desk",): ("flow", "agents")}
"""Options a command checks itself (argparse cannot require them: `ivr desk` also has the
`agent add` subcommand, which needs neither)."""

_FILES: Kind = lambda p: [p.missing, p.folder, p.bad, p.file]  # noqa: E731 - a table entry
_OUTPUT: Kind = lambda p: [p.folder, p.under_file, p.new_dir]  # noqa: E731

HOSTILE: dict[str, Kind] = {
    "flow": _FILES, "overlay": _FILES, "suite": _FILES, "baseline": _FILES,
    "files": lambda p: [p.missing, p.bad],  # a folder or text as a WAV would load Vosk first
    "check": _FILES, "model": lambda p: [p.missing, p.file],
    "now": lambda p: ["yesterday", "2024-13-45"], "region": lambda p: [""],
    "lang": lambda p: ["xx"], "format": lambda p: ["png"],
    "queue": lambda p: [p.folder, p.under_file],
    "output": _OUTPUT, "junit": _OUTPUT, "svg": _OUTPUT, "json": _OUTPUT,
    "html": lambda p: [p.file, p.under_file],
    "text": lambda p: ["caf\udce9"],  # an argument that was not UTF-8 (surrogate-escaped)
    "jobs": lambda p: ["0", "-1", "abc"],
    "nearest": lambda p: ["0", "21", "-1", "abc", "1e3", "\u0663", ""],
    "max_false_accept": lambda p: ["nan", "2", "abc"],
    "name": lambda p: ["", "../../etc/passwd"], "agent": lambda p: [""],
    "url": lambda p: ["not a url", "file:///nonexistent/model.zip"],
    "catalog": lambda p: [p.missing, p.folder, p.bad, p.under_file],
    "sha256": lambda p: ["", "abc", "z" * 64],
    "out": lambda p: [p.file, p.under_file], "prompts": lambda p: [p.file, p.under_file],
    "sip": lambda p: ["", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:x"],
    "audiosocket": lambda p: ["127.0.0.1:-1", ":9092"],
    "max_calls": lambda p: ["0", "-1", "abc"], "workers": lambda p: ["0", "-1", "65", "abc"],
    "trust": lambda p: ["", "not-an-ip"],
    "transfer": lambda p: ["fraud", "nosuch=sip:a@127.0.0.1", "general=http://x"],
    "transfer_by": lambda p: ["", "blind", "REFER"],
    # ivr desk: every value must fail before the server listens (--lease: the values above)
    "agents": lambda p: [p.missing, p.folder, p.file, p.under_file],
    "agents_file": lambda p: [p.missing, p.folder, p.file, p.under_file],
    "listen": lambda p: ["", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:x", "256.1.1.1:8080"],
    "role": lambda p: ["root"], "skills": lambda p: ["fraud,<b>", "a b", "x" * 40],
    "lease": lambda p: ["0", "-5", "nan", "inf", "abc", "1e9"],
    "window": lambda p: ["0", "-5", "nan", "inf", "abc", "1e9", "59"],
    "top": lambda p: ["0", "-1", "101", "abc", "1.5", ""],
    "sla_target": lambda p: ["0", "-1", "nan", "abc"],
    "call_id": lambda p: ["", "no-such-call", "c\nx"],
    "disposition": lambda p: ["", "line\nbreak", "x" * 100],
    "days": lambda p: ["-1", "nan", "inf", "abc", "1e9"],
    "status": lambda p: ["closed", ""],
    "config": lambda p: [p.missing, p.folder, p.file, p.bad, p.toml_key, p.toml_value],
    "lang_for": lambda p: ["1588", "=ko", "1588=xx", "15 88=ko", "1588=ko"],  # mini is en
    "metrics": lambda p: ["", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:x"],
    "backend": lambda p: ["not a url", "ftp://127.0.0.1:21", "http://u:pw@127.0.0.1:1",
                          "http://127.0.0.1:9"],  # the last: no $IVR_BANK_TOKEN set
    "caller": lambda p: ["", "+8613800138000", "1" * 40, "12\n34"],
}
"""Hostile values per argument (by argparse `dest`)."""


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
           ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every runnable subcommand: its words and its parser."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs or not all(a.required for a in subs):  # none, or runnable without one
        yield path, parser
    for action in subs:
        for name, child in action.choices.items():
            yield from leaves(child, (*path, name))


def _valued(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments that take a value (flags and subcommand choosers aside)."""
    return [a for a in parser._actions if a.nargs != 0 and a.dest != "help"
            and not isinstance(a, argparse._SubParsersAction)]


def _needed(action: argparse.Action, words: tuple[str, ...] = ()) -> bool:
    """Given in every case (a positional `nargs="*"` counts as required to argparse only)."""
    return ((action.required and action.nargs not in ("*", "?")) or action.dest in ALWAYS
            or action.dest in NEEDED.get(words, ()))


def _args(action: argparse.Action, value: str) -> list[str]:
    return [action.option_strings[0], value] if action.option_strings else [value]


@dataclass(frozen=True)
class Case:
    """One command line with one hostile argument."""

    words: tuple[str, ...]
    """The subcommand."""
    dest: str
    """The argument made hostile."""
    index: int
    """Which of its hostile values."""

    def argv(self, paths: Paths) -> list[str]:
        """The command line, with the other arguments given good values."""
        parser = dict(leaves(build()[0]))[self.words]
        argv = list(self.words)
        for action in _valued(parser):
            if action.dest == self.dest:
                argv += _args(action, HOSTILE[action.dest](paths)[self.index])
            elif _needed(action, self.words):
                argv += _args(action, GOOD[action.dest](paths)[0])
        return argv

    def __str__(self) -> str:
        return f"{' '.join(self.words)}--{self.dest}[{self.index}]"


def _cases() -> list[Case]:
    fake = Paths(Path("/"))
    return [Case(words, action.dest, i) for words, parser in leaves(build()[0])
            for action in _valued(parser) if action.dest in HOSTILE
            for i in range(len(HOSTILE[action.dest](fake)))]


CASES = _cases()


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    root = tmp_path_factory.mktemp("hostile")
    (root / "s.yaml").write_text(SCRIPT, "utf-8")
    (root / "plain.txt").write_text("not a flow, not a script\n", "utf-8")
    (root / "folder").mkdir()
    (root / "bad.yaml").write_bytes(b"lang: en\ncalls: [\xff\xfe]\n")
    (root / "key.toml").write_text('sip = "127.0.0.1:5080"\nmax_call = 3\n', "utf-8")
    (root / "value.toml").write_text('max_calls = "many"\n', "utf-8")
    AgentStore(root / "agents.sqlite3").add("dana", "agent", frozenset({"en"}), "a-password")
    return Paths(root)


def test_every_argument_has_hostile_values() -> None:
    for words, parser in leaves(build()[0]):
        for action in _valued(parser):
            assert action.dest in HOSTILE, (
                f"ivr {' '.join(words)}: give argument '{action.dest}' hostile values in "
                "HOSTILE (and a good one in GOOD if it is required)")
            if _needed(action, words):
                assert action.dest in GOOD, f"ivr {' '.join(words)}: '{action.dest}' in GOOD"
    assert len(list(leaves(build()[0]))) >= 15  # route, replay, chat, call, queue x3, ...


def check_outcome(code: int, out: str, err: str, what: str) -> None:
    """The contract: exit 0/1/2, no traceback, every stderr line one error, no bug."""
    assert code in (0, 1, 2), f"{what}: exit {code}\n{err}"
    assert "Traceback" not in err + out, f"{what}: {err}"
    assert "internal error" not in err, f"{what}: {err}"
    lines = [line for line in err.splitlines() if line.strip()]
    if code == 2:  # lint and schema --check print their findings on stdout
        assert lines or out.strip(), f"{what}: exit 2 with nothing said"
        for line in lines:
            assert ONE_LINE_ERROR.match(line), f"{what}: not a one-line error: {line!r}"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_hostile_arguments_in_process(case: Case, paths: Paths,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IVR_QUEUE", paths.queue)
    monkeypatch.setenv("IVR_MODELS", paths.folder)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BAD_STDIN), "utf-8",
                                                       errors="surrogateescape"))
    try:
        code = main(case.argv(paths))
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    cap = capsys.readouterr()
    check_outcome(code, cap.out, cap.err, str(case))


def ivr(argv: list[str], *, stdin: bytes = BAD_STDIN, locale: str = "C.UTF-8",
        paths: Paths | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "LC_ALL": locale, "PYTHONPATH": str(ROOT)}
    env.pop("LANG", None)
    if paths is not None:
        env.update(IVR_QUEUE=paths.queue, IVR_MODELS=paths.folder)
    return subprocess.run([sys.executable, "-m", "ivr.cli", *argv], input=stdin,
                          capture_output=True, cwd=ROOT, env=env, timeout=60, check=False)


def check_process(out: subprocess.CompletedProcess[bytes], what: str) -> str:
    """The contract for a real process: as `check_outcome`, and stdout strict UTF-8."""
    text = out.stdout.decode("utf-8")  # strict: raises on surrogate escapes or bad bytes
    err = out.stderr.decode("utf-8", "replace")
    check_outcome(out.returncode, text, err, what)
    return text


FAST = [(c, ("C.UTF-8", "C")[n % 2]) for n, c in enumerate(
    c for i, c in enumerate(CASES) if i == 0 or CASES[i - 1].words != c.words)]
"""One case per subcommand (its first), run as a real process, the locales taking turns."""


@pytest.mark.parametrize("case, locale", FAST, ids=lambda x: str(x))
def test_hostile_arguments_in_a_process(case: Case, locale: str, paths: Paths) -> None:
    check_process(ivr(case.argv(paths), locale=locale, paths=paths), f"{case} {locale}")


@pytest.mark.slow
@pytest.mark.parametrize("locale", ["C.UTF-8", "C"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_hostile_case_in_a_process(case: Case, locale: str, paths: Paths) -> None:
    check_process(ivr(case.argv(paths), locale=locale, paths=paths), f"{case} {locale}")


# The four findings of issue 10 (6), one by one, as a user meets them.

@pytest.mark.parametrize("argv, message", [
    (["graph", MINI, "-o", "/nonexistent/dir/x.mmd"],
     "ivr: error: cannot write /nonexistent/dir/x.mmd: there is no folder /nonexistent/dir"),
    (["schema", "-o", "/tmp"], "ivr: error: cannot write /tmp: it is a folder, not a file"),
    (["schema", "-o", "README.md/x.json"],
     "ivr: error: cannot write README.md/x.json: README.md is a file, not a folder"),
])
def test_output_files_that_cannot_be_written(argv: list[str], message: str) -> None:
    out = ivr(argv)
    assert out.returncode == 2 and out.stderr.decode().strip() == message


def test_an_existing_file_as_the_html_folder(paths: Paths) -> None:
    out = ivr(["test", paths.suite, "--flow", MINI, "-j", "1", "--html", paths.file])
    assert out.returncode == 2
    assert out.stderr.decode().strip() == (f"ivr: error: cannot write the HTML report into "
                                           f"{paths.file}: {paths.file} is a file, not a folder")


@pytest.mark.parametrize("locale", ["C.UTF-8", "C"])
def test_route_stdin_not_utf8_is_one_line_naming_the_line(locale: str) -> None:
    out = ivr(["route", "--flow", MINI, "--lang", "en", "--json"], locale=locale)
    text = check_process(out, locale)
    assert out.returncode == 2
    assert out.stderr.decode().strip() == ("ivr: error: stdin: line 2 is not UTF-8 (byte 0xff "
                                           "at byte 9 of the line)")
    assert [line.count('"text"') for line in text.splitlines()] == [1]  # line 1 was routed


@pytest.mark.parametrize("locale", ["C.UTF-8", "C"])
def test_chat_stdin_not_utf8_hangs_up_and_is_one_line(locale: str, paths: Paths) -> None:
    out = ivr(["chat", "--flow", MINI, "--lang", "en", "--queue", paths.queue], locale=locale)
    text = check_process(out, locale)
    assert out.returncode == 2 and "line 2 is not UTF-8" in out.stderr.decode()
    assert "-- " in text.splitlines()[-1]  # the call was hung up properly, not abandoned


def test_route_argument_not_utf8() -> None:
    out = subprocess.run([sys.executable, "-m", "ivr.cli", "route", "--flow", MINI, "--lang",
                          "en", "--json", os.fsencode("caf\udce9")], capture_output=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    check_process(out, "argv")
    assert out.returncode == 2 and out.stdout == b""
    assert out.stderr.decode().strip() == "ivr: error: argument 1 is not UTF-8 (character 4)"


def test_a_closed_pipe_is_quiet() -> None:
    reader = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.readline()"],
                              stdin=subprocess.PIPE)
    assert reader.stdin is not None
    lines = b"I lost my card\n" * 20000
    out = subprocess.run([sys.executable, "-m", "ivr.cli", "route", "--flow", MINI, "--lang",
                          "en"], input=lines, stdout=reader.stdin, stderr=subprocess.PIPE,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60,
                         check=False)
    reader.stdin.close()
    reader.wait()
    assert out.returncode == 0 and out.stderr == b""


def _default_ctrl_c() -> None:
    """In the child: Ctrl-C as at a terminal. A shell that starts a job in the background
    without job control (`(make test &)`) makes it ignore SIGINT, the child inherits that,
    and Python then never raises KeyboardInterrupt: this test hung 30 s twice that way."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_exits_130_quietly_and_hangs_up(paths: Paths) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "ivr.cli", "chat", "--flow", MINI, "--lang",
                             "en", "--queue", paths.queue], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            preexec_fn=_default_ctrl_c)
    assert proc.stdout is not None
    proc.stdout.readline()  # the help line
    assert proc.stdout.readline().startswith(b"ivr> ")  # greeted: now waiting on the caller
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)  # stdin stays open: the caller pressed Ctrl-C, input did not end
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err == b"", err
    assert out.splitlines()[-1].startswith(b"-- hangup at root")  # the call ended properly


def test_chat_unknown_commands_are_answered_not_spoken() -> None:
    out = io.StringIO()
    from ivr.flow import load_flow

    flow = load_flow(MINI)
    assert chat(flow, "en", None, lines=["/balance", "/dtmf 0"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert ("(unknown command /balance; known: /help /dtmf /silence /hangup /trace)"
            in lines)
    assert "Sorry" not in out.getvalue()  # not heard as speech: no reprompt, no miss counted
    assert lines[-1].startswith("-- handoff to general (caller_asked)")  # the caller kept on
