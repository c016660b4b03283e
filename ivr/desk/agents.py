"""The desk's agents: names, roles, skills and argon2 password hashes in a small SQLite file.

Passwords are never stored: only an argon2id hash (argon2-cffi's defaults, a salt per hash).
Checking an unknown name costs the same as checking a known one (a dummy hash is verified), so
the time a login takes does not tell who exists.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..errors import UsageError
from ..types import LANGS

__all__ = ["MIN_PASSWORD", "ROLES", "Agent", "AgentStore", "Role", "parse_skills"]

Role = Literal["agent", "supervisor"]
ROLES: tuple[Role, ...] = ("agent", "supervisor")
"""An agent takes callers; a supervisor also watches the whole floor."""

MIN_PASSWORD = 8
"""Shortest password `add` accepts."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
"""Agent names and skills: plain ASCII labels (they go into the queue's audit trail)."""

_SCHEMA = """CREATE TABLE IF NOT EXISTS agents (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('agent', 'supervisor')),
    skills TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at REAL NOT NULL
)"""


@dataclass(frozen=True)
class Agent:
    """Someone who may log in to the desk."""

    name: str
    """Login name; the `agent` the queue records."""
    role: Role
    """"agent" or "supervisor"."""
    skills: frozenset[str]
    """What they can handle: skills the flow's queues name (fraud, ...) and languages."""

    @property
    def langs(self) -> tuple[str, ...]:
        """The caller languages they speak (their language skills), in LANGS order."""
        return tuple(lang for lang in LANGS if lang in self.skills)

    def __str__(self) -> str:
        return f"{self.name} ({self.role}; {', '.join(sorted(self.skills)) or 'no skills'})"


def check_name(name: str, what: str = "agent name") -> str:
    """`name` if it is a plain label (letters, digits, `_ . -`; at most 32), else UsageError."""
    if not _NAME.fullmatch(name):
        raise UsageError(f"{what} must be 1-32 letters, digits, '_', '.' or '-' "
                         f"(starting with a letter or digit), got {name!r}")
    return name


def parse_skills(text: str) -> frozenset[str]:
    """"fraud,zh,ko" -> {"fraud", "zh", "ko"} (empty items ignored); UsageError if not plain."""
    return frozenset(check_name(s.strip(), "a skill") for s in text.split(",") if s.strip())


class AgentStore:
    """Agents in a SQLite file (created if missing; its folder must exist).

    Raises:
        UsageError: The folder is missing, or the file is not an agent store.
    """

    def __init__(self, path: str | Path, *, hasher: PasswordHasher | None = None) -> None:
        self.path = Path(path)
        self._hasher = hasher or PasswordHasher()
        self._lock = threading.Lock()
        if not self.path.parent.is_dir():
            raise UsageError(f"agents file {self.path}: folder {self.path.parent} does not exist")
        if self.path.is_dir():
            raise UsageError(f"agents file {self.path}: it is a folder, not a file")
        try:
            self._conn = sqlite3.connect(str(self.path), check_same_thread=False,
                                         isolation_level=None)
            self._conn.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise UsageError(f"agents file {self.path}: not an agents store ({exc})") from exc
        self._dummy = self._hasher.hash("not a password of anyone")

    def add(self, name: str, role: str, skills: frozenset[str], password: str) -> Agent:
        """Add an agent; UsageError if the name is taken or a value is not acceptable."""
        check_name(name)
        if role not in ROLES:
            raise UsageError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if len(password) < MIN_PASSWORD:
            raise UsageError(f"the password must be at least {MIN_PASSWORD} characters")
        for skill in skills:
            check_name(skill, "a skill")
        digest = self._hasher.hash(password)
        with self._db() as conn:
            try:
                conn.execute("INSERT INTO agents VALUES (?, ?, ?, ?, ?)",
                             (name, role, ",".join(sorted(skills)), digest, time.time()))
            except sqlite3.IntegrityError:
                raise UsageError(f"agent {name!r} already exists in {self.path}") from None
        return Agent(name, "supervisor" if role == "supervisor" else "agent", skills)

    def get(self, name: str) -> Agent | None:
        """The agent called `name`, or None."""
        row = self._row(name)
        return None if row is None else row[0]

    def all(self) -> list[Agent]:
        """Every agent, by name."""
        with self._db() as conn:
            rows = conn.execute("SELECT name, role, skills FROM agents ORDER BY name").fetchall()
        return [_agent(*row) for row in rows]

    def verify(self, name: str, password: str) -> Agent | None:
        """The agent if `password` is theirs, else None (an unknown name takes as long)."""
        row = self._row(name)
        digest = self._dummy if row is None else row[1]
        ok: bool
        try:
            ok = self._hasher.verify(digest, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        return row[0] if ok and row is not None else None

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()

    def _row(self, name: str) -> tuple[Agent, str] | None:
        with self._db() as conn:
            row = conn.execute("SELECT name, role, skills, hash FROM agents WHERE name = ?",
                               (name,)).fetchone()
        return None if row is None else (_agent(row[0], row[1], row[2]), str(row[3]))

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise UsageError(f"agents file {self.path}: {exc}") from exc


def _agent(name: object, role: object, skills: object) -> Agent:
    return Agent(str(name), "supervisor" if role == "supervisor" else "agent",
                 frozenset(s for s in str(skills).split(",") if s))
