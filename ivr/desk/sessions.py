"""Login sessions, CSRF tokens and login throttling: the desk's whole notion of who is asking.

A session lives on the server: the browser holds only a random token, signed with the desk's
key (HMAC-SHA256) in a cookie that is HttpOnly, SameSite=Strict and expires. Logging out
forgets the session on the server, so a copied cookie is dead afterwards. With a
`SessionStore` (`ivr desk` always gives one: the agents file) the key and the sessions are kept
on disk, so agents stay logged in across a desk restart; without one they live in this process. Each
session has its own CSRF token, which every form carries back; the login form (before there
is a session) pairs a hidden field with a short-lived cookie of the same random value.

Throttling: after `limit` failed logins for one name or from one address within `window_s`,
further attempts are refused (without checking the password) until the lock ends; each new
lock is twice as long as the last, up to `max_lock_s`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..types import LANGS
from .agents import Agent
from .session_store import SessionStore

__all__ = ["COOKIE", "LOGIN_COOKIE", "Session", "Sessions", "Throttle", "csrf_ok", "same"]

COOKIE = "ivr_desk"
"""The session cookie's name."""
LOGIN_COOKIE = "ivr_desk_login"
"""The login form's CSRF cookie (before a session exists)."""


@dataclass(frozen=True)
class Session:
    """A logged-in agent."""

    token: str
    """The random session id (what the cookie carries, signed)."""
    agent: Agent
    """Who."""
    csrf: str
    """The token every form of this session must send back."""
    expires: float
    """Unix time the session ends (the cookie's Max-Age ends with it)."""
    lang: str
    """The language of the desk's labels, chosen by the agent."""


class Sessions:
    """Every live session of one desk process (thread-safe).

    Args:
        key: The signing key (the store's, else random per process, unless given).
        ttl_s: How long a session lasts from login.
        clock: Source of Unix time.
        store: Where sessions and the key are kept across restarts (None: this process only).
    """

    def __init__(self, key: bytes | None = None, *, ttl_s: float = 8 * 3600,
                 clock: Callable[[], float], store: SessionStore | None = None) -> None:
        self._store = store
        self._key = key or (store.key() if store is not None else secrets.token_bytes(32))
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._live: dict[str, Session] = {}

    def sign(self, value: str) -> str:
        """`value.signature` (HMAC-SHA256, url-safe)."""
        mac = hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"{value}.{mac}"

    def unsign(self, signed: str) -> str | None:
        """The value of a `sign` result, or None when the signature does not match."""
        value = signed.rpartition(".")[0]
        if not value or not same(self.sign(value), signed):
            return None
        return value

    def start(self, agent: Agent) -> tuple[Session, str]:
        """A new session for `agent`: the session and the cookie value to set."""
        lang = agent.langs[0] if agent.langs else "en"
        session = Session(secrets.token_urlsafe(32), agent, secrets.token_urlsafe(32),
                          self._clock() + self.ttl_s, lang)
        with self._lock:
            self._drop_expired()
            self._live[session.token] = session
        if self._store is not None:
            self._store.save(session.token, agent.name, session.csrf, session.expires, lang,
                             self._clock())
        return session, self.sign(session.token)

    def find(self, cookie: str | None) -> Session | None:
        """The live session a cookie names, or None (unsigned, forged, ended or expired)."""
        token = self.unsign(cookie) if cookie else None
        if token is None:
            return None
        now = self._clock()
        with self._lock:
            session = self._live.get(token)
            if session is not None and session.expires <= now:
                del self._live[token]
                return None
        if self._store is None:
            return session
        stored = self._store.load(token, now)  # logged out or removed elsewhere: gone here too
        if stored is None:
            with self._lock:
                self._live.pop(token, None)
            return None
        agent, csrf, expires, lang = stored
        session = Session(token, agent, csrf, expires, lang)
        with self._lock:
            self._live[token] = session
        return session

    def set_lang(self, session: Session, lang: str) -> Session:
        """The session with its label language changed (unknown languages are ignored)."""
        if lang not in LANGS:
            return session
        changed = replace(session, lang=lang)
        with self._lock:
            if session.token in self._live:
                self._live[session.token] = changed
        if self._store is not None:
            self._store.set_lang(session.token, lang)
        return changed

    def end(self, session: Session) -> None:
        """Log out: the session is forgotten, its cookie is worthless from now on."""
        with self._lock:
            self._live.pop(session.token, None)
        if self._store is not None:
            self._store.delete(session.token)

    def agents(self) -> list[Agent]:
        """Agents with a live session (logged in), by name, each once."""
        now = self._clock()
        if self._store is not None:  # every session of the file, from before a restart too
            return self._store.online(now)
        with self._lock:
            found = {s.agent.name: s.agent for s in self._live.values() if s.expires > now}
        return [found[name] for name in sorted(found)]

    def _drop_expired(self) -> None:
        now = self._clock()
        for token in [t for t, s in self._live.items() if s.expires <= now]:
            del self._live[token]


def same(a: str, b: str) -> bool:
    """Constant-time equality of two texts (any characters: `compare_digest` on str refuses
    non-ASCII, which a forged cookie or form field may carry)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"),
                               b.encode("utf-8", "surrogatepass"))


def csrf_ok(expected: str, given: object) -> bool:
    """Whether a form's CSRF field matches (constant time; missing or empty never does)."""
    return isinstance(given, str) and bool(given) and same(expected, given)


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0
    lock_s: float = 0.0


class Throttle:
    """Failed-login counting per name and per client address.

    Args:
        limit: Failures within `window_s` that lock the name (or address).
        window_s: How far back failures count.
        first_lock_s: The first lock; each following one doubles, up to `max_lock_s`.
        clock: Source of Unix time.
    """

    def __init__(self, *, limit: int = 5, window_s: float = 900.0, first_lock_s: float = 30.0,
                 max_lock_s: float = 900.0, clock: Callable[[], float]) -> None:
        self.limit, self.window_s = limit, window_s
        self.first_lock_s, self.max_lock_s = first_lock_s, max_lock_s
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, _Record] = {}

    def locked(self, *keys: str) -> float:
        """Seconds until every one of `keys` may try again (0.0: they may now)."""
        now = self._clock()
        with self._lock:
            waits = [self._seen[k].locked_until - now for k in keys if k in self._seen]
        return max([0.0, *waits])

    def failed(self, *keys: str) -> None:
        """Count a failed login against each key; lock a key that reached the limit."""
        now = self._clock()
        with self._lock:
            for key in keys:
                rec = self._seen.setdefault(key, _Record())
                rec.failures = [t for t in rec.failures if now - t < self.window_s] + [now]
                if len(rec.failures) >= self.limit:
                    rec.lock_s = min(self.max_lock_s, rec.lock_s * 2 or self.first_lock_s)
                    rec.locked_until = now + rec.lock_s
                    rec.failures = []

    def succeeded(self, *keys: str) -> None:
        """A good login clears the name's count (the address keeps its own)."""
        with self._lock:
            for key in keys:
                self._seen.pop(key, None)
