"""Small queries and row builders the Store runs inside one transaction (each takes the open SQLAlchemy Session).

    lock_session(s, session_id)   # the session row, locked on servers; SessionNotFound if absent
    next_seq(s, session_id)       # the next message number (with the row locked)

Ids from callers are checked here, so hostile ids are simply "not found" rather than driver errors.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..core.errors import SessionNotFound
from ..core.types import DialogueState
from .db import DbMessage, DbSession, DbUser
from .rows import SessionInfo, clean, dumps, is_key, utc

log = logging.getLogger(__name__)


def checked_user_id(user_id: str) -> str:
    """A cleaned user id; ValueError if empty or too long for the column."""
    user_id = clean(user_id)
    if not 1 <= len(user_id) <= 255:
        raise ValueError("user_id must have 1 to 255 characters")
    return user_id


def add_user_if_missing(s: Session, user_id: str) -> None:
    """Insert the user row unless it exists (one inserted meanwhile by another transaction counts as existing)."""
    if s.get(DbUser, user_id) is None:
        try:
            with s.begin_nested():
                s.add(DbUser(user_id=user_id))
        except IntegrityError:
            pass  # two first visits of the same user at once (servers; SQLite serialises writers)


def check_id(session_id: object) -> None:
    """SessionNotFound for an id that cannot name a session (see _is_key)."""
    if not is_key(session_id):
        raise missing(str(session_id).encode("utf-8", "replace").decode("utf-8"))


def missing(session_id: str) -> SessionNotFound:
    """The error for an unknown session id (only its start is echoed)."""
    return SessionNotFound(f"no session {str(session_id)[:8]!r}")


def lock_session(s: Session, session_id: str) -> DbSession:
    """The session row, locked for this transaction on servers (SELECT ... FOR UPDATE); SessionNotFound if absent."""
    check_id(session_id)
    row = s.get(DbSession, session_id, with_for_update=True)
    if row is None:
        raise missing(session_id)
    return row


# Built once: a statement made per call costs more Python (construction and its cache key) than running it.
_TITLE_FOR_UPDATE = select(DbSession.title).where(DbSession.session_id == bindparam("sid")).with_for_update()
_LAST_SEQ = select(func.max(DbMessage.seq)).where(DbMessage.session_id == bindparam("sid"))


def lock_title(conn: Connection, session_id: str) -> str:
    """The session's title, its row locked for this transaction on servers (as lock_session, without the ORM);
    SessionNotFound if absent."""
    check_id(session_id)
    title = conn.execute(_TITLE_FOR_UPDATE, {"sid": session_id}).scalar_one_or_none()
    if title is None:
        raise missing(session_id)
    return title


def next_seq(s: Session | Connection, session_id: str) -> int:
    """The next message number of a session (call with the session row locked)."""
    last = s.scalar(_LAST_SEQ, {"sid": session_id})
    return (last or 0) + 1


def message_values(
    session_id: str, seq: int, role: str, text: str, intent: dict | None, timings: dict | None
) -> dict[str, Any]:
    """A new message row's columns: cleaned text and JSON columns (created_at is the table's default)."""
    if role not in ("user", "assistant"):
        raise ValueError(f"message role must be 'user' or 'assistant', got {role!r}")
    return {
        "session_id": session_id,
        "seq": seq,
        "role": role,
        "text": clean(text),
        "intent": None if intent is None else dumps(intent),
        "timings": None if timings is None else dumps(timings),
    }


def new_message(
    session_id: str, seq: int, role: str, text: str, intent: dict | None, timings: dict | None
) -> DbMessage:
    """A new message row with cleaned text and JSON columns."""
    return DbMessage(**message_values(session_id, seq, role, text, intent, timings))


def _sessions_where(column: Any) -> Any:
    """SessionInfo columns of the sessions whose `column` equals the bound "key", most recently active first."""
    # Correlated, so each session counts its own messages through the (session_id, seq) index.
    n = select(func.count()).where(DbMessage.session_id == DbSession.session_id).scalar_subquery()
    t = DbSession.__table__.c
    return (
        select(t.session_id, t.user_id, t.title, t.created_at, t.updated_at, t.state, n)
        .where(column == bindparam("key"))
        .order_by(t.updated_at.desc(), t.created_at.desc(), t.session_id)
    )


# Columns, not ORM objects, from statements built once: every turn reads its session (the ORM cost ~0.3 ms more).
_SESSION_BY_ID = _sessions_where(DbSession.session_id)
_SESSIONS_OF_USER = _sessions_where(DbSession.user_id)


def session_infos(conn: Connection, by: str, key: str) -> list[SessionInfo]:
    """SessionInfo for one session (`by` "session") or a user's sessions ("user"), most recently active first."""
    rows = conn.execute(_SESSION_BY_ID if by == "session" else _SESSIONS_OF_USER, {"key": key})
    return [
        SessionInfo(session_id, user_id, title, utc(created), utc(updated), read_state(state, session_id), count)
        for session_id, user_id, title, created, updated, state, count in rows
    ]


def read_state(raw: str, session_id: str) -> DialogueState:
    """The stored state, or a fresh one (logged) if the row cannot be read, so the session stays usable."""
    try:
        return DialogueState.from_dict(json.loads(raw))
    except (ValueError, TypeError):
        log.warning("session %s: unreadable state, starting from an empty one", session_id[:6])
        return DialogueState()
