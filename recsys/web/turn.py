"""One chat turn on the page: the streamed answer (cards, reply, why-panel) after the browser's echo, the side panels
after it, and /send, the same turn, echo included, in one call for API clients.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import gradio as gr

from ..core.errors import SessionNotFound
from ..core.types import TurnEvent
from ..replies import clean_text
from .html import chat_message, state_text, why_markdown, why_message, why_rows
from .loading import EngineNotReady
from .updates import Screen

if TYPE_CHECKING:  # the page imports no model code: the engine loads after it is served
    from ..engine import Engine

log = logging.getLogger(__name__)

STARTING = "One moment: I am still loading the films (a few seconds after a start)…"
STARTING_FAILED = "Sorry, the recommender could not start; the host has been told. Please try again later."
PLACEHOLDER = "…"  # where the answer will come, under the echoed message (the browser's echo writes it too)
STREAM_EVERY_S = 0.1  # a streamed reply updates the page at most 10 times a second (each update costs a server pass)


def without_echo(history: list) -> list:
    """The history without its last message and the "…" placeholder after it, when it ends with them (an echo)."""
    last, before = (history[-1], history[-2]) if len(history) >= 2 else ({}, {})
    if before.get("role") == "user" and last.get("role") == "assistant" and _text(last) == PLACEHOLDER:
        return history[:-2]
    return history


def _text(message: dict) -> str:
    """A message's text, from Gradio's form (a list of parts) or a plain string."""
    content = message.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


class Turns:
    """Handlers that answer a message (the browser has echoed it): stream the engine's turn into the chat and cards."""

    def __init__(self, engine: Engine, screen: Screen) -> None:
        """Turns over the engine, answering into the page's components."""
        self.engine = engine
        self.screen = screen
        self.page = screen.page

    def with_echo(self, text: str, history: list) -> tuple[str, list]:
        """(cleaned text, history + the echoed message + a "…" placeholder for the reply).

        Cleaned before anything is echoed: a lone surrogate or control character in the page's update would
        break Gradio's event stream (orjson refuses it) and lose the turn. The echo is cut at the limit the
        engine enforces (it answers an over-long message with a friendly refusal)."""
        text = clean_text(text)
        limit = self.engine.settings.max_message_chars
        echo = text if len(text) <= limit else text[:limit] + "…"
        return text, list(history or []) + [chat_message("user", echo), {"role": "assistant", "content": PLACEHOLDER}]

    def send(
        self,
        text: str,
        saved: list,
        history: list,
        shown_ids: list,
        mapping: dict,
        on_screen: list,
        request: gr.Request,
    ) -> Iterator[dict]:
        """/send for API clients: one whole turn, echo included (the page runs echo, then turn)."""
        p = self.page
        text, saved = self.unwire(p.box, text), self.unwire(p.ids, saved)
        text, history = self.with_echo(text, self.unwire(p.chatbot, history))
        for out in self.updates(text, saved, history, shown_ids, mapping, on_screen, request):
            yield self.wire(out)

    @staticmethod
    def unwire(comp: gr.components.Component, value: object) -> object:
        """An input as the handler would get it from Gradio: validated and preprocessed by its component, here.

        The turn's events run with preprocess=False, for the reason given in `wire` (a thread switch per input)."""
        if comp.stateful:
            return value
        if comp.data_model is not None and value is not None:
            value = comp.data_model.model_validate(value, context={"validate_meta": True})
        return comp.preprocess(value)

    @staticmethod
    def wire(out: dict) -> dict:
        """An update as Gradio sends it: each plain value through its component's own postprocess, here.

        The turn's events run with preprocess=False and postprocess=False (events.py): Gradio would otherwise hand
        every input and output to a worker thread of its own, a dozen thread switches per update (ten card
        slots), and on 2 cores those switches cost the server more than the turn's ranking. Updates (gr.update,
        gr.skip) and State values go as they are, as Gradio sends them; with postprocess off Gradio leaves an
        update's value as it is too, so a value put in an update must already be what its component's
        postprocess makes of it (the page's are: tests/test_turn_wire.py)."""
        sent = {}
        for comp, value in out.items():
            if not (comp.stateful or (isinstance(value, dict) and "update" in value.get("__type__", ""))):
                value = comp.postprocess(value)
                value = value.model_dump() if hasattr(value, "model_dump") else value  # Chatbot: its data model
            sent[comp] = value
        return sent

    def turn(
        self,
        text: str,
        saved: list,
        history: list,
        shown_ids: list,
        mapping: dict,
        on_screen: list,
        request: gr.Request,
    ) -> Iterator[dict]:
        """Stream one turn, as Gradio sends it, into a history that ends with the browser's echo of the message
        (events.echo_js): the server's echo takes its place first, the text cleaned and cut as the engine reads it
        (the browser's is only shown until the first update)."""
        p = self.page
        text, saved = self.unwire(p.pending, text), self.unwire(p.ids, saved)
        text, history = self.with_echo(text, without_echo(self.unwire(p.chatbot, history)))
        for out in self.updates(text, saved, history, shown_ids, mapping, on_screen, request):
            yield self.wire(out)

    def updates(
        self,
        text: str,
        saved: list,
        history: list,
        shown_ids: list,
        mapping: dict,
        on_screen: list,
        request: gr.Request,
    ) -> Iterator[dict]:
        """Stream one turn into a history that already ends with its echo: cards as soon as items are chosen,
        the reply as it is written (at most every STREAM_EVERY_S), then the why-panel and reasons. With the
        template explainer all of it is ready at once, so it goes in one update (each costs the server ~5 ms).

        Every update gives the cards' HTML again: a re-sent value costs nothing (Gradio streams diffs), while
        an output an update leaves out is rebuilt on the server each time."""
        p = self.page
        history, mapping = list(history or []), dict(mapping or {})
        shown_cards = self.screen.same_cards(on_screen)
        last = 0.0
        streams = self.engine.settings.explainer == "generate"  # fact-built reasons come at once: one update
        try:
            if not getattr(self.engine, "ready", True):  # the served page is still loading the engine
                history[-1] = chat_message("assistant", STARTING)
                yield {p.chatbot: history, **shown_cards}
            session_id = self.screen.current(saved, request)
            for event in self.engine.respond(session_id, text):
                if event.kind == "items" and streams:
                    shown_cards = self.screen.cards([(r.item, "") for r in event.items])
                    yield {p.chatbot: history, p.shown: [r.item.item_id for r in event.items], **shown_cards}
                elif event.kind == "text" and streams and time.monotonic() - last >= STREAM_EVERY_S:
                    last = time.monotonic()
                    history[-1] = chat_message("assistant", event.text)
                    yield {p.chatbot: history, **shown_cards}
                elif event.kind == "done":
                    yield {**shown_cards, **self.answered(event, history, mapping)}
        except SessionNotFound:
            history[-1] = chat_message("assistant", "This conversation no longer exists; click “New conversation”.")
            yield {p.chatbot: history, **shown_cards}
        except EngineNotReady:
            history[-1] = chat_message("assistant", STARTING_FAILED)
            yield {p.chatbot: history, **shown_cards}
        except Exception:  # the UI never shows raw errors
            log.exception("send failed")
            history[-1] = chat_message("assistant", "Sorry, something went wrong on my side. Please try again.")
            yield {p.chatbot: history, **shown_cards}

    def answered(self, event: TurnEvent, history: list, mapping: dict) -> dict:
        """The turn's last update: the final reply with its why-panel, the cards with their reasons, the
        constraints; history and mapping gain the answer's messages (a reset clears the cards too)."""
        p = self.page
        history[-1] = chat_message("assistant", event.text)
        out: dict = {}
        if event.items:
            item_ids = [r.item.item_id for r in event.items]
            mapping[str(len(history) - 1)] = item_ids
            history.append(
                why_message(
                    why_markdown(
                        event.intent.to_dict() if event.intent else None,
                        event.details.get("constraints", ""),
                        event.details.get("candidates"),
                        event.details.get("mmr_lambda"),
                        why_rows(event.items, event.details),
                    )
                )
            )
            mapping[str(len(history) - 1)] = item_ids
            out.update(self.screen.cards([(r.item, r.reason) for r in event.items]))
            out[p.shown] = item_ids
        elif event.intent is not None and event.intent.intent == "reset":
            out.update(self.screen.cards([]))
            out[p.shown] = []
        return {
            p.chatbot: history,
            p.answers: mapping,
            p.follow_row: gr.update(visible=bool(event.items)),
            p.state_md: state_text(event.state),
            **out,
        }

    def side_after_turn(self, saved: list, request: gr.Request) -> dict:
        """The side panels after a turn (the session may be gone: then nothing changes); the browser unlocks the
        box after it (events.py)."""
        saved = self.unwire(self.page.ids, saved)
        try:
            return self.wire(self.screen.side(self.screen.current(saved, request)))
        except SessionNotFound:
            return self.wire({self.page.status: gr.skip()})
