"""The one object that wires catalog, index, generator and store, and runs a turn.

engine = Engine.load(Settings.from_env())
sid = engine.new_session()
for event in engine.respond(sid, "a funny sci-fi film, nothing scary"):
    ...  # TurnEvent: "items", then "text" (whole reply so far), then "done"
engine.feedback(sid, item_id, liked=False)
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace

import numpy as np

from .catalog.catalog import Catalog
from .catalog.comentions import CoMentions
from .catalog.graph import Graph
from .core.config import Settings
from .core.errors import RecsysError
from .core.types import DialogueState, Intent, Item, Recommendation, TurnEvent
from .dialogue.answers import WHICH_FILM, answer_question, describe, feedback_line
from .dialogue.controls import apply_controls, clean_controls
from .dialogue.references import References
from .dialogue.sessions import SessionDesk
from .dialogue.state import apply_intent, with_vote, without_vote
from .explain.evidence import Evidence, collect
from .explain.explainer import explain
from .explain.grounding import TitleGuard
from .generation.late import ready as generator_ready
from .parts import load_parts
from .personal.head import Head
from .personal.serving import Personalizer, latest_votes
from .ranking.chooser import Chooser
from .ranking.learned import LearnedRanker
from .replies import REPLIES, clean_text, facts_only, panel
from .search.index import ItemIndex
from .storage.rows import SessionInfo
from .storage.store import Store
from .understanding.lexicon import LexiconParser
from .understanding.readers import comparison_titles

log = logging.getLogger(__name__)

LIKED_LINKS = 20  # the newest liked films a reason may link to (each is compared with every pick)


class Engine(SessionDesk):
    """Owns the parts; `respond` runs one turn, `feedback` records a like or dislike (sessions: SessionDesk)."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        index: ItemIndex,
        generator,
        store: Store,
        head: Head | None = None,
        comentions: CoMentions | None = None,
        ranker: LearnedRanker | None = None,
    ) -> None:
        """Wire the parts built by `load` (tests pass tiny ones); builds the graph, parser and reference resolver."""
        self.settings = settings
        self.catalog = catalog
        self.index = index
        self.generator = generator
        self.store = store
        newest = int(np.nanmax(catalog.years)) if len(catalog) and np.isfinite(catalog.years).any() else 2014
        self.graph = Graph.from_catalog(catalog)  # people <-> films, fuzzy titles and names (~1 s for 17k films)
        self.parser = LexiconParser(catalog.genres, newest_year=newest, graph=self.graph)
        self.references = References(catalog, self.graph)  # "the second one", "like Heat", titles named
        self._parser_gen = settings.parser == "merged"  # the generator helps parse (see parse_llm)
        if self._parser_gen:
            from .understanding.generator_parser import LLMParser, MergedParser

            self.parser = MergedParser(self.parser, LLMParser(generator, catalog.genres))
        self.guard = TitleGuard(item.title for item in catalog.items)
        # For a generator that cannot take calls from several threads (transformers'): one call at a time.
        self._gen_lock = threading.Lock()
        # Weak values: a lock lives while a call holds it, so ids sent once (or junk ids) never pile up here.
        self._session_locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
        self._locks_guard = threading.Lock()
        # The per-user head (personal/serving.py); without one, liked/disliked centroids steer the ranking
        # (tests' tiny engines).
        self.personal = Personalizer(head, catalog.items, index.vectors) if head is not None else None
        # Candidates and their order: co-mentions (None: that term is left out) and the learned ranker (None: the
        # hand-set blend).
        self.chooser = Chooser(settings, catalog, index, self.personal, comentions, ranker, self._votes)

    @classmethod
    def load(
        cls, settings: Settings, progress: bool = True, background_generator: bool = False, lazy: bool = False, **opened
    ) -> Engine:
        """Build or load every part (recsys/parts.py), logging each step; the first run builds the caches.
        `background_generator`: the page is served while the generator loads; `lazy`: the caller builds the fuzzy
        lookup tables later (graph.prepare(), the served page does once turns can start); `opened`: a store and
        catalog the caller has already (parts.load_parts)."""
        p = load_parts(settings, progress=progress, background_generator=background_generator, **opened)
        engine = cls(
            settings, p.catalog, p.index, p.generator, p.store, head=p.head, comentions=p.comentions, ranker=p.ranker
        )
        if not lazy:
            engine.graph.prepare()
        return engine

    def _generating(self) -> AbstractContextManager:
        """What a generator call holds: nothing for a generator that takes concurrent calls (llama.cpp's, which
        writes other sessions' reasons in the same steps; a server), else the engine's one-call-at-a-time lock.
        Asked at each call: a generator loaded in the background says what it is only once it is ready."""
        return nullcontext() if getattr(self.generator, "thread_safe", False) else self._gen_lock

    # --- sessions -------------------------------------------------------------------------------------------
    def _lock(self, session_id: str) -> threading.Lock:
        """One turn at a time per session, so state read-modify-write never interleaves."""
        with self._locks_guard:
            return self._session_locks.setdefault(session_id, threading.Lock())

    # --- a turn ---------------------------------------------------------------------------------------------
    def respond(self, session_id: str, text: object) -> Iterator[TurnEvent]:
        """Run one turn: parse, retrieve with hard filters, rerank, explain (streamed), store."""
        # Read inside the session's lock: a second message sent before the first is answered starts from the
        # state the first one stored. (Locks are weak: one made for a missing id is gone with this call.)
        with self._lock(session_id if isinstance(session_id, str) else ""):
            info = self.store.get_session(session_id)  # SessionNotFound before anything else
            try:
                yield from self._turn(info, clean_text(text))
            except RecsysError:
                raise
            except Exception:
                log.exception("turn failed in session %s", session_id[:6])
                reply = REPLIES["error"]
                try:
                    self.store.record_turn(
                        session_id,
                        clean_text(text)[: self.settings.max_message_chars],
                        reply,
                        None,
                        [],
                        info.state,
                        None,
                    )
                except Exception:
                    log.exception("could not store the failed turn")
                yield TurnEvent("done", text=reply, state=info.state)

    def _canned(
        self, info: SessionInfo, text: str, reply: str, intent: Intent | None, state: DialogueState | None = None
    ) -> Iterator[TurnEvent]:
        """A turn answered without recommendations (empty, chit-chat, reset...)."""
        stored, state = text[: self.settings.max_message_chars], state or info.state
        self.store.record_turn(info.session_id, stored, reply, intent.to_dict() if intent else None, [], state, None)
        yield TurnEvent("text", text=reply, intent=intent)
        yield TurnEvent("done", text=reply, intent=intent, state=state)

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
        with self._generating() if self._parser_gen else nullcontext():
            intent = self.parser.parse(text)
        timings["parse"] = _ms(t0)
        state = info.state
        if intent.intent == "chitchat":
            yield from self._canned(info, text, REPLIES["chitchat"], intent)
            return
        ack = ""  # "I liked Zoolander and Old School": say so, then recommend in the same reply
        compared = comparison_titles(text, intent.titles) if intent.feedback else []
        if compared and len(compared) < len(intent.titles):  # "hated The Notebook, something like Superbad"
            voted = tuple(t for t in intent.titles if t not in compared)
            ack, state = self._ask_or_feedback(info.session_id, state, replace(intent, intent="feedback", titles=voted))
            intent = replace(intent, intent="recommend", feedback=None, titles=tuple(compared))
        elif intent.intent == "feedback" and intent.feedback == "liked" and intent.titles and not intent.positions:
            ack, state = self._ask_or_feedback(info.session_id, state, intent)
            intent = replace(intent, intent="recommend")
        elif intent.intent in ("ask", "feedback"):
            reply, state = self._ask_or_feedback(info.session_id, state, intent)
            yield from self._canned(info, text, reply, intent, state)
            return
        elif intent.feedback and (intent.positions or intent.titles):  # "loved the first one, now something darker"
            _, state = self._ask_or_feedback(info.session_id, state, replace(intent, intent="feedback"))
        context, refs = self.references.context(state, intent)
        state = apply_intent(
            state, intent, text, default_count=self.settings.count, max_count=self.settings.max_count, context=context
        )
        if refs:  # "like Heat": never recommend Heat itself
            state = state.evolve(shown_ids=state.shown_ids + tuple(i for i in refs if i not in state.shown_ids))
        if intent.intent == "reset":
            yield from self._canned(info, text, REPLIES["reset"], intent, state)
            return
        yield from self._recommend(info, text, intent, state, refs, ack, timings, t0)

    def _recommend(
        self,
        info: SessionInfo,
        text: str,
        intent: Intent,
        state: DialogueState,
        refs: Sequence[str],
        ack: str,
        timings: dict[str, float],
        t0: float,
    ) -> Iterator[TurnEvent]:
        """Search, rank, explain and store one recommending turn; `ack` (thanks for films named) leads the reply."""
        t = time.perf_counter()
        query = state.query or " ".join(state.genres_include)
        found = self.candidates(state, query, named=refs)
        timings["search"] = _ms(t)
        if not found:
            reply = REPLIES["nothing"].format(constraints=describe(state) or "your constraints")
            yield from self._canned(info, text, reply, intent, state)
            return
        t = time.perf_counter()
        votes = self._votes(info.user_id, state)  # read once: the head and the reasons' liked films both use them
        recs = self.rank(found, state, state.count, user_id=info.user_id, query=query, named=refs, votes=votes)
        timings["rank"] = _ms(t)
        evidence = self._evidence(state, recs, comparison_titles(text, intent.titles), votes)
        vectors = self.index.vectors_for([r.item.item_id for r in recs])  # (k, d), unit rows
        details = panel(len(found), state, vectors, state.diversity(self.settings.mmr_lambda), evidence)
        yield TurnEvent("items", items=tuple(recs), intent=intent, details=details)

        t = time.perf_counter()
        reply, reasons = "", [""] * len(recs)
        # "template": fact-built reasons, no generator (fast mode); also while the generator still loads
        generate = self.settings.explainer == "generate" and generator_ready(self.generator)
        explanation = (
            explain(self.generator, text, recs, self.guard, self.settings.max_new_tokens, evidence)
            if generate
            else facts_only(recs, evidence)
        )
        with self._generating() if generate else nullcontext():
            for reply, reasons in explanation:  # noqa: B007 (the last reasons are kept after the loop)
                reply = f"{ack}\n\n{reply}" if ack else reply
                timings.setdefault("first_text", _ms(t0))
                yield TurnEvent("text", text=reply, items=tuple(recs), intent=intent)
        timings["explain"] = _ms(t)
        recs = [Recommendation(r.item, r.score, r.relevance, reason, r.personal) for r, reason in zip(recs, reasons)]
        # "generated" or "template" (built from the evidence) per pick: the panel and the eval report read it
        details["sources"] = list(getattr(explanation, "sources", ["template"] * len(recs)))
        stored = [{**why, "source": src} for why, src in zip(details["evidence"], details["sources"])]

        ids = tuple(r.item.item_id for r in recs)
        state = state.evolve(shown_ids=state.shown_ids + ids, last_ids=ids)
        timings["total"] = _ms(t0)  # stored with the reply; the store's own write time is logged below
        t = time.perf_counter()
        self.store.record_turn(
            info.session_id,
            text,
            reply,
            intent.to_dict(),
            [(r.item.item_id, r.score, r.reason, why) for r, why in zip(recs, stored)],
            state,
            dict(timings),
        )
        timings["store"] = _ms(t)
        log.info(
            "turn %s: %d items, %s",
            info.session_id[:6],
            len(recs),
            " ".join(f"{k}={v:.0f}ms" for k, v in timings.items()),
        )
        yield TurnEvent(
            "done", text=reply, items=tuple(recs), intent=intent, timings_ms=timings, details=details, state=state
        )

    def _evidence(
        self,
        state: DialogueState,
        recs: Sequence[Recommendation],
        compared: Sequence[str],
        votes: Sequence[tuple[str, bool]],
    ) -> list[Evidence]:
        """Why each pick ranked (explain/evidence.py): the request's constraints it meets, what it shares with the
        films this message compares to ("like Heat": `compared`, as written) and the person's liked films (newest
        first), the head's score. A title only mentioned ("also mention Titanic") or pointed at ("the second one")
        is no link: a reason that names it would say the person asked for it."""
        liked_ids = [i for i, v in latest_votes(votes) if v]
        liked = self.references.items(liked_ids[::-1][:LIKED_LINKS])
        named = self.references.items([i for i in (self.graph.match_title(t, fuzzy=False) for t in compared) if i])
        return [collect(r.item, state, liked, named, r.personal) for r in recs]

    def rank(
        self,
        found: Sequence[tuple[Item, float]],
        state: DialogueState,
        k: int,
        user_id: str | None = None,
        query: str = "",
        named: Sequence[str] = (),
        votes: Sequence[tuple[str, bool]] | None = None,
    ) -> list[Recommendation]:
        """The k recommendations among the candidates (ranking/chooser.py); `votes` as _votes gives them, if read."""
        return self.chooser.rank(found, state, k, user_id=user_id, query=query, named=named, votes=votes)

    def candidates(self, state: DialogueState, query: str, named: Sequence[str] = ()) -> list[tuple[Item, float]]:
        """What the ranking chooses from: the search under the hard filters plus co-mentions (ranking/chooser.py)."""
        return self.chooser.candidates(state, query, named)

    # --- the per-user head: support set, taste profile, onboarding ------------------------------------------------
    def _votes(self, user_id: str | None, state: DialogueState) -> list[tuple[str, bool]]:
        """(item_id, liked) oldest first: the user's stored feedback (source of truth), else the session state's."""
        if user_id:
            return [(row.item_id, row.liked) for row in self.store.user_feedback(user_id)]
        return [(i, True) for i in state.liked_ids] + [(i, False) for i in state.disliked_ids]

    def taste_profile(self, session_id: str) -> dict:
        """The person's taste as plain data: genres and people with the head's predicted rating (1..5) and its
        change from the prior ("change"), and the films liked and disliked. Without a head, only the films."""
        info = self.store.get_session(session_id)
        votes = latest_votes(self._votes(info.user_id, info.state))
        films = lambda liked: [
            {"item_id": it.item_id, "title": it.title, "year": it.year}  # noqa: E731
            for it in self.references.items([i for i, v in votes if v == liked])
        ]
        profile = {"genres": [], "people": [], "liked": films(True), "disliked": films(False), "votes": len(votes)}
        if self.personal is not None:
            profile.update(self.personal.taste(self.personal.params_for(info.user_id, votes)))
        return profile

    def onboarding_items(self, session_id: str, n: int = 5) -> list[Item]:
        """A few well-known films worth rating first (MeLU's evidence candidates: gradient norm x popularity),
        excluding anything the person already voted on or was shown; popular films without a head."""
        info = self.store.get_session(session_id)
        votes = self._votes(info.user_id, info.state)
        exclude = {i for i, _ in votes} | set(info.state.shown_ids)
        if self.personal is not None:
            return self.personal.onboarding(self.personal.params_for(info.user_id, votes), exclude, n)
        order = np.argsort(-self.catalog.popularity, kind="stable")
        return [self.catalog.items[p] for p in order if self.catalog.items[p].item_id not in exclude][:n]

    # --- feedback and history ---------------------------------------------------------------------------------
    def feedback(self, session_id: str, item_id: str, liked: bool, source: str = "button") -> DialogueState:
        """Record a like or dislike; the next turn respects it (a disliked item never comes back)."""
        if self.catalog.get(item_id) is None:
            raise RecsysError(f"unknown item {item_id!r}")
        self.store.get_session(session_id)  # SessionNotFound before a lock is made for the id
        with self._lock(session_id):
            state = self._vote(session_id, self.store.get_session(session_id).state, item_id, liked, source)
            self.store.save_state(session_id, state)
            return state

    def _vote(self, session_id: str, state: DialogueState, item_id: str, liked: bool, source: str) -> DialogueState:
        """Store a vote and return the state with it (the caller holds the session lock and saves the state)."""
        self.store.add_feedback(session_id, item_id, bool(liked), source=source)
        return with_vote(state, item_id, liked)

    # --- questions and feedback in words ------------------------------------------------------------------------
    def _ask_or_feedback(self, session_id: str, state: DialogueState, intent: Intent) -> tuple[str, DialogueState]:
        """Answer a question from catalog facts, or apply feedback in words; returns (reply, new state)."""
        targets = self.references.targets(state, intent)
        if not targets:
            return WHICH_FILM, state
        if intent.intent == "ask":
            return answer_question(targets[0], intent), state.evolve(focus_id=targets[0].item_id)
        lines = []
        for item in targets:
            if intent.feedback == "seen":
                if item.item_id not in state.shown_ids:
                    state = state.evolve(shown_ids=state.shown_ids + (item.item_id,))
            else:
                state = self._vote(session_id, state, item.item_id, intent.feedback == "liked", source="words")
            lines.append(feedback_line(item, intent.feedback))
        return " ".join(lines), state.evolve(focus_id=targets[-1].item_id)

    def remove_feedback(self, session_id: str, item_id: str) -> DialogueState:
        """Take back every vote of the session's person on an item (the taste panel's ✕); returns the new state."""
        with self._lock(session_id):
            info = self.store.get_session(session_id)
            self.store.remove_feedback(info.user_id, item_id)
            for other in self.store.list_sessions(info.user_id):  # the ids steer every session of that person
                if item_id in other.state.liked_ids or item_id in other.state.disliked_ids:
                    self.store.save_state(other.session_id, without_vote(other.state, item_id))
            return self.store.get_session(session_id).state

    def update_state(self, session_id: str, **changes: object) -> DialogueState:
        """Edit constraints from the page's controls (count, mmr_lambda, year_min/max, genres_exclude); saved."""
        clean = clean_controls(changes, self.settings.max_count, self.catalog.genres)
        with self._lock(session_id):
            state = apply_controls(self.store.get_session(session_id).state, clean)
            self.store.save_state(session_id, state)
            return state


def _ms(since: float) -> float:
    """Milliseconds since a perf_counter reading."""
    return (time.perf_counter() - since) * 1000.0
