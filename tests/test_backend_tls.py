"""TLS to the bank: certificates verified by default; a private CA trusted only when given.

The sample bank serves HTTPS with a leaf certificate for 127.0.0.1 signed by a throwaway CA
made here with the openssl command line (skipped where it is not installed).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.backend import Backend, BackendConfig, BackendError
from ivr.errors import UsageError
from samples.bank.seed import PERSONAS

from .bank_server import TOKEN_ENV, BankServer

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")


def _openssl(folder: Path, *args: str) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *args], cwd=folder, check=True, capture_output=True)


def _ca(folder: Path, name: str) -> None:
    _openssl(folder, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.pem",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")


@pytest.fixture(scope="module")
def tls_bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BankServer]:
    folder = tmp_path_factory.mktemp("bank-tls")
    _ca(folder, "ca")
    _ca(folder, "other-ca")
    (folder / "leaf.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    _openssl(folder, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "leaf.key", "-out", "leaf.csr")
    _openssl(folder, "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-out", "leaf.pem", "-extfile", "leaf.ext")
    server = BankServer(folder, customers=5, tls=(folder / "leaf.pem", folder / "leaf.key"))
    yield server.start()
    server.stop()


@pytest.fixture(autouse=True)
def _token(tls_bank: BankServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, tls_bank.token)


def _client(server: BankServer, ca_file: Path | None) -> Backend:
    return Backend(BackendConfig(server.url, token_env=TOKEN_ENV, timeout_s=5.0,
                                 ca_file=None if ca_file is None else str(ca_file)))


def test_serves_https(tls_bank: BankServer) -> None:
    assert tls_bank.url.startswith("https://127.0.0.1:")


def test_certificate_not_signed_by_a_trusted_ca_is_refused(tls_bank: BankServer) -> None:
    since = tls_bank.last_seq()
    for ca in (None, tls_bank.folder / "other-ca.pem"):
        with pytest.raises(BackendError) as e:
            _client(tls_bank, ca).call("balance", {"customer_id": PERSONAS[0].id})
        assert e.value.reason == "refused" and "TLS" in e.value.detail
        assert "after 1 attempt" in e.value.detail  # a certificate does not heal: no retry
    assert tls_bank.requests(since) == []


def test_the_banks_ca_file_is_trusted(tls_bank: BankServer) -> None:
    reply = _client(tls_bank, tls_bank.folder / "ca.pem").call(
        "balance", {"customer_id": PERSONAS[0].id})
    assert reply["currency"] == "KRW"


def test_plain_http_to_a_tls_port_is_not_an_answer(tls_bank: BankServer) -> None:
    plain = tls_bank.url.replace("https://", "http://")
    client = Backend(BackendConfig(plain, token_env=TOKEN_ENV, timeout_s=2.0, retries=0))
    with pytest.raises(BackendError) as e:
        client.call("balance", {"customer_id": PERSONAS[0].id})
    assert e.value.reason in ("bad_reply", "timeout")


def test_missing_ca_file_is_a_usage_error(tls_bank: BankServer) -> None:
    with pytest.raises(UsageError, match="not found"):
        _client(tls_bank, tls_bank.folder / "nope.pem")
