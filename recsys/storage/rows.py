"""What the Store hands back (frozen rows), and how values are made safe to store and read back.

    clean("a\x00b")                  # -> "ab": text any backend stores
    dumps({"intent": "recommend"})   # JSON text for a JSON column; loads() is its inverse

Kept apart from store.py so the pages and the engine can name the rows without the store's machinery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..core.types import DialogueState

TITLE_CHARS = 40  # auto-titles fit a sidebar row


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
    evidence: dict | None = None  # why it ranked (Evidence.to_dict()); None for turns stored before it was kept


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


# --- values -----------------------------------------------------------------------------------------------------
def clean(value: str) -> str:
    """Text any backend stores: NUL removed (PostgreSQL rejects it), unpaired surrogates replaced."""
    value = str(value).replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def dumps(data: Any) -> str:
    """JSON text for a JSON column (control characters come out escaped, so NUL is safe)."""
    return clean(json.dumps(data, ensure_ascii=False, default=str))


def loads(raw: str | None) -> Any:
    """Inverse of _dumps; None stays None."""
    return None if raw is None else json.loads(raw)


def title_from(text_: str) -> str:
    """A session title from its first message: whitespace collapsed, cut at a word near TITLE_CHARS."""
    words = " ".join(text_.split())
    if len(words) <= TITLE_CHARS:
        return words
    cut = words[:TITLE_CHARS].rsplit(" ", 1)[0] if " " in words[:TITLE_CHARS] else words[:TITLE_CHARS]
    return cut.rstrip(" ,.;:-") + "…"


def utc(value: datetime) -> datetime:
    """Timezone-aware UTC (SQLite hands back naive datetimes)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def first_line(error: BaseException | None) -> str:
    """The first line of a driver error: enough to act on, without SQL or parameters."""
    return str(error).strip().splitlines()[0] if error is not None and str(error).strip() else "unknown error"


def is_key(value: object) -> bool:
    """True when a caller's id could be a stored key: a str of 1-255 characters any backend can compare (no NUL,
    no lone surrogates), so hostile ids are simply "not found" rather than driver errors."""
    if not isinstance(value, str) or not 1 <= len(value) <= 255 or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
