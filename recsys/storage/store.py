"""Persistence: users, chat sessions, messages, items shown and feedback, through SQLAlchemy.

    store = Store("sqlite:////home/me/.cache/recsys/recsys.storage.db")  # or any SQLAlchemy URL (PostgreSQL...)
    sid = store.create_session(store.ensure_user())
    store.record_turn(sid, "a funny sci-fi film", "Try these:", intent, [("tt0088763", 0.81, "...")], state, None)
    store.history(sid)  # -> [MessageRow(...), ...]

Every public method opens and closes its own short transaction and returns frozen dataclasses, so callers never
hold a database session. The tables, their migrations and the connection settings are in db.py.
"""
from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import threading
import time
from contextlib import nullcontext
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ..storage.db import (DEFAULT_TITLE, DbFeedback, DbMessage, DbSession, DbShown, DbUser, make_engine, migrate, now,
                 parse_url)
from ..core.errors import SessionNotFound, StoreError
from ..core.types import DialogueState

log = logging.getLogger(__name__)

TITLE_CHARS = 40  # auto-titles fit a sidebar row
WRITE_TRIES = 3  # "database is locked" survives busy_timeout only under heavy contention; a retry or two clears it
BACKOFF_S = 0.05  # doubled on each retry
T = TypeVar("T")


# --- what callers get back ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionInfo:
    """A chat session's metadata and dialogue state."""

    session_id: str
    user_id: str
    title: str
    created_at: datetime
    updated_at: datetime
    state: DialogueState
    message_count: int


@dataclass(frozen=True)
class ShownItem:
    """One item of an answer, as shown: rank 1 first."""

    item_id: str
    rank: int
    score: float
    reason: str


@dataclass(frozen=True)
class MessageRow:
    """One message of a session's history, with the items shown in it (assistant messages)."""

    message_id: int
    seq: int
    role: str
    text: str
    intent: dict[str, Any] | None
    created_at: datetime
    items: list[ShownItem] = field(default_factory=list)


@dataclass(frozen=True)
class FeedbackRow:
    """One like or dislike; a user's rows oldest first are the support set for per-user learning."""

    item_id: str
    liked: bool
    source: str
    created_at: datetime


# --- the store --------------------------------------------------------------------------------------------------
class Store:
    """Chat persistence over any SQLAlchemy URL; SQLite files run in WAL mode."""

    def __init__(self, url: str) -> None:
        """Validate the URL, connect, and apply pending migrations (StoreError if the database is unreachable)."""
        self.url = parse_url(url)
        self.safe_url = self.url.render_as_string(hide_password=True)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        host = f"{self.url.host or 'localhost'}:{self.url.port or 'default port'}"
        self.where = f"file {self.url.database or ':memory:'}" if self.is_sqlite else f"{host} ({self.safe_url})"
        self.engine = make_engine(self.url, self.is_sqlite)
        # Writes ask for BEGIN IMMEDIATE on SQLite: taking the write lock up front makes busy_timeout apply, where a
        # deferred transaction that reads, then writes, fails at once with "database is locked".
        writer = self.engine.execution_options(recsys_immediate=True)
        # SQLite has one writer at a time. Threads of this process queue on a lock (woken at once) rather than in
        # SQLite's busy handler, which sleeps up to 100 ms between polls: 32 sessions at once had p95 writes of
        # ~0.45 s on 2 cores without it (bench, issue 8). Other processes still wait through busy_timeout.
        self._write_lock = threading.RLock() if self.is_sqlite else nullcontext()
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = sessionmaker(writer, expire_on_commit=False)
        try:
            applied = migrate(writer)
        except DBAPIError as exc:
            self.engine.dispose()
            raise StoreError(f"could not reach the database at {self.where}: {_first_line(exc.orig)}") from exc
        if applied:
            log.info("database %s: applied %s", self.safe_url, ", ".join(applied))

    def _tx(self, work: Callable[[Session], T], write: bool = True) -> T:
        """Run `work` in one short transaction; retry writes on "database is locked"; DB errors become StoreError."""
        factory = self._writes if write else self._reads
        for attempt in range(WRITE_TRIES if write else 1):
            try:
                with self._write_lock if write else nullcontext(), factory.begin() as s:
                    return work(s)
            except OperationalError as exc:
                locked = "locked" in str(exc.orig) or "busy" in str(exc.orig)
                if not (write and locked) or attempt == WRITE_TRIES - 1:
                    raise StoreError(f"database error at {self.where}: {_first_line(exc.orig)}") from exc
                log.warning("database is locked; retry %d of %d", attempt + 1, WRITE_TRIES - 1)
                time.sleep(BACKOFF_S * 2**attempt)
            except DBAPIError as exc:
                raise StoreError(f"database error at {self.where}: {_first_line(exc.orig)}") from exc
        raise AssertionError("unreachable")

    # --- users and sessions ---------------------------------------------------------------------------------
    def ensure_user(self, user_id: str | None = None) -> str:
        """The user's id, creating the user if missing; None makes a new user with a random id."""
        user_id = _user_id(user_id) if user_id is not None else secrets.token_urlsafe(16)
        self._tx(lambda s: _ensure_user(s, user_id))
        return user_id

    def has_user(self, user_id: object) -> bool:
        """True when the user exists (the app reuses a browser's id only then, never creating one a client names)."""
        if not _is_key(user_id):
            return False
        return self._tx(lambda s: s.get(DbUser, user_id) is not None, write=False)

    def create_session(self, user_id: str, title: str = DEFAULT_TITLE) -> str:
        """A new session for the user (created if missing); returns its unguessable id."""
        session_id = secrets.token_urlsafe(16)  # 128 random bits, 22 characters
        user_id = _user_id(user_id)

        def work(s: Session) -> None:
            _ensure_user(s, user_id)
            s.add(DbSession(session_id=session_id, user_id=user_id, title=_clean(title),
                            state=_dumps(DialogueState().to_dict())))

        self._tx(work)
        return session_id

    def get_session(self, session_id: str) -> SessionInfo:
        """A session's metadata and state; SessionNotFound if absent."""
        _check_id(session_id)
        found = self._tx(lambda s: _session_infos(s, DbSession.session_id == session_id), write=False)
        if not found:
            raise _missing(session_id)
        return found[0]

    def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """The user's sessions, most recently active first."""
        if not _is_key(user_id):
            return []
        return self._tx(lambda s: _session_infos(s, DbSession.user_id == user_id), write=False)

    def rename_session(self, session_id: str, title: str) -> None:
        """Give a session a new title."""
        def work(s: Session) -> None:
            _lock_session(s, session_id).title = _clean(title)

        self._tx(work)

    def delete_session(self, session_id: str) -> None:
        """Delete a session with its messages, items shown and feedback; SessionNotFound if absent."""
        _check_id(session_id)

        def work(s: Session) -> None:
            if s.execute(delete(DbSession).where(DbSession.session_id == session_id)).rowcount == 0:
                raise _missing(session_id)

        self._tx(work)
        self._checkpoint()

    def save_state(self, session_id: str, state: DialogueState) -> None:
        """Replace a session's dialogue state."""
        def work(s: Session) -> None:
            row = _lock_session(s, session_id)
            row.state, row.updated_at = _dumps(state.to_dict()), now()

        self._tx(work)

    # --- messages ---------------------------------------------------------------------------------------------
    def add_message(self, session_id: str, role: str, text: str, intent: dict | None = None,
                    timings: dict | None = None) -> int:
        """Append one message to a session; returns its id."""
        def work(s: Session) -> int:
            row = _lock_session(s, session_id)
            row.updated_at = now()
            message = _message(session_id, _next_seq(s, session_id), role, text, intent, timings)
            s.add(message)
            s.flush()
            return message.id

        return self._tx(work)

    def record_turn(self, session_id: str, user_text: str, reply: str, intent: dict | None,
                    items: Sequence[tuple[str, float, str]], state: DialogueState, timings: dict | None) -> int:
        """Store a turn in one transaction: both messages, items in rank order, new state; returns the reply's id."""
        def work(s: Session) -> int:
            row = _lock_session(s, session_id)  # on servers, concurrent turns of one session queue here
            seq = _next_seq(s, session_id)
            asked = _message(session_id, seq, "user", user_text, intent, None)
            answer = _message(session_id, seq + 1, "assistant", reply, None, timings)
            s.add_all([asked, answer])
            s.flush()  # assigns answer.id
            s.add_all([DbShown(message_id=answer.id, session_id=session_id, item_id=_clean(item_id),
                               rank=rank, score=float(score), reason=_clean(reason))
                       for rank, (item_id, score, reason) in enumerate(items, start=1)])
            row.state, row.updated_at = _dumps(state.to_dict()), now()
            if row.title == DEFAULT_TITLE and asked.text.strip():
                row.title = _title_from(asked.text)
            return answer.id

        return self._tx(work)

    def history(self, session_id: str) -> list[MessageRow]:
        """A session's messages in order, each with the items shown in it; SessionNotFound if absent."""
        _check_id(session_id)

        def work(s: Session) -> list[MessageRow]:
            if s.get(DbSession, session_id) is None:
                raise _missing(session_id)
            shown: dict[int, list[ShownItem]] = {}
            recs = s.scalars(select(DbShown).where(DbShown.session_id == session_id)
                             .order_by(DbShown.message_id, DbShown.rank))
            for r in recs:
                shown.setdefault(r.message_id, []).append(ShownItem(r.item_id, r.rank, r.score, r.reason))
            messages = s.scalars(select(DbMessage).where(DbMessage.session_id == session_id)
                                 .order_by(DbMessage.seq))
            return [MessageRow(m.id, m.seq, m.role, m.text, _loads(m.intent), _utc(m.created_at),
                               shown.get(m.id, [])) for m in messages]

        return self._tx(work, write=False)

    # --- feedback ---------------------------------------------------------------------------------------------
    def add_feedback(self, session_id: str, item_id: str, liked: bool, source: str = "button") -> None:
        """Record a like or dislike of an item, for the session's user."""
        if source not in ("button", "words"):
            raise ValueError(f"feedback source must be 'button' or 'words', got {source!r}")

        def work(s: Session) -> None:
            row = _lock_session(s, session_id)
            s.add(DbFeedback(session_id=session_id, user_id=row.user_id, item_id=_clean(item_id),
                             liked=bool(liked), source=source))

        self._tx(work)

    def user_feedback(self, user_id: str) -> list[FeedbackRow]:
        """Every vote of a user, oldest first; the caller keeps the latest vote per item if it wants one."""
        if not _is_key(user_id):
            return []

        def work(s: Session) -> list[FeedbackRow]:
            rows = s.scalars(select(DbFeedback).where(DbFeedback.user_id == user_id).order_by(DbFeedback.id))
            return [FeedbackRow(r.item_id, r.liked, r.source, _utc(r.created_at)) for r in rows]

        return self._tx(work, write=False)

    def remove_feedback(self, user_id: str, item_id: str) -> int:
        """Delete every vote of a user on an item (taken back from the taste panel); returns how many rows went."""
        if not (_is_key(user_id) and _is_key(item_id)):
            return 0
        return self._tx(lambda s: s.execute(delete(DbFeedback).where(
            DbFeedback.user_id == user_id, DbFeedback.item_id == item_id)).rowcount)

    def forget_user(self, user_id: str) -> None:
        """Delete a user and every row about them (sessions, messages, items shown, feedback); no-op if unknown."""
        if not _is_key(user_id):
            return
        self._tx(lambda s: s.execute(delete(DbUser).where(DbUser.user_id == user_id)))
        self._checkpoint()

    def _checkpoint(self) -> None:
        """SQLite: copy the WAL into the database file and empty it, so deleted words leave the WAL too (best
        effort: a reader still open elsewhere may keep some pages until the next checkpoint)."""
        if not self.is_sqlite:
            return
        try:
            raw = self.engine.raw_connection()  # the driver's connection: no BEGIN around the pragma
            try:
                busy = raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            finally:
                raw.close()
        except (DBAPIError, sqlite3.Error) as exc:
            log.warning("database checkpoint after a deletion failed: %s", exc)
            return
        if busy:
            log.warning("database checkpoint after a deletion was partial (a reader is open); the next one finishes it")

    # --- upkeep -----------------------------------------------------------------------------------------------
    def integrity_check(self) -> bool:
        """True when the database is sound (SQLite: PRAGMA integrity_check; servers: a trivial query answers)."""
        def work(s: Session) -> bool:
            if self.is_sqlite:
                return [r[0] for r in s.execute(text("PRAGMA integrity_check"))] == ["ok"]
            return s.execute(text("SELECT 1")).scalar() == 1

        return self._tx(work, write=False)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


# --- helpers ----------------------------------------------------------------------------------------------------
def _user_id(user_id: str) -> str:
    """A cleaned user id; ValueError if empty or too long for the column."""
    user_id = _clean(user_id)
    if not 1 <= len(user_id) <= 255:
        raise ValueError("user_id must have 1 to 255 characters")
    return user_id


def _ensure_user(s: Session, user_id: str) -> None:
    """Insert the user row unless it exists (one inserted meanwhile by another transaction counts as existing)."""
    if s.get(DbUser, user_id) is None:
        try:
            with s.begin_nested():
                s.add(DbUser(user_id=user_id))
        except IntegrityError:
            pass  # two first visits of the same user at once (servers; SQLite serialises writers)


def _is_key(value: object) -> bool:
    """True when a caller's id could be a stored key: a str of 1-255 characters any backend can compare (no NUL,
    no lone surrogates), so hostile ids are simply "not found" rather than driver errors."""
    if not isinstance(value, str) or not 1 <= len(value) <= 255 or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_id(session_id: object) -> None:
    """SessionNotFound for an id that cannot name a session (see _is_key)."""
    if not _is_key(session_id):
        raise _missing(str(session_id).encode("utf-8", "replace").decode("utf-8"))


def _missing(session_id: str) -> SessionNotFound:
    """The error for an unknown session id (only its start is echoed)."""
    return SessionNotFound(f"no session {str(session_id)[:8]!r}")


def _lock_session(s: Session, session_id: str) -> DbSession:
    """The session row, locked for this transaction on servers (SELECT ... FOR UPDATE); SessionNotFound if absent."""
    _check_id(session_id)
    row = s.get(DbSession, session_id, with_for_update=True)
    if row is None:
        raise _missing(session_id)
    return row


def _next_seq(s: Session, session_id: str) -> int:
    """The next message number of a session (call with the session row locked)."""
    last = s.scalar(select(func.max(DbMessage.seq)).where(DbMessage.session_id == session_id))
    return (last or 0) + 1


def _message(session_id: str, seq: int, role: str, text: str, intent: dict | None,
             timings: dict | None) -> DbMessage:
    """A new message row with cleaned text and JSON columns."""
    if role not in ("user", "assistant"):
        raise ValueError(f"message role must be 'user' or 'assistant', got {role!r}")
    return DbMessage(session_id=session_id, seq=seq, role=role, text=_clean(text),
                     intent=None if intent is None else _dumps(intent),
                     timings=None if timings is None else _dumps(timings))


def _session_infos(s: Session, where: Any) -> list[SessionInfo]:
    """SessionInfo for the sessions matching a condition, most recently active first."""
    # Correlated, so each session counts its own messages through the (session_id, seq) index.
    n = select(func.count()).where(DbMessage.session_id == DbSession.session_id).scalar_subquery()
    rows = s.execute(select(DbSession, n).where(where)
                     .order_by(DbSession.updated_at.desc(), DbSession.created_at.desc(), DbSession.session_id))
    return [SessionInfo(r.session_id, r.user_id, r.title, _utc(r.created_at), _utc(r.updated_at),
                        _state(r.state, r.session_id), count) for r, count in rows]


def _state(raw: str, session_id: str) -> DialogueState:
    """The stored state, or a fresh one (logged) if the row cannot be read, so the session stays usable."""
    try:
        return DialogueState.from_dict(json.loads(raw))
    except (ValueError, TypeError):
        log.warning("session %s: unreadable state, starting from an empty one", session_id[:6])
        return DialogueState()


def _clean(value: str) -> str:
    """Text any backend stores: NUL removed (PostgreSQL rejects it), unpaired surrogates replaced."""
    value = str(value).replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _dumps(data: Any) -> str:
    """JSON text for a JSON column (control characters come out escaped, so NUL is safe)."""
    return _clean(json.dumps(data, ensure_ascii=False, default=str))


def _loads(raw: str | None) -> Any:
    """Inverse of _dumps; None stays None."""
    return None if raw is None else json.loads(raw)


def _title_from(text_: str) -> str:
    """A session title from its first message: whitespace collapsed, cut at a word near TITLE_CHARS."""
    words = " ".join(text_.split())
    if len(words) <= TITLE_CHARS:
        return words
    cut = words[:TITLE_CHARS].rsplit(" ", 1)[0] if " " in words[:TITLE_CHARS] else words[:TITLE_CHARS]
    return cut.rstrip(" ,.;:-") + "…"


def _utc(value: datetime) -> datetime:
    """Timezone-aware UTC (SQLite hands back naive datetimes)."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _first_line(error: BaseException | None) -> str:
    """The first line of a driver error: enough to act on, without SQL or parameters."""
    return str(error).strip().splitlines()[0] if error is not None and str(error).strip() else "unknown error"
