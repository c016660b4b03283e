"""The sample bank back-end (samples/bank) as a real process for tests, on free loopback ports.

`BankServer(folder).start()` seeds a database (the demo personas first, then made-up customers
from a fixed seed, PINs hashed with a small scrypt cost so seeding is quick), runs
``python -m samples.bank`` on 127.0.0.1 port 0 (the service prints the ports it got), and waits
for its line; `mode()` flips its switches through the admin port, `requests()` reads its
request log, `stop()` ends it. Pass `tls=(cert, key)` for HTTPS.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samples.bank.seed import seed_db
from samples.bank.store import Store

ROOT = Path(__file__).resolve().parent.parent
TOKEN_ENV = "IVR_TEST_BANK_TOKEN"
"""The variable both the service and the engine's client read the token from in tests."""
_LINE_RE = re.compile(r"bank listening on (https?://[\d.]+:(\d+)) admin http://[\d.]+:(\d+)")


@dataclass
class BankServer:
    """One sample-bank process (started and stopped by the test or fixture that owns it)."""

    folder: Path
    customers: int = 40
    token: str = "test-token-not-secret"
    tls: tuple[Path, Path] | None = None
    process: subprocess.Popen[str] | None = None
    url: str = ""
    admin_port: int = 0
    env: dict[str, str] = field(default_factory=dict)

    @property
    def db(self) -> Path:
        return self.folder / "bank.sqlite3"

    def start(self, *, seed: bool = True) -> BankServer:
        """Seed (unless told not to) and start; raise RuntimeError if it does not come up."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if seed:
            store = Store(self.db)
            seed_db(store, self.customers, seed=0, pin_cost=1 << 8)
            store.close()
        self.env = {**os.environ, TOKEN_ENV: self.token, "PYTHONPATH": str(ROOT)}
        tls = ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])] if self.tls else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "samples.bank", "--listen", "127.0.0.1:0", "--admin",
             "127.0.0.1:0", "--db", str(self.db), "--token-env", TOKEN_ENV, *tls],
            cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = _LINE_RE.search(line)
        if found is None:
            self.stop()
            raise RuntimeError(f"the sample bank did not start: {line!r}")
        self.url, self.admin_port = found[1], int(found[3])
        return self

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def admin(self, method: str, path: str, body: object = None) -> Any:
        """A request to the admin port; the decoded reply."""
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data, headers={
                "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
            reply = conn.getresponse()
            value = json.loads(reply.read())
            if reply.status != 200:
                raise RuntimeError(f"admin {path}: {reply.status} {value}")
            return value
        finally:
            conn.close()

    def mode(self, mode: str, **options: float) -> None:
        """Switch the service: ok, slow (delay_s), fail, down (for_s), huge, garbage, array."""
        self.admin("POST", "/admin/mode", {"mode": mode, **options})

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        """The request log after sequence number `since`."""
        entries: list[dict[str, Any]] = self.admin(
            "GET", f"/admin/requests?since={since}&limit=10000")["requests"]
        return entries

    def last_seq(self) -> int:
        entries = self.requests()
        return entries[-1]["seq"] if entries else 0

    def stop(self) -> None:
        """End the process (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()
        self.process = None
