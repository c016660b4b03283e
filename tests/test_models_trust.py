"""Model trust: catalogue pins, trust on first use, and the README's commands, end to end.

Real HTTP on 127.0.0.1, real zips, real sha256 (helpers from test_models). Where a test needs
a catalogued name to download, it serves a dummy model zip under that name from a mirror
(`$IVR_MODEL_MIRROR`); where the shipped catalogue pins a real digest, such a zip must be
refused, so the tests that must succeed use a bank catalogue (`$IVR_CATALOG`) with the same
names, the same pinned/unpinned status, and the dummy zips' digests.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import shlex
import shutil
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from ivr.cli import main
from ivr.errors import ModelError
from ivr.models import (
    Catalog,
    download,
    is_model_dir,
    load_catalog,
    load_trust,
    pin_digest,
    resolve_model,
)
from tests.test_models import MODEL_FILES, NAME, Server, catalog, entry, leftovers, make_zip

REPO = Path(__file__).resolve().parents[1]


@functools.cache  # one zip per name: zip entries carry the time they were written
def zip_for(name: str, extra: bytes = b"") -> bytes:
    """A dummy model zip unpacking to `name/`; `extra` changes its bytes (and digest)."""
    return make_zip({**MODEL_FILES, "README": b"model " + name.encode() + extra}, top=name)


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    for e in load_catalog():
        srv.routes[f"/mirror/{e.name}.zip"] = zip_for(e.name)
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    thread.join(5)


@pytest.fixture
def env(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh models directory, the mirror on 127.0.0.1, and the working directory tmp_path."""
    for var in ("IVR_MODEL", "IVR_CATALOG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("IVR_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("IVR_MODEL_MIRROR", f"{server.base}/mirror")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "models"


def bank_catalogue(path: Path) -> Path:
    """The shipped catalogue with each pin replaced by the digest of the served dummy zip."""
    entries = [asdict(e) | {"sha256": sha(zip_for(e.name)) if e.sha256 else None}
               for e in load_catalog()]
    path.write_text(yaml.safe_dump({"models": entries}, sort_keys=False), encoding="utf-8")
    return path


def error_line(err: str) -> str:
    """The one error line of a failed command, after its progress lines (and nothing else)."""
    *progress, last = err.splitlines()
    assert all("%" in line and "MB/s" in line for line in progress), err
    assert last.startswith("ivr: error: ")
    return last


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- trust on first use ------------------------------------------------------------------------


def test_first_download_records_and_prints_the_digest(server: Server, tmp_path: Path) -> None:
    server.routes["/tofu.zip"] = body = zip_for(NAME)
    out = io.StringIO()
    got = download(NAME, dest=tmp_path, url=f"{server.base}/tofu.zip", progress=out,
                   catalog=catalog(entry(sha256=None)))
    assert is_model_dir(got)
    text = out.getvalue()
    assert (f"first download of {NAME}: sha256 {sha(body)} recorded in {tmp_path}/trusted.json. "
            "Trusted on first use: ivr/data/catalog.yaml pins no digest for it, so nothing was "
            "compared.") in text
    assert f"`ivr models pin {NAME} --catalog FILE`" in text
    record = load_trust(tmp_path)[NAME]
    assert (record.sha256, record.how, record.url) == (sha(body), "first-use",
                                                       f"{server.base}/tofu.zip")
    on_disk = json.loads((tmp_path / "trusted.json").read_text("utf-8"))
    assert on_disk["models"][NAME]["sha256"] == sha(body)


def test_same_file_again_matches_the_record(server: Server, tmp_path: Path) -> None:
    server.routes["/tofu.zip"] = body = zip_for(NAME)
    unpinned = catalog(entry(sha256=None))
    download(NAME, dest=tmp_path, url=f"{server.base}/tofu.zip", progress=None, catalog=unpinned)
    shutil.rmtree(tmp_path / NAME)
    out = io.StringIO()
    download(NAME, dest=tmp_path, url=f"{server.base}/tofu.zip", progress=out, catalog=unpinned)
    assert (f"{NAME}: sha256 {sha(body)} matches the digest recorded in {tmp_path}/trusted.json "
            "at its first download on ") in out.getvalue()


def test_changed_file_after_first_use_is_refused_and_nothing_installed(
    server: Server, tmp_path: Path
) -> None:
    server.routes["/first.zip"] = first = zip_for(NAME)
    server.routes["/changed.zip"] = changed = zip_for(NAME, extra=b" tampered")
    unpinned = catalog(entry(sha256=None))
    download(NAME, dest=tmp_path, url=f"{server.base}/first.zip", progress=None, catalog=unpinned)
    shutil.rmtree(tmp_path / NAME)
    with pytest.raises(ModelError) as err:
        download(NAME, dest=tmp_path, url=f"{server.base}/changed.zip", progress=None,
                 catalog=unpinned)
    message = str(err.value)
    assert "\n" not in message
    assert f"is not the file first downloaded here: expected sha256 {sha(first)}" in message
    assert f"got {sha(changed)}; the file was discarded" in message
    assert leftovers(tmp_path) == ["trusted.json"]  # no model, no .part, no unpack dir
    assert load_trust(tmp_path)[NAME].sha256 == sha(first)  # the record is not overwritten


def test_changed_file_via_the_cli_is_one_line_exit_2(
    env: Path, server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "vosk-model-cn-0.22"  # unpinned in the shipped catalogue: trusted on first use
    assert run(capsys, "models", "download", name)[0] == 0
    shutil.rmtree(env / name)
    server.routes[f"/mirror/{name}.zip"] = zip_for(name, extra=b" swapped upstream")
    try:
        code, out, err = run(capsys, "models", "download", name)
    finally:
        server.routes[f"/mirror/{name}.zip"] = zip_for(name)
    assert code == 2 and out == ""
    assert "is not the file first downloaded here" in error_line(err)
    assert leftovers(env) == ["trusted.json"]


def test_require_pinned_refuses_first_use(server: Server, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no sha256 pinned in ivr/data/catalog\.yaml and "
                                         r"--require-pinned"):
        download(NAME, dest=tmp_path, url=f"{server.base}/never.zip", progress=None,
                 catalog=catalog(entry(sha256=None)), require_pinned=True)
    assert leftovers(tmp_path) == []


def test_corrupt_trust_file_is_an_error_not_a_first_use(server: Server, tmp_path: Path) -> None:
    (tmp_path / "trusted.json").write_text("{not json", "utf-8")
    with pytest.raises(ModelError, match="cannot read trust file"):
        download(NAME, dest=tmp_path, url=f"{server.base}/never.zip", progress=None,
                 catalog=catalog(entry(sha256=None)))


# --- pins ---------------------------------------------------------------------------------------


def test_shipped_pin_refuses_a_file_that_is_not_the_published_one(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The mirror serves a dummy zip under a pinned name: the real published digest refuses it."""
    pinned = Catalog.load().get("vosk-model-small-en-us-0.15")
    assert pinned.sha256 == "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498"
    code, out, err = run(capsys, "models", "download", pinned.name)
    assert code == 2 and out == ""
    line = error_line(err)
    assert f"expected sha256 {pinned.sha256} (pinned in ivr/data/catalog.yaml)" in line
    assert "the file was discarded" in line
    assert leftovers(env) == []


def test_pin_writes_only_the_digest_and_is_then_enforced(
    env: Path, server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "vosk-model-cn-0.22"
    bank = tmp_path / "bank.yaml"
    assert run(capsys, "models", "download", name)[0] == 0
    code, out, _ = run(capsys, "models", "pin", name, "--catalog", str(bank))
    assert code == 0 and f"sha256 {sha(zip_for(name))} pinned in {bank}" in out
    shipped = (REPO / "ivr" / "data" / "catalog.yaml").read_text("utf-8")
    diff = [(a, b) for a, b in zip(shipped.splitlines(), bank.read_text("utf-8").splitlines(),
                                   strict=True) if a != b]
    assert diff == [("    sha256: null", f"    sha256: {sha(zip_for(name))}")]
    assert Catalog.load(bank).get(name).sha256 == sha(zip_for(name))
    with pytest.raises(ModelError, match="already pinned"):
        pin_digest(bank, name, "0" * 64)
    # Another machine (a fresh models directory) with the bank's catalogue: checked by the pin.
    shutil.rmtree(env)
    server.routes[f"/mirror/{name}.zip"] = zip_for(name, extra=b" other")
    try:
        code, _, err = run(capsys, "models", "download", name, "--catalog", str(bank))
    finally:
        server.routes[f"/mirror/{name}.zip"] = zip_for(name)
    assert code == 2 and f"(pinned in {bank})" in error_line(err)
    code, _, err = run(capsys, "models", "download", name, "--catalog", str(bank))
    assert code == 0 and f"matches the digest pinned in {bank}: verified" in err


def test_trust_list_export_forget(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = "vosk-model-en-us-aspire-0.2"
    assert run(capsys, "models", "trust", "list")[1].startswith("no digests recorded in ")
    assert run(capsys, "models", "download", name)[0] == 0
    code, out, _ = run(capsys, "models", "trust", "list")
    assert out.startswith(f"{name} sha256 {sha(zip_for(name))} (first-use, ")
    exported = json.loads(run(capsys, "models", "trust", "export")[1])
    assert exported == json.loads((env / "trusted.json").read_text("utf-8"))
    assert run(capsys, "models", "trust", "forget", name)[0] == 0
    assert load_trust(env) == {}
    code, _, err = run(capsys, "models", "trust", "forget", name)
    assert code == 2 and "no digest of" in error_line(err)


# --- the documented commands ----------------------------------------------------------------------


def readme_model_commands() -> list[str]:
    text = (REPO / "README.md").read_text("utf-8")
    section = text[text.index("## Speech models"):text.index("## How a call flows")]
    return [re.sub(r"\s+#.*$", "", line.strip()) for line in section.splitlines()
            if re.match(r"    (\w+=\S+ )*ivr models ", line)]


def test_readme_speech_model_commands_work_as_written(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    commands = readme_model_commands()
    assert "ivr models download vosk-model-small-en-us-0.15" in commands
    assert len(commands) >= 6
    monkeypatch.setenv("IVR_CATALOG", str(bank_catalogue(tmp_path / "served-pins.yaml")))
    for command in commands:
        words = shlex.split(command)
        with monkeypatch.context() as scoped:
            while "=" in words[0]:
                var, value = words.pop(0).split("=", 1)
                scoped.setenv(var, value)
            code, _, err = run(capsys, *words[1:])
        assert code == 0, f"{command}: {err}"
    assert is_model_dir(env / "vosk-model-small-en-us-0.15")
    assert is_model_dir(env / "vosk-model-small-cn-0.22")


@pytest.mark.parametrize("pinned", [True, False])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_missing_model_message_recommends_a_command_that_succeeds(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], lang: str, pinned: bool
) -> None:
    bank = bank_catalogue(tmp_path / "bank.yaml")
    if not pinned:  # the same catalogue with every pin removed: the first-use path
        bank.write_text(re.sub(r"sha256: [0-9a-f]{64}", "sha256: null", bank.read_text("utf-8")))
    monkeypatch.setenv("IVR_CATALOG", str(bank))
    with pytest.raises(ModelError) as err:
        resolve_model(lang)
    found = re.search(r"run `(ivr models download \S+)` \(its sha256 is (\w+)", str(err.value))
    assert found is not None, str(err.value)
    assert found.group(2) == ("pinned" if pinned else "recorded")
    code, out, stderr = run(capsys, *shlex.split(found.group(1))[1:])
    assert code == 0, stderr
    assert resolve_model(lang) == Path(out.strip())
