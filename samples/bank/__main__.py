"""``python -m samples.bank [serve options]`` or ``python -m samples.bank seed --db PATH``.

Serve: ``--listen HOST:PORT`` (the API), ``--admin HOST:PORT`` (the switches; default the next
port, 0 for any), ``--db PATH``, ``--token-env NAME`` (default BANK_TOKEN: the bearer token is
read from that variable), ``--tls-cert/--tls-key`` for HTTPS. It prints one line,
``bank listening on URL admin URL``, and runs until SIGTERM or Ctrl-C. Bad input: one line on
stderr, exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sqlite3
import ssl
import sys
import threading
from pathlib import Path

from .pins import DEFAULT_COST
from .seed import seed_db
from .service import BankService
from .store import Store


class _Exit(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Exit(f"{self.prog}: {message}")


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _seed(argv: list[str]) -> int:
    p = _Parser(prog="python -m samples.bank seed", description="Fill a sample bank database.")
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--customers", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pin-cost", type=int, default=DEFAULT_COST,
                   help="scrypt N for stored PINs (a power of two; default %(default)s)")
    a = p.parse_args(argv)
    if not 3 <= a.customers <= 100_000:
        raise _Exit("--customers must be 3..100000")
    if a.pin_cost < 2 or a.pin_cost & (a.pin_cost - 1) or a.pin_cost > 1 << 20:
        raise _Exit("--pin-cost must be a power of two up to 1048576")
    store = _store(a.db)
    n = seed_db(store, a.customers, a.seed, pin_cost=a.pin_cost)
    store.close()
    print(f"seeded {a.db} with {n} customers")
    return 0


def _store(path: Path) -> Store:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return Store(path)
    except (OSError, sqlite3.Error) as e:
        raise _Exit(f"cannot open {path}: {e}") from None


def _serve(argv: list[str]) -> int:
    p = _Parser(prog="python -m samples.bank", description="Serve the sample bank over HTTP.")
    p.add_argument("--listen", type=_address, default=("127.0.0.1", 8765))
    p.add_argument("--admin", type=_address, default=None)
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--token-env", default="BANK_TOKEN")
    p.add_argument("--tls-cert", type=Path)
    p.add_argument("--tls-key", type=Path)
    a = p.parse_args(argv)
    token = os.environ.get(a.token_env, "")
    if not token:
        raise _Exit(f"set ${a.token_env} to the bearer token clients must send")
    if not a.db.is_file():
        raise _Exit(f"{a.db}: no database (python -m samples.bank seed --db {a.db})")
    tls = None
    if a.tls_cert or a.tls_key:
        try:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(a.tls_cert, a.tls_key)
        except (OSError, ssl.SSLError, TypeError) as e:
            raise _Exit(f"TLS certificate/key: {e}") from None
    admin = a.admin or (a.listen[0], a.listen[1] + 1 if a.listen[1] else 0)
    service = BankService(_store(a.db), token, tls=tls)
    try:
        service.start(a.listen, admin)
    except OSError as e:
        service.stop()
        raise _Exit(f"cannot listen on {a.listen[0]}:{a.listen[1]} / {admin[0]}:{admin[1]}: "
                    f"{e.strerror or e}") from None
    scheme = "https" if tls else "http"
    (host, port), (ahost, aport) = service.main_address, service.admin_address
    print(f"bank listening on {scheme}://{host}:{port} admin http://{ahost}:{aport}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    service.stop()
    service.store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return _seed(argv[1:]) if argv[:1] == ["seed"] else _serve(argv)
    except _Exit as e:
        print(e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
