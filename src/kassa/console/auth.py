"""Console sessions and CSRF tokens (I/O shell state, kept in memory).

A session is a random token in an HttpOnly, SameSite=Strict cookie (Secure over TLS)
naming a server-side record: who is logged in, their role, a per-session CSRF token and
when they were last active. Every visitor gets an anonymous session first, so that the
login form itself carries a CSRF token; logging in replaces the token (no session
fixation). Sessions end after `idle_timeout_ms` without activity, measured on the app's
clock (tests move it), and the dashboard's background polling does not count as activity.

Sessions live in this process only: a restart logs everyone out, which is the safe side.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from kassa.auth import Role

idle_timeout_ms = 15 * 60_000
sessions_max = 10_000
token_size_bytes = 32
SESSION_COOKIE = "kassa_session"
LANG_COOKIE = "kassa_lang"

# What each role may do; a role may do everything the roles below it may.
ROLE_RANK: dict[Role, int] = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3}


def allows(role: Role | None, needed: Role) -> bool:
    """Whether `role` may do what `needed` may (viewer < operator < supervisor < admin)."""
    return role is not None and role in ROLE_RANK and ROLE_RANK[role] >= ROLE_RANK[needed]


@dataclass
class Session:
    """One browser's session. `operator_id` is None until login succeeds.

    `must_change`: the password was temporary or expired: only the password page works.
    `notice`: a one-line message shown once on the next page (then cleared).
    """

    token: str
    csrf: str
    last_ms: int
    operator_id: str | None = None
    role: Role | None = None
    must_change: bool = False
    notice: str | None = None
    started_ms: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def logged_in(self) -> bool:
        return self.operator_id is not None


class Sessions:
    """The live sessions of this console process (thread-safe)."""

    def __init__(self, rand: Callable[[int], bytes], idle_ms: int = idle_timeout_ms) -> None:
        self._rand = rand
        self.idle_ms = idle_ms
        self._by_token: dict[str, Session] = {}
        self._lock = threading.Lock()

    def _token(self) -> str:
        raw = self._rand(token_size_bytes)
        assert len(raw) == token_size_bytes, len(raw)
        return raw.hex()

    def new(self, now_ms: int) -> Session:
        """A fresh anonymous session."""
        session = Session(self._token(), self._token(), now_ms, started_ms=now_ms)
        with self._lock:
            self._make_room(now_ms)
            self._by_token[session.token] = session
        return session

    def find(self, token: str | None, now_ms: int) -> tuple[Session | None, bool]:
        """The live session of `token` and whether a logged-in one just expired.

        An expired session is removed; a logged-in one reports ``True`` so the login page
        can say why. Does not refresh the idle timer (see `touch`).
        """
        if not token:
            return None, False
        with self._lock:
            session = self._by_token.get(token)
            if session is None:
                return None, False
            if now_ms - session.last_ms >= self.idle_ms:
                del self._by_token[token]
                return None, session.logged_in
            return session, False

    def touch(self, session: Session, now_ms: int) -> None:
        """Mark activity: the idle timer starts again."""
        session.last_ms = max(session.last_ms, now_ms)

    def login(
        self, old: Session, operator_id: str, role: Role, must_change: bool, now_ms: int
    ) -> Session:
        """Replace `old` with a logged-in session under new tokens."""
        fresh = Session(
            self._token(), self._token(), now_ms, operator_id, role, must_change, started_ms=now_ms
        )
        with self._lock:
            self._by_token.pop(old.token, None)
            self._make_room(now_ms)
            self._by_token[fresh.token] = fresh
        return fresh

    def end(self, session: Session) -> None:
        """Log out: forget the session."""
        with self._lock:
            self._by_token.pop(session.token, None)

    def end_operator(self, operator_id: str) -> int:
        """End every session of `operator_id` (disabled, password reset); how many."""
        with self._lock:
            gone = [t for t, s in self._by_token.items() if s.operator_id == operator_id]
            for token in gone:
                del self._by_token[token]
        return len(gone)

    def _make_room(self, now_ms: int) -> None:
        # Caller holds the lock. Anonymous sessions are cheap to make, so a flood of them
        # must not push out people who are logged in: expired first, then anonymous.
        if len(self._by_token) < sessions_max:
            return
        for token, s in list(self._by_token.items()):
            if now_ms - s.last_ms >= self.idle_ms:
                del self._by_token[token]
        anonymous = sorted((s.last_ms, t) for t, s in self._by_token.items() if not s.logged_in)
        for _, token in anonymous[: max(0, len(self._by_token) - sessions_max + 1)]:
            del self._by_token[token]


def csrf_ok(session: Session | None, sent: str | None) -> bool:
    """Whether `sent` is the session's CSRF token (constant-time compare)."""
    if session is None or not sent:
        return False
    return hmac.compare_digest(session.csrf.encode(), sent.encode())
