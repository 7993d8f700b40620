"""What the page shows for a session, as Gradio updates keyed by component: the whole page, the side panels, the cards,
and the lock on sending while an answer is on its way; also which session and person a request's ids stand for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import gradio as gr

from ..core.types import DialogueState, Item
from .accounts import login_name, own_session, owner_of, saved_ids
from .html import card_html, session_choices, state_text, taste_view
from .layout import Page
from .views import WELCOME, first_visit_cards, taste_of, transcript

if TYPE_CHECKING:  # the page imports no model code: the engine loads after it is served
    from ..engine import Engine


def merged(out: dict, extra: dict) -> dict:
    """out with extra's updates on top; a component in both keeps out's value and gets extra's props."""
    for comp, update in extra.items():
        if comp in out:
            old = out[comp]
            base = old if isinstance(old, dict) and old.get("__type__") == "update" else gr.update(value=old)
            update = {**base, **update}
        out[comp] = update
    return out


class Screen:
    """The updates every handler sends, built from the engine's data for the layout's components."""

    def __init__(self, engine: Engine, page: Page) -> None:
        """Updates from this engine's data for this page's components."""
        self.engine = engine
        self.page = page
        self.genres = list(engine.catalog.genres)

    def current(self, saved: object, request: gr.Request | None) -> str:
        """The page's session id, if the caller may use it (SessionNotFound otherwise; see own_session)."""
        return own_session(self.engine.store, saved_ids(saved)[1], login_name(request)).session_id

    def owner(self, saved: object, request: gr.Request | None) -> str | None:
        """Whose page this is: the login's id, or the browser's if we minted it (see accounts.owner_of)."""
        return owner_of(self.engine.store, saved_ids(saved)[0], login_name(request))

    def cards(self, recs: Sequence[tuple[Item, str]]) -> dict:
        """Every slot's HTML (a card for each of recs, empty so hidden for the rest) and card_state."""
        values = [card_html(*recs[i]) if i < len(recs) else "" for i in range(self.page.slots)]
        return {**dict(zip(self.page.htmls, values)), self.page.card_state: values}

    def same_cards(self, on_screen: object) -> dict:
        """The slots' HTML as last sent, to send again: an output an update leaves out is rebuilt on the
        server (a re-sent value costs nothing: Gradio streams diffs)."""
        ok = isinstance(on_screen, list) and len(on_screen) == self.page.slots
        values = list(on_screen) if ok else [""] * self.page.slots
        return dict(zip(self.page.htmls, values))

    def controls(self, state: DialogueState) -> dict:
        """Controls mirroring the dialogue state (after a turn, a changed constraint in words shows here)."""
        p = self.page
        lam = state.diversity(self.engine.settings.mmr_lambda)
        return {
            p.count_sl: state.count,
            p.lam_sl: lam,
            p.ymin: state.year_min,
            p.ymax: state.year_max,
            p.gex: [g for g in state.genres_exclude if g in self.genres],
        }

    def taste(self, session_id: str) -> dict:
        """Just the taste panel, after a vote."""
        taste_text, votes = taste_view(self.engine.catalog, taste_of(self.engine, session_id))
        return {self.page.taste_md: taste_text, self.page.taste_votes: gr.update(choices=votes, value=[])}

    def side(self, session_id: str) -> dict:
        """Session list, title, taste panel and constraints for the current session (no export file: those
        are written only on a download click)."""
        p = self.page
        info = self.engine.session(session_id)
        choices = session_choices(self.engine.store.list_sessions(info.user_id), session_id)
        return {
            p.sessions: gr.update(choices=choices, value=session_id),
            p.title_box: info.title,
            p.md_dl: None,
            p.json_dl: None,
            **self.taste(session_id),
            p.state_md: state_text(info.state),
            **self.controls(info.state),
        }

    def sending(self, allowed: bool) -> dict:
        """The box, Send, the example chips and whatever opens another conversation, on or off: off from a
        message's echo until its answer is there. A second message's turn would start from a history without
        the first answer and hide it; another conversation opened meanwhile would get the answer's updates.
        A turn's lock and unlock are these updates run in the browser (events.sending_js); the server sends them
        when it shows a whole page."""
        p = self.page
        return {
            p.box: gr.update(interactive=allowed, autofocus=allowed),
            **{c: gr.update(interactive=allowed) for c in (p.send_btn, *p.chips, *p.switches)},
        }

    def whole(self, session_id: str, note: str = "") -> dict:
        """Every part of the page for a session: history with why-panels, the last cards, the side panels."""
        p = self.page
        info = self.engine.session(session_id)
        history, mapping, recs = transcript(self.engine, session_id)
        if not history:
            recs = first_visit_cards(self.engine, session_id, info.user_id, p.slots)
            note = note or (WELCOME if recs else "")
        return merged(
            {
                p.ids: [info.user_id, session_id],
                p.chatbot: history,
                p.answers: mapping,
                p.shown: [it.item_id for it, _ in recs],
                p.status: note,
                p.follow_row: gr.update(visible=bool(history)),
                **self.cards(recs),
                **self.side(session_id),
            },
            self.sending(True),
        )
