"""The conversation handlers: open the page's session, resume, start, rename and delete one, export it, forget the
person, and save a control's value into the session's dialogue state.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from ..core.errors import RecsysError, SessionNotFound
from .accounts import login_name, login_user, own_session, owner_of, saved_ids
from .export import ExportFiles, write_export
from .html import esc, state_text
from .updates import Screen

if TYPE_CHECKING:  # the page imports no model code: the engine loads after it is served
    from ..engine import Engine

log = logging.getLogger(__name__)

GONE = "This conversation no longer exists; click “New conversation”."


class Sessions:
    """Handlers that open, change or delete a person's conversations (each answers with page updates)."""

    def __init__(self, engine: Engine, screen: Screen, exports: ExportFiles) -> None:
        """Handlers over the engine, the page's updates and the record of export files handed out."""
        self.engine = engine
        self.screen = screen
        self.page = screen.page
        self.exports = exports

    def open_session(self, saved: list, request: gr.Request) -> dict:
        """On page load: resume the browser's session (history and cards), or start a new one."""
        store, name = self.engine.store, login_name(request)
        user_id, session_id = saved_ids(saved)
        try:
            info = own_session(store, session_id, name) if session_id else None
        except SessionNotFound:
            info = None
        if info is None:
            session_id = self.engine.new_session(owner_of(store, user_id, name))
        return self.screen.whole(info.session_id if info else session_id)

    def resume(self, saved: list, session_id: str, request: gr.Request) -> dict:
        """Open another of the person's sessions from the list (their own only)."""
        mine = self.screen.owner(saved, request)
        try:
            if not session_id or own_session(self.engine.store, session_id, login_name(request)).user_id != mine:
                return {self.page.status: "That conversation is not available."}
        except SessionNotFound:
            return {self.page.status: "That conversation no longer exists."}
        return self.screen.whole(session_id)

    def new_conversation(self, saved: list, request: gr.Request) -> dict:
        """A fresh session for the same person."""
        return self.screen.whole(self.engine.new_session(self.screen.owner(saved, request)))

    def rename(self, saved: list, title: str, request: gr.Request) -> dict:
        """Rename the current session."""
        title = " ".join(str(title or "").split())[:80]
        if not title:
            return {self.page.status: "A title needs at least one character."}
        try:
            session_id = self.screen.current(saved, request)
            self.engine.store.rename_session(session_id, title)
        except SessionNotFound:
            return {self.page.status: GONE}
        return {**self.screen.side(session_id), self.page.status: f"Renamed to “{esc(title)}”."}

    def delete(self, saved: list, request: gr.Request) -> dict:
        """Delete the current session, then open the person's most recent other one (or a new one)."""
        store = self.engine.store
        mine = self.screen.owner(saved, request)
        try:
            store.delete_session(self.screen.current(saved, request))
        except SessionNotFound:
            pass
        left = [s for s in store.list_sessions(mine) if s.message_count] if mine else []
        target = left[0].session_id if left else self.engine.new_session(mine)
        return self.screen.whole(target, "Conversation deleted.")

    def forget(self, saved: list, request: gr.Request) -> dict:
        """Delete everything about this person (store.forget_user) and their export files; the page starts
        over as a new visitor (with a login: the same account, now empty)."""
        mine = self.screen.owner(saved, request)
        if mine:
            self.engine.store.forget_user(mine)
            self.exports.forget(mine, [self.page.md_dl.temp_files, self.page.json_dl.temp_files])
            log.info("forgot a user on request")
        fresh = self.engine.new_session(login_user(login_name(request)))  # a login keeps its (now empty) account
        return {
            **self.screen.whole(fresh, "Done: everything about you is deleted."),
            self.page.forget_box: gr.update(visible=False),
        }

    def export(self, fmt: str, button: gr.DownloadButton) -> Callable[..., dict]:
        """Handler writing one export when its button is clicked; the hidden download button then fetches it."""

        def handler(saved: list, request: gr.Request) -> dict:
            """Write the page's session as fmt into Gradio's cache and hand it to the download button."""
            try:
                info = own_session(self.engine.store, saved_ids(saved)[1], login_name(request))
                cached = self.cached_export(info.session_id, fmt, button)
            except SessionNotFound:
                return {button: None, self.page.status: GONE}
            self.exports.add(info.user_id, str(cached))
            return {button: cached, self.page.status: ""}

        return handler

    def cached_export(self, session_id: str, fmt: str, button: gr.DownloadButton) -> str | None:
        """One export file, straight into Gradio's cache (one copy, aged out by delete_cache); ours then goes."""
        folder = Path(tempfile.mkdtemp(prefix="recsys-export-"))
        try:
            return button.move_resource_to_block_cache(write_export(self.engine, session_id, fmt, folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def set_control(self, key: str) -> Callable[..., dict]:
        """Handler saving one control into the session's dialogue state; the next answer follows it."""

        def handler(saved: list, value: object, request: gr.Request) -> dict:
            """Save the control's new value (a refused one leaves the state as it was, and says why)."""
            try:
                state = self.engine.update_state(self.screen.current(saved, request), **{key: value})
            except RecsysError as exc:
                return {self.page.status: f"Not changed: {esc(exc)}"}
            return {self.page.state_md: state_text(state), self.page.status: ""}

        return handler
