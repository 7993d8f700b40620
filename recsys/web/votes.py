"""Votes on the page: a card's 👍/👎, the Chatbot's 👍/👎 under an answer (every film in it), and votes taken back."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import gradio as gr

from ..core.errors import RecsysError
from .html import card_html, esc
from .updates import Screen

if TYPE_CHECKING:  # the page imports no model code: the engine loads after it is served
    from ..engine import Engine


class Votes:
    """Handlers that record or take back a person's 👍/👎 (each answers with the taste panel and a status line)."""

    def __init__(self, engine: Engine, screen: Screen) -> None:
        """Votes recorded through the engine, shown in the page's components."""
        self.engine = engine
        self.screen = screen
        self.page = screen.page

    def vote(self, slot: int, liked: bool) -> Callable[..., dict]:
        """Handler for one card's 👍/👎."""

        def handler(saved: list, shown_ids: list, on_screen: list, request: gr.Request) -> dict:
            """Record the vote on the card in this slot and mark the card with it."""
            return self.card_vote(slot, liked, saved, shown_ids, on_screen, request)

        return handler

    def card_vote(
        self, slot: int, liked: bool, saved: list, shown_ids: list, on_screen: list, request: gr.Request
    ) -> dict:
        """Like or dislike the film in a card slot; the card then says so."""
        p = self.page
        if slot >= len(shown_ids or []):
            return {p.status: "That card is gone; ask again for fresh picks."}
        item = self.engine.catalog.get(shown_ids[slot])
        try:
            session_id = self.screen.current(saved, request)
            self.engine.feedback(session_id, shown_ids[slot], liked)
        except RecsysError as exc:
            return {p.status: esc(exc)}
        note = "👍 liked: more like this" if liked else "👎 noted: it won't come back"
        values = list(self.screen.same_cards(on_screen).values())
        values[slot] = card_html(item, "", note)
        return {
            p.htmls[slot]: values[slot],
            p.card_state: values,
            **self.screen.taste(session_id),
            p.status: f"{'👍' if liked else '👎'} {esc(item.label())}",
        }

    def on_like(self, saved: list, mapping: dict, data: gr.LikeData, request: gr.Request) -> dict:
        """The Chatbot's own 👍/👎 under an answer rates every film in it (👎: none of them comes back)."""
        p = self.page
        index = data.index if isinstance(data.index, int) else data.index[0]
        item_ids = (mapping or {}).get(str(index), [])
        if data.liked not in (True, False) or not item_ids:
            return {p.status: "That message has no films to rate." if not item_ids else ""}
        try:
            session_id = self.screen.current(saved, request)
            for item_id in item_ids:
                self.engine.feedback(session_id, item_id, bool(data.liked))
        except RecsysError as exc:
            return {p.status: esc(exc)}
        mark = "👍 liked" if data.liked else "👎 disliked"
        return {p.status: f"{mark} all {len(item_ids)} films of that answer.", **self.screen.taste(session_id)}

    def unvote(self, saved: list, ticked: list, request: gr.Request) -> dict:
        """Take back the ticked votes (Engine.remove_feedback)."""
        try:
            session_id = self.screen.current(saved, request)
            for item_id in ticked or []:
                self.engine.remove_feedback(session_id, item_id)
        except RecsysError as exc:
            return {self.page.status: esc(exc)}
        return {**self.screen.taste(session_id), self.page.status: f"Took back {len(ticked or [])} vote(s)."}
