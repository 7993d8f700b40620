"""Persistence: users, chat sessions, messages, items shown and feedback, through SQLAlchemy.

    store = Store("sqlite:////home/me/.cache/recsys/recsys.db")  # or any SQLAlchemy URL (PostgreSQL...)
    sid = store.create_session(store.ensure_user())
    store.record_turn(sid, "a funny sci-fi film", "Try these:", intent, [("tt0088763", 0.81, "...")], state, None)
    store.history(sid)  # -> [MessageRow(...), ...]

Every public method opens and closes its own short transaction and returns frozen dataclasses, so callers never
hold a database session. The tables, their migrations and the connection settings are in db.py.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import TypeVar

from sqlalchemy import bindparam, delete, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ..core.errors import StoreError
from ..core.types import DialogueState
from .db import DEFAULT_TITLE, DbFeedback, DbMessage, DbSession, DbShown, DbUser, make_engine, migrate, now, parse_url
from .queries import (
    add_user_if_missing,
    check_id,
    checked_user_id,
    lock_session,
    lock_title,
    message_values,
    missing,
    new_message,
    next_seq,
    session_infos,
)
from .rows import (
    FeedbackRow,
    MessageRow,
    SessionInfo,
    ShownItem,
    clean,
    dumps,
    first_line,
    is_key,
    loads,
    title_from,
    utc,
)

log = logging.getLogger(__name__)

WRITE_TRIES = 3  # "database is locked" survives busy_timeout only under heavy contention; a retry or two clears it
BACKOFF_S = 0.05  # doubled on each retry
T = TypeVar("T")
# record_turn's statements, built once (see queries.py: building one per call costs more than running it)
_INSERT_MESSAGE = insert(DbMessage)
_INSERT_SHOWN = insert(DbShown)
_UPDATE_SESSION = update(DbSession).where(DbSession.session_id == bindparam("sid"))
_FEEDBACK = DbFeedback.__table__.c
_USER_FEEDBACK = (
    select(_FEEDBACK.item_id, _FEEDBACK.liked, _FEEDBACK.source, _FEEDBACK.created_at)
    .where(_FEEDBACK.user_id == bindparam("uid"))
    .order_by(_FEEDBACK.id)
)


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
        # ~0.45 s on 2 cores without it (bench: concurrent turns). Other processes still wait through busy_timeout.
        self._write_lock = threading.RLock() if self.is_sqlite else nullcontext()
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = sessionmaker(writer, expire_on_commit=False)
        self._writer = writer  # Core transactions (core=True in _tx) for what every turn runs
        try:
            applied = migrate(writer)
        except DBAPIError as exc:
            self.engine.dispose()
            raise StoreError(f"could not reach the database at {self.where}: {first_line(exc.orig)}") from exc
        if applied:
            log.info("database %s: applied %s", self.safe_url, ", ".join(applied))

    def _tx(
        self, work: Callable[[Session], T] | Callable[[Connection], T], write: bool = True, core: bool = False
    ) -> T:
        """Run `work` in one short transaction; retry writes on "database is locked"; DB errors become StoreError.
        `core`: work gets a Core Connection, not an ORM Session (a turn's reads and writes: the ORM's Session costs
        ~0.1 ms of Python per transaction, and those run under the GIL every other turn waits for)."""
        if core:
            begin = (self._writer if write else self.engine).begin
        else:
            begin = (self._writes if write else self._reads).begin
        for attempt in range(WRITE_TRIES if write else 1):
            try:
                with self._write_lock if write else nullcontext(), begin() as s:
                    return work(s)
            except OperationalError as exc:
                locked = "locked" in str(exc.orig) or "busy" in str(exc.orig)
                if not (write and locked) or attempt == WRITE_TRIES - 1:
                    raise StoreError(f"database error at {self.where}: {first_line(exc.orig)}") from exc
                log.warning("database is locked; retry %d of %d", attempt + 1, WRITE_TRIES - 1)
                time.sleep(BACKOFF_S * 2**attempt)
            except DBAPIError as exc:
                raise StoreError(f"database error at {self.where}: {first_line(exc.orig)}") from exc
        raise AssertionError("unreachable")

    # --- users and sessions ---------------------------------------------------------------------------------
    def ensure_user(self, user_id: str | None = None) -> str:
        """The user's id, creating the user if missing; None makes a new user with a random id."""
        user_id = checked_user_id(user_id) if user_id is not None else secrets.token_urlsafe(16)
        self._tx(lambda s: add_user_if_missing(s, user_id))
        return user_id

    def has_user(self, user_id: object) -> bool:
        """True when the user exists (the app reuses a browser's id only then, never creating one a client names)."""
        if not is_key(user_id):
            return False
        return self._tx(lambda s: s.get(DbUser, user_id) is not None, write=False)

    def create_session(self, user_id: str, title: str = DEFAULT_TITLE, state: DialogueState | None = None) -> str:
        """A new session for the user (created if missing), starting from `state` (default: an empty one); returns
        its unguessable id."""
        session_id = secrets.token_urlsafe(16)  # 128 random bits, 22 characters
        user_id = checked_user_id(user_id)

        def work(s: Session) -> None:
            """Add the user if missing, then the session."""
            add_user_if_missing(s, user_id)
            s.add(
                DbSession(
                    session_id=session_id,
                    user_id=user_id,
                    title=clean(title),
                    state=dumps((state or DialogueState()).to_dict()),
                )
            )

        self._tx(work)
        return session_id

    def get_session(self, session_id: str) -> SessionInfo:
        """A session's metadata and state; SessionNotFound if absent."""
        check_id(session_id)
        found = self._tx(lambda conn: session_infos(conn, "session", session_id), write=False, core=True)
        if not found:
            raise missing(session_id)
        return found[0]

    def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """The user's sessions, most recently active first."""
        if not is_key(user_id):
            return []
        return self._tx(lambda conn: session_infos(conn, "user", user_id), write=False, core=True)

    def rename_session(self, session_id: str, title: str) -> None:
        """Give a session a new title."""

        def work(s: Session) -> None:
            """Retitle the locked session."""
            lock_session(s, session_id).title = clean(title)

        self._tx(work)

    def delete_session(self, session_id: str) -> None:
        """Delete a session with its messages, items shown and feedback; SessionNotFound if absent."""
        check_id(session_id)

        def work(s: Session) -> None:
            """Delete the session row; its messages, items and feedback go with it (cascade)."""
            if s.execute(delete(DbSession).where(DbSession.session_id == session_id)).rowcount == 0:
                raise missing(session_id)

        self._tx(work)
        self._checkpoint()

    def save_state(self, session_id: str, state: DialogueState) -> None:
        """Replace a session's dialogue state."""

        def work(s: Session) -> None:
            """Replace the locked session's state."""
            row = lock_session(s, session_id)
            row.state, row.updated_at = dumps(state.to_dict()), now()

        self._tx(work)

    # --- messages ---------------------------------------------------------------------------------------------
    def add_message(
        self, session_id: str, role: str, text: str, intent: dict | None = None, timings: dict | None = None
    ) -> int:
        """Append one message to a session; returns its id."""

        def work(s: Session) -> int:
            """Append the message under the locked session."""
            row = lock_session(s, session_id)
            row.updated_at = now()
            message = new_message(session_id, next_seq(s, session_id), role, text, intent, timings)
            s.add(message)
            s.flush()
            return message.id

        return self._tx(work)

    def record_turn(
        self,
        session_id: str,
        user_text: str,
        reply: str,
        intent: dict | None,
        items: Sequence[tuple[str, float, str] | tuple[str, float, str, dict | None]],
        state: DialogueState,
        timings: dict | None,
    ) -> int:
        """Store a turn in one transaction: both messages, items in rank order (item_id, score, reason and,
        optionally, the evidence of why it ranked), new state; returns the reply's id."""

        def work(conn: Connection) -> int:
            """Both messages, the items shown, the new state and maybe a title, under the locked session."""
            # Core statements: the ORM's unit of work cost ~1.5 ms of Python per turn here (half the store's
            # time), for rows nobody reads back in this transaction.
            title = lock_title(conn, session_id)  # on servers, concurrent turns of one session queue here
            seq = next_seq(conn, session_id)
            asked = message_values(session_id, seq, "user", user_text, intent, None)
            conn.execute(_INSERT_MESSAGE, asked)
            answer_id = conn.execute(
                _INSERT_MESSAGE, message_values(session_id, seq + 1, "assistant", reply, None, timings)
            ).inserted_primary_key[0]
            shown = [
                {
                    "message_id": answer_id,
                    "session_id": session_id,
                    "item_id": clean(item_id),
                    "rank": rank,
                    "score": float(score),
                    "reason": clean(reason),
                    "evidence": None if not evidence else dumps(evidence),
                }
                for rank, (item_id, score, reason, evidence) in enumerate(((*row, None)[:4] for row in items), start=1)
            ]
            if shown:
                conn.execute(_INSERT_SHOWN, shown)
            changes = {"state": dumps(state.to_dict()), "updated_at": now()}
            if title == DEFAULT_TITLE and asked["text"].strip():
                changes["title"] = title_from(asked["text"])
            conn.execute(_UPDATE_SESSION, {"sid": session_id, **changes})  # SET the columns given
            return answer_id

        return self._tx(work, core=True)

    def history(self, session_id: str) -> list[MessageRow]:
        """A session's messages in order, each with the items shown in it; SessionNotFound if absent."""
        check_id(session_id)

        def work(s: Session) -> list[MessageRow]:
            """The messages in order, each with its items shown."""
            if s.get(DbSession, session_id) is None:
                raise missing(session_id)
            shown: dict[int, list[ShownItem]] = {}
            recs = s.scalars(
                select(DbShown).where(DbShown.session_id == session_id).order_by(DbShown.message_id, DbShown.rank)
            )
            for r in recs:
                row = ShownItem(r.item_id, r.rank, r.score, r.reason, loads(r.evidence))
                shown.setdefault(r.message_id, []).append(row)
            messages = s.scalars(select(DbMessage).where(DbMessage.session_id == session_id).order_by(DbMessage.seq))
            return [
                MessageRow(m.id, m.seq, m.role, m.text, loads(m.intent), utc(m.created_at), shown.get(m.id, []))
                for m in messages
            ]

        return self._tx(work, write=False)

    # --- feedback ---------------------------------------------------------------------------------------------
    def add_feedback(self, session_id: str, item_id: str, liked: bool, source: str = "button") -> None:
        """Record a like or dislike of an item, for the session's user."""
        if source not in ("button", "words"):
            raise ValueError(f"feedback source must be 'button' or 'words', got {source!r}")

        def work(s: Session) -> None:
            """Add the vote for the session's user."""
            row = lock_session(s, session_id)
            s.add(
                DbFeedback(
                    session_id=session_id, user_id=row.user_id, item_id=clean(item_id), liked=bool(liked), source=source
                )
            )

        self._tx(work)

    def user_feedback(self, user_id: str) -> list[FeedbackRow]:
        """Every vote of a user, oldest first; the caller keeps the latest vote per item if it wants one."""
        if not is_key(user_id):
            return []

        def work(conn: Connection) -> list[FeedbackRow]:
            """The user's votes, oldest first."""
            rows = conn.execute(_USER_FEEDBACK, {"uid": user_id})  # columns: read each turn
            return [FeedbackRow(item_id, bool(liked), source, utc(created)) for item_id, liked, source, created in rows]

        return self._tx(work, write=False, core=True)

    def remove_feedback(self, user_id: str, item_id: str) -> int:
        """Delete every vote of a user on an item (taken back from the taste panel); returns how many rows went."""
        if not (is_key(user_id) and is_key(item_id)):
            return 0
        return self._tx(
            lambda s: (
                s.execute(
                    delete(DbFeedback).where(DbFeedback.user_id == user_id, DbFeedback.item_id == item_id)
                ).rowcount
            )
        )

    def forget_user(self, user_id: str) -> None:
        """Delete a user and every row about them (sessions, messages, items shown, feedback); no-op if unknown."""
        if not is_key(user_id):
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
            """Whether the database answers soundly."""
            if self.is_sqlite:
                return [r[0] for r in s.execute(text("PRAGMA integrity_check"))] == ["ok"]
            return s.execute(text("SELECT 1")).scalar() == 1

        return self._tx(work, write=False)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
