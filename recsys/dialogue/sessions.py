"""Opening and reading sessions: store-only work that needs no model, shared by the engine and by the page that is
served while the engine loads (web/loading.LoadingEngine), so a visitor gets a session, its history and an enabled
message box at once instead of after the engine's ~10 s load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.types import DialogueState

if TYPE_CHECKING:
    from ..core.config import Settings
    from ..storage.rows import MessageRow, SessionInfo
    from ..storage.store import Store


class SessionDesk:
    """new_session, session and history over `self.store` and `self.settings` (set by the class that mixes it in)."""

    store: Store
    settings: Settings

    def new_session(self, user_id: str | None = None) -> str:
        """A fresh session for a (possibly new) user; returns its unguessable id."""
        user = self.store.ensure_user(user_id)
        # The host's default list length (RECSYS_COUNT) from the first message, not only after a reset.
        return self.store.create_session(user, title="New chat", state=DialogueState(count=self.settings.count))

    def session(self, session_id: str) -> SessionInfo:
        """Session metadata and dialogue state (SessionNotFound if absent)."""
        return self.store.get_session(session_id)

    def history(self, session_id: str) -> list[MessageRow]:
        """Messages of a session, oldest first, with the items shown."""
        return self.store.history(session_id)
