"""The one object that wires catalog, index, generator and store, and runs a turn.

    engine = Engine.load(Settings.from_env())
    sid = engine.new_session()
    for event in engine.respond(sid, "a funny sci-fi film, nothing scary"):
        ...  # TurnEvent: "items", then "text" (whole reply so far), then "done"
    engine.feedback(sid, item_id, liked=False)
"""
from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import nullcontext

import numpy as np

from .catalog import Catalog, load_catalog
from .config import Settings
from .dialogue import apply_intent, describe, filters_for
from .errors import RecsysError
from .explain import TitleGuard, explain
from .index import ItemIndex, SentenceEncoder
from .intent import LexiconParser
from .llm import load_generator
from .store import SessionInfo, Store
from .types import DialogueState, Intent, Item, Recommendation, TurnEvent

log = logging.getLogger(__name__)

PROFILE_WEIGHT = 0.25  # how far liked/disliked films pull the ranking (cosine units); relevance stays first
POPULARITY_WEIGHT = 0.05  # a light prior so ties go to films people know

REPLIES = {
    "empty": "Tell me what you're in the mood for — a genre, a decade, a film you loved — and I'll suggest a few.",
    "too_long": "That message is too long for me (over {limit} characters). Could you say it in a sentence or two?",
    "chitchat": "Happy to chat! I'm best at films, though: tell me a mood, a genre or a decade and I'll find a few.",
    "reset": "Fresh start: constraints cleared. What are you in the mood for?",
    "ask": "I can't answer questions about a particular film yet, but I can find you more like it: tell me what you'd like.",
    "feedback": "Thanks, noted. Use 👍 / 👎 on a card to teach me; ask again and I'll steer by it.",
    "nothing": "Nothing in the catalog matches all of that ({constraints}). Try loosening a constraint, or say “start over”.",
    "error": "Sorry, something went wrong on my side. Your conversation is safe; please try again.",
}


def clean_text(text: object) -> str:
    """Message text safe to parse and store: str, NFC, control characters (but newlines) removed, trimmed."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return re.sub(r"[ \t]+", " ", text).strip()


class Engine:
    """Owns the parts; `respond` runs one turn, `feedback` records a like or dislike."""

    def __init__(self, settings: Settings, catalog: Catalog, index: ItemIndex, generator, store: Store) -> None:
        self.settings = settings
        self.catalog = catalog
        self.index = index
        self.generator = generator
        self.store = store
        newest = int(np.nanmax(catalog.years)) if len(catalog) and np.isfinite(catalog.years).any() else 2014
        self.parser = LexiconParser(catalog.genres, newest_year=newest)
        self.guard = TitleGuard(item.title for item in catalog.items)
        # A local model computes one reply at a time anyway; serialising avoids thread-unsafe generate calls.
        self._gen_lock = nullcontext() if getattr(generator, "thread_safe", False) else threading.Lock()
        self._session_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @classmethod
    def load(cls, settings: Settings, progress: bool = True) -> Engine:
        """Build or load every part, logging each step (the first run builds caches, later runs reuse them)."""
        t0 = time.perf_counter()
        log.info("loading catalog %r", settings.catalog)
        catalog = load_catalog(settings.catalog, settings.cache, progress=progress)
        log.info("catalog: %d items, %d genres", len(catalog), len(catalog.genres))
        encoder = SentenceEncoder(settings.embed_model, device=settings.device)
        index = ItemIndex.build(catalog, encoder, settings.cache, progress=progress)
        log.info("loading generator %r", settings.generator)
        generator = load_generator(settings)
        store = Store(settings.database_url)
        log.info("engine ready in %.1f s", time.perf_counter() - t0)
        return cls(settings, catalog, index, generator, store)

    # --- sessions -------------------------------------------------------------------------------------------
    def new_session(self, user_id: str | None = None) -> str:
        """A fresh session for a (possibly new) user; returns its unguessable id."""
        user = self.store.ensure_user(user_id)
        return self.store.create_session(user, title="New chat")

    def session(self, session_id: str) -> SessionInfo:
        """Session metadata and dialogue state (SessionNotFound if absent)."""
        return self.store.get_session(session_id)

    def _lock(self, session_id: str) -> threading.Lock:
        """One turn at a time per session, so state read-modify-write never interleaves."""
        with self._locks_guard:
            return self._session_locks.setdefault(session_id, threading.Lock())

    # --- a turn ---------------------------------------------------------------------------------------------
    def respond(self, session_id: str, text: object) -> Iterator[TurnEvent]:
        """Run one turn: parse, retrieve with hard filters, rerank, explain (streamed), store."""
        info = self.store.get_session(session_id)  # raises SessionNotFound before anything else
        with self._lock(session_id):
            try:
                yield from self._turn(info, clean_text(text))
            except RecsysError:
                raise
            except Exception:
                log.exception("turn failed in session %s", session_id[:6])
                reply = REPLIES["error"]
                try:
                    self.store.record_turn(session_id, clean_text(text)[: self.settings.max_message_chars],
                                           reply, None, [], info.state, None)
                except Exception:
                    log.exception("could not store the failed turn")
                yield TurnEvent("done", text=reply)

    def _canned(self, info: SessionInfo, text: str, reply: str, intent: Intent | None,
                state: DialogueState | None = None) -> Iterator[TurnEvent]:
        """A turn answered without recommendations (empty, chit-chat, reset...)."""
        stored = text[: self.settings.max_message_chars]
        self.store.record_turn(info.session_id, stored, reply, intent.to_dict() if intent else None, [],
                               state or info.state, None)
        yield TurnEvent("text", text=reply, intent=intent)
        yield TurnEvent("done", text=reply, intent=intent)

    def _turn(self, info: SessionInfo, text: str) -> Iterator[TurnEvent]:
        """The turn proper; exceptions are handled by respond."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        limit = self.settings.max_message_chars
        if not text:
            yield from self._canned(info, text, REPLIES["empty"], None)
            return
        if len(text) > limit:
            yield from self._canned(info, text, REPLIES["too_long"].format(limit=limit), None)
            return
        intent = self.parser.parse(text)
        timings["parse"] = _ms(t0)
        state = info.state
        if intent.intent in ("chitchat", "ask", "feedback"):
            yield from self._canned(info, text, REPLIES[intent.intent], intent)
            return
        last_years = [it.year for it in self._items(state.last_ids) if it.year]
        state = apply_intent(state, intent, text, last_years, self.settings.count, self.settings.max_count)
        if intent.intent == "reset":
            yield from self._canned(info, text, REPLIES["reset"], intent, state)
            return

        t = time.perf_counter()
        query = state.query or " ".join(state.genres_include)
        found = self.index.search(query, filters_for(state), self.settings.candidates)
        timings["search"] = _ms(t)
        if not found:
            reply = REPLIES["nothing"].format(constraints=describe(state) or "your constraints")
            yield from self._canned(info, text, reply, intent, state)
            return
        t = time.perf_counter()
        recs = self.rank(found, state, state.count)
        timings["rank"] = _ms(t)
        yield TurnEvent("items", items=tuple(recs), intent=intent)

        t = time.perf_counter()
        reply, reasons = "", [""] * len(recs)
        with self._gen_lock:
            for reply, reasons in explain(self.generator, text, recs, self.guard,
                                          max_new_tokens=self.settings.max_new_tokens):
                timings.setdefault("first_text", _ms(t0))
                yield TurnEvent("text", text=reply, items=tuple(recs), intent=intent)
        timings["explain"] = _ms(t)
        recs = [Recommendation(r.item, r.score, r.relevance, reason) for r, reason in zip(recs, reasons)]

        ids = tuple(r.item.item_id for r in recs)
        state = state.evolve(shown_ids=state.shown_ids + ids, last_ids=ids)
        timings["total"] = _ms(t0)  # stored with the reply; the store's own write time is logged below
        t = time.perf_counter()
        self.store.record_turn(info.session_id, text, reply, intent.to_dict(),
                               [(r.item.item_id, r.score, r.reason) for r in recs], state, dict(timings))
        timings["store"] = _ms(t)
        log.info("turn %s: %d items, %s", info.session_id[:6], len(recs),
                 " ".join(f"{k}={v:.0f}ms" for k, v in timings.items()))
        yield TurnEvent("done", text=reply, items=tuple(recs), intent=intent, timings_ms=timings)

    def rank(self, found: Sequence[tuple[Item, float]], state: DialogueState, k: int) -> list[Recommendation]:
        """Relevance + the person's liked/disliked profile + a popularity prior, then MMR for diversity."""
        items = [item for item, _ in found]
        relevance = np.array([score for _, score in found], dtype=np.float32)  # (C,)
        vectors = self.index.vectors_for([it.item_id for it in items])  # (C, d), unit rows
        score = relevance.copy()
        for ids, sign in ((state.liked_ids, 1.0), (state.disliked_ids, -1.0)):
            known = [i for i in ids if self.catalog.get(i) is not None]
            if known:
                centroid = self.index.vectors_for(known).mean(axis=0)  # (d,)
                score += sign * PROFILE_WEIGHT * (vectors @ centroid)
        popularity = np.array([self.catalog.popularity[self.catalog.position(it.item_id)] for it in items])
        score += POPULARITY_WEIGHT * popularity.astype(np.float32)
        chosen = mmr(score, vectors, k, self.settings.mmr_lambda)
        return [Recommendation(items[i], float(score[i]), float(relevance[i])) for i in chosen]

    # --- feedback and history ---------------------------------------------------------------------------------
    def feedback(self, session_id: str, item_id: str, liked: bool, source: str = "button") -> DialogueState:
        """Record a like or dislike; the next turn respects it (a disliked item never comes back)."""
        if self.catalog.get(item_id) is None:
            raise RecsysError(f"unknown item {item_id!r}")
        with self._lock(session_id):
            info = self.store.get_session(session_id)
            self.store.add_feedback(session_id, item_id, bool(liked), source=source)
            liked_ids = tuple(i for i in info.state.liked_ids if i != item_id)
            disliked_ids = tuple(i for i in info.state.disliked_ids if i != item_id)
            if liked:
                liked_ids += (item_id,)
            else:
                disliked_ids += (item_id,)
            state = info.state.evolve(liked_ids=liked_ids, disliked_ids=disliked_ids)
            self.store.save_state(session_id, state)
            return state

    def history(self, session_id: str):
        """Messages of a session, oldest first, with the items shown."""
        return self.store.history(session_id)

    def _items(self, ids: Sequence[str]) -> list[Item]:
        """Catalog items for ids, skipping any no longer in the catalog."""
        return [it for it in (self.catalog.get(i) for i in ids) if it is not None]


def mmr(score: np.ndarray, vectors: np.ndarray, k: int, lam: float) -> list[int]:
    """Maximal marginal relevance: greedily pick high score, low similarity to what is already picked."""
    chosen: list[int] = []
    max_sim = np.full(len(score), -np.inf, dtype=np.float32)  # (C,) similarity to the closest chosen
    for _ in range(min(k, len(score))):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        value = lam * score - (1.0 - lam) * penalty
        value[chosen] = -np.inf
        best = int(np.argmax(value))
        chosen.append(best)
        max_sim = np.maximum(max_sim, vectors @ vectors[best])
    return chosen


def _ms(since: float) -> float:
    """Milliseconds since a perf_counter reading."""
    return (time.perf_counter() - since) * 1000.0
