"""Desk sessions that survive a desk restart: kept in the agents file, beside the agents.

The desk's cookie-signing key is made once (32 random bytes) and kept in the file, so cookies
signed before a restart still verify after it; each live session is a row keyed by the SHA-256
of its token (the token itself, which the cookie carries, is never stored), with its CSRF
token, expiry and label language. Revocation is server-side: logging out deletes the row, and
a session whose agent was removed from the file is not found. The agent a session belongs to is
read from the agents table each time a session is loaded, so a changed role or skill applies
at once. Expired rows are deleted when a session is saved.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import UsageError
from .agents import Agent, AgentStore

__all__ = ["SessionStore", "StoredSession"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS desk_key (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " key BLOB NOT NULL)",
    """CREATE TABLE IF NOT EXISTS desk_sessions (
        token_hash TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        csrf TEXT NOT NULL,
        expires REAL NOT NULL,
        lang TEXT NOT NULL
    )""",
)

StoredSession = tuple[Agent, str, float, str]
"""(agent, CSRF token, expiry, label language) of a stored session."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class SessionStore:
    """Sessions and the signing key in an agents file (see the module doc).

    Raises:
        UsageError: The file cannot be opened or written.
    """

    def __init__(self, agents: AgentStore) -> None:
        self._agents = agents
        self._where = f"agents file {agents.path}"
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(str(agents.path), check_same_thread=False,
                                         isolation_level=None, timeout=10.0)
            for statement in _SCHEMA:
                self._conn.execute(statement)
        except sqlite3.Error as exc:
            raise UsageError(f"{self._where}: cannot keep sessions ({exc})") from exc

    def key(self) -> bytes:
        """The desk's signing key: made on first use, the same after every restart."""
        with self._db() as conn:
            conn.execute("INSERT OR IGNORE INTO desk_key (id, key) VALUES (1, ?)",
                         (secrets.token_bytes(32),))
            return bytes(conn.execute("SELECT key FROM desk_key WHERE id = 1").fetchone()[0])

    def save(self, token: str, agent: str, csrf: str, expires: float, lang: str,
             now: float) -> None:
        """Keep (or replace) a session; drop expired ones."""
        with self._db() as conn:
            conn.execute("DELETE FROM desk_sessions WHERE expires <= ?", (now,))
            conn.execute("INSERT OR REPLACE INTO desk_sessions VALUES (?, ?, ?, ?, ?)",
                         (_hash(token), agent, csrf, expires, lang))

    def load(self, token: str, now: float) -> StoredSession | None:
        """The live session of `token` with its agent as the file has them now, or None."""
        with self._db() as conn:
            row = conn.execute("SELECT agent, csrf, expires, lang FROM desk_sessions WHERE"
                               " token_hash = ? AND expires > ?", (_hash(token), now)).fetchone()
        if row is None:
            return None
        agent = self._agents.get(str(row[0]))
        return None if agent is None else (agent, str(row[1]), float(row[2]), str(row[3]))

    def set_lang(self, token: str, lang: str) -> None:
        """Change a session's label language."""
        with self._db() as conn:
            conn.execute("UPDATE desk_sessions SET lang = ? WHERE token_hash = ?",
                         (lang, _hash(token)))

    def delete(self, token: str) -> None:
        """Forget a session (logout): its cookie is worthless from now on, after restarts too."""
        with self._db() as conn:
            conn.execute("DELETE FROM desk_sessions WHERE token_hash = ?", (_hash(token),))

    def online(self, now: float) -> list[Agent]:
        """Agents with a live session, by name, each once."""
        with self._db() as conn:
            rows = conn.execute("SELECT DISTINCT agent FROM desk_sessions WHERE expires > ?"
                                " ORDER BY agent", (now,)).fetchall()
        found = [self._agents.get(str(r[0])) for r in rows]
        return [a for a in found if a is not None]

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise UsageError(f"{self._where}: {exc}") from exc
