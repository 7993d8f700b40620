"""A session's stored data read back for the page: the transcript rebuilt as Chatbot messages (a "why these?"
panel under each answer), the last answer's cards or, on a first visit, films to rate, and the person's taste.

Gradio-free: recsys.web.updates turns these into component updates.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..core.errors import RecsysError
from ..core.types import Item
from .html import chat_message, why_markdown, why_message

if TYPE_CHECKING:  # the page imports no model code: the engine loads after it is served
    from ..engine import Engine

log = logging.getLogger(__name__)

ONBOARD_UNTIL = 5  # a new conversation offers films to rate until the person has this many votes
WELCOME = "**New here?** Rate a few films with 👍 / 👎 so I learn your taste, or just ask."


def transcript(engine: Engine, session_id: str) -> tuple[list[dict], dict[str, list[str]], list[tuple[Item, str]]]:
    """The Chatbot messages (a why-panel under each answer); which item ids each answer and its panel hold, by
    message index as str, for the Chatbot's 👍/👎; and the last answer's cards as (item, reason)."""
    history: list[dict] = []
    mapping: dict[str, list[str]] = {}
    recs: list[tuple[Item, str]] = []
    intent = None
    for row in engine.history(session_id):
        if row.role == "user":
            intent = row.intent
        history.append(chat_message(row.role, row.text))
        if row.role == "assistant" and row.items:
            pairs = [(engine.catalog.get(s.item_id), s) for s in row.items]
            pairs = [(it, s) for it, s in pairs if it is not None]
            mapping[str(len(history) - 1)] = [it.item_id for it, _ in pairs]
            rows = [(it, {"score": s.score, "evidence": s.evidence}) for it, s in pairs]
            history.append(why_message(why_markdown(intent, "", None, None, rows)))
            mapping[str(len(history) - 1)] = [it.item_id for it, _ in pairs]
            recs = [(it, s.reason) for it, s in pairs]
    return history, mapping, recs


def first_visit_cards(engine: Engine, session_id: str, user_id: str, limit: int) -> list[tuple[Item, str]]:
    """Films to rate in an empty conversation, until the person has ONBOARD_UNTIL votes (none if that fails)."""
    onboarding = getattr(engine, "onboarding_items", None)
    if onboarding is None or len(engine.store.user_feedback(user_id)) >= ONBOARD_UNTIL:
        return []
    try:
        return [(it, "") for it in onboarding(session_id, n=5)][:limit]
    except Exception:  # optional help for a first visit; never block the page
        log.exception("onboarding_items failed")
        return []


def taste_of(engine: Engine, session_id: str) -> dict:
    """The person's taste: Engine.taste_profile when the engine has it, else their latest votes and genre tallies."""
    profile_fn = getattr(engine, "taste_profile", None)
    if profile_fn is not None:
        try:
            return dict(profile_fn(session_id))
        except RecsysError:
            raise
        except Exception:  # a new engine method must not take the page down
            log.exception("taste_profile failed; showing votes only")
    latest: dict[str, bool] = {}
    for row in engine.store.user_feedback(engine.session(session_id).user_id):
        latest[row.item_id] = row.liked
    genres: dict[str, float] = {}
    for item_id, liked in latest.items():
        item = engine.catalog.get(item_id)
        for g in item.tags if item else ():
            genres[g] = genres.get(g, 0.0) + (1.0 if liked else -1.0)
    return {
        "genres": genres,
        "liked": [i for i, v in latest.items() if v],
        "disliked": [i for i, v in latest.items() if not v],
    }
