"""A real redis-server for tests: on 127.0.0.1, a free port, a private working folder.

`RedisServer.start(folder)` runs the Debian package's `redis-server` with no snapshots (or with
an append-only file, fsync always, when `aof=True`) and waits until it answers PING; `stop()`
ends it, `kill()` sends SIGKILL (a crash), and `start()` again restarts it on the same port and
folder. Tests skip when `redis-server` is not installed (CI installs it).
"""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server")
"""The server binary, or None when the package is not installed."""

_prefixes = itertools.count()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (right now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """One redis-server process (started and stopped by the test that owns it)."""

    folder: Path
    """Its working folder (logs; the append-only file when `aof`)."""
    aof: bool = False
    """Keep an append-only file, fsynced on every write (for crash tests)."""
    port: int = field(default_factory=free_port)
    """The loopback port it listens on."""
    process: subprocess.Popen[bytes] | None = None

    def start(self, wait: float = 10.0) -> RedisServer:
        """Start the server and wait until it answers PING (raise RuntimeError if it does not)."""
        assert REDIS_SERVER is not None, "redis-server is not installed"
        persist = (["--appendonly", "yes", "--appendfsync", "always"] if self.aof
                   else ["--appendonly", "no"])
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             *persist, "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log"),
             "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + wait
        while not _answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = (self.folder / "redis.log").read_text(errors="replace")[-400:]
                raise RuntimeError(f"redis-server on port {self.port} did not start: {log}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """End the server (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Crash the server: SIGKILL, no shutdown."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def url(self, db: int = 0, prefix: str | None = None) -> str:
        """The queue URL for database `db`; a fresh key prefix per call unless one is given."""
        prefix = prefix if prefix is not None else f"t{next(_prefixes)}"
        return f"redis://127.0.0.1:{self.port}/{db}?prefix={prefix}"
