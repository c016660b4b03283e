"""The sample bank service itself: idempotency keys, its request log (never a PIN), the admin
port, and its command line (bad input: one line on stderr, exit 2)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from samples.bank.seed import PERSONAS, customers

from .bank_server import ROOT, BankServer

KO, ZH, EN = PERSONAS


def _post(server: BankServer, path: str, value: object, key: str | None = None,
          port: int | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port or server.port, timeout=10)
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    try:
        conn.request("POST", path, body=json.dumps(value).encode(), headers=headers)
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


def test_a_repeated_key_replays_the_first_answer(bank_api: BankServer) -> None:
    who = list(customers(40))[25]
    since = bank_api.last_seq()
    body = {"customer_id": who.id, "card_tail": who.cards[0]}
    first = _post(bank_api, "/v1/freeze_card", body, key="key-freeze-0001")
    again = _post(bank_api, "/v1/freeze_card", body, key="key-freeze-0001")
    assert first == again and first[1]["already_frozen"] is False
    assert [r["replayed"] for r in bank_api.requests(since)] == [False, True]
    fresh = _post(bank_api, "/v1/freeze_card", body, key="key-freeze-0002")
    assert fresh[1]["already_frozen"] is True


def test_a_key_reused_for_another_request_is_refused(bank_api: BankServer) -> None:
    _post(bank_api, "/v1/verify", {"caller_number": "+" + EN.caller_number, "pin": EN.pin},
          key="key-verify-0001")
    status, value = _post(bank_api, "/v1/verify", {"caller_number": "+" + EN.caller_number,
                                                   "pin": "0000"}, key="key-verify-0001")
    assert (status, value) == (422, {"error": "idempotency_key_reused"})
    assert _post(bank_api, "/v1/balance", {"customer_id": EN.id}, key="bad key!")[0] == 400


def test_no_pin_in_the_request_log_except_the_verify_request_as_a_hash(
        bank_api: BankServer) -> None:
    pin = "90817263"
    since = bank_api.last_seq()
    who = list(customers(40))[28]  # a wrong PIN counts against it: not a demo persona
    _post(bank_api, "/v1/verify", {"caller_number": "+" + who.caller_number, "pin": pin})
    _post(bank_api, "/v1/balance", {"customer_id": KO.id, "pin": pin})  # a misrouted PIN
    _post(bank_api, "/v1/open_dispute", {"customer_id": KO.id, "transaction": "x",
                                         "extra": {"card_pin": pin, "cvv": pin}})
    _post(bank_api, "/v1/verify", [pin])  # not an object: kept as its size only
    entries = bank_api.requests(since)
    assert len(entries) == 4
    assert pin not in json.dumps(entries)
    assert entries[0]["body"]["pin"].startswith("hmac$")
    assert entries[1]["body"]["pin"] == "****" and entries[1]["status"] == 400
    assert entries[2]["body"]["extra"] == {"card_pin": "****", "cvv": "****"}
    assert entries[3]["body"] is None and entries[3]["size"] > 0
    assert not any(pin in value for value in _database_text(bank_api.db))  # nor at rest


def _database_text(path: Path) -> list[str]:
    """Every value in every table of a SQLite file (the live service's, opened read-only)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return [str(v) for t in tables for row in db.execute(f"SELECT * FROM {t}") for v in row]
    finally:
        db.close()


def test_reset_makes_the_bank_new(tmp_path: Path) -> None:
    server = BankServer(tmp_path, customers=5).start()
    try:
        body = {"customer_id": KO.id}
        assert _post(server, "/v1/freeze_card", body)[1]["already_frozen"] is False
        assert _post(server, "/v1/freeze_card", body)[1]["already_frozen"] is True
        server.reset()
        assert server.requests() == []
        assert _post(server, "/v1/freeze_card", body)[1]["already_frozen"] is False
    finally:
        server.stop()


def test_admin_port_serves_only_admin(bank_api: BankServer) -> None:
    status, _ = _post(bank_api, "/v1/balance", {"customer_id": ZH.id}, port=bank_api.admin_port)
    assert status == 404
    assert _post(bank_api, "/admin/mode", {"mode": "sideways"},
                 port=bank_api.admin_port) == (400, {"error": "bad_mode"})
    assert _post(bank_api, "/admin/mode", {"mode": "slow", "delay_s": 1e9},
                 port=bank_api.admin_port) == (400, {"error": "bad_delay_s"})
    conn = http.client.HTTPConnection("127.0.0.1", bank_api.admin_port, timeout=10)
    conn.request("GET", "/admin/requests")
    assert conn.getresponse().status == 401  # no token
    conn.close()


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "samples.bank", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


@pytest.mark.parametrize("args", [
    ["--db", "nowhere.sqlite3"],
    ["--db", "x", "--listen", "nohost"],
    ["--db", "x", "--listen", "127.0.0.1:99999"],
    ["--bogus"],
    ["seed", "--db", "x", "--customers", "0"],
    ["seed", "--db", "x", "--pin-cost", "1000"],
    ["seed"],
])
def test_bad_command_lines_are_one_line_and_exit_2(args: list[str]) -> None:
    done = _run(*args, env={"BANK_TOKEN": "t"})
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_serving_needs_the_token(bank_service: BankServer) -> None:
    env = {k: "" for k in ("BANK_TOKEN",)}
    done = _run("--db", str(bank_service.db), "--listen", "127.0.0.1:0", env=env)
    assert done.returncode == 2 and "set $BANK_TOKEN" in done.stderr


def test_a_port_in_use_is_one_line(bank_service: BankServer) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = _run("--db", str(bank_service.db), "--listen", f"127.0.0.1:{port}",
                    env={"BANK_TOKEN": "t"})
    assert done.returncode == 2 and "cannot listen" in done.stderr
    assert "Traceback" not in done.stderr


def test_seed_and_sigterm(tmp_path: Path) -> None:
    for _ in range(2):  # seeding a seeded bank starts it afresh
        done = _run("seed", "--db", str(tmp_path / "bank.sqlite3"), "--customers", "5",
                    "--pin-cost", "256")
        assert done.returncode == 0 and "5 customers" in done.stdout
    server = BankServer(tmp_path).start(seed=False)
    assert server.process is not None
    server.process.terminate()
    assert server.process.wait(timeout=10) == 0
    server.stop()

