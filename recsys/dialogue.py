"""Dialogue state across turns: how one parsed Intent changes the session's constraints.

Rules (kept simple and visible): a new request replaces the wanted genres and the soft query; exclusions
accumulate until reset or until the person asks for that genre again; year bounds persist until changed;
"older"/"newer" move the bounds relative to what was just shown.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from .types import DialogueState, Filters, Intent

OLDER_RE = re.compile(r"\b(older|earlier|less recent|more classic)\b")
NEWER_RE = re.compile(r"\b(newer|more recent|later|more modern)\b")


def apply_intent(state: DialogueState, intent: Intent, text: str, last_years: Sequence[int],
                 default_count: int, max_count: int) -> DialogueState:
    """The session state after this message (pure: no I/O)."""
    if intent.intent == "reset":
        return DialogueState(count=default_count, liked_ids=state.liked_ids, disliked_ids=state.disliked_ids)
    changes: dict[str, object] = {}
    if intent.genres_include or intent.query:
        changes["genres_include"] = intent.genres_include
        changes["query"] = intent.query
    include = changes.get("genres_include", state.genres_include)
    exclude = [g for g in state.genres_exclude if g not in intent.genres_include]
    exclude += [g for g in intent.genres_exclude if g not in exclude]
    changes["genres_exclude"] = tuple(exclude)
    changes["genres_include"] = tuple(g for g in include if g not in exclude)

    lo, hi = state.year_min, state.year_max
    if intent.year_min is not None or intent.year_max is not None:
        if intent.year_min is not None and intent.year_max is not None:
            lo, hi = intent.year_min, intent.year_max
        elif intent.year_min is not None:
            lo = intent.year_min
            hi = hi if hi is None or hi >= lo else None  # a new bound that contradicts the old one wins
        else:
            hi = intent.year_max
            lo = lo if lo is None or hi is None or lo <= hi else None
    low = text.lower()
    if intent.intent == "refine" and last_years:
        if OLDER_RE.search(low):
            hi = min(last_years) - 1
            lo = lo if lo is None or lo <= hi else None
        elif NEWER_RE.search(low):
            lo = max(last_years) + 1
            hi = hi if hi is None or hi >= lo else None
    changes["year_min"], changes["year_max"] = lo, hi
    if intent.count is not None:
        changes["count"] = max(1, min(max_count, intent.count))
    return state.evolve(**changes)


def filters_for(state: DialogueState) -> Filters:
    """Hard filters implied by the state: constraints plus everything shown or disliked."""
    return Filters(genres_include=state.genres_include, genres_exclude=state.genres_exclude,
                   year_min=state.year_min, year_max=state.year_max,
                   exclude_ids=frozenset(state.shown_ids) | frozenset(state.disliked_ids))


def describe(state: DialogueState) -> str:
    """Short human description of the active constraints ("Comedy or Sci-Fi, no Horror, before 1990")."""
    parts = []
    if state.genres_include:
        parts.append(" or ".join(state.genres_include))
    if state.genres_exclude:
        parts.append("no " + ", no ".join(state.genres_exclude))
    if state.year_min and state.year_max:
        parts.append(f"{state.year_min}" if state.year_min == state.year_max else f"{state.year_min}–{state.year_max}")
    elif state.year_min:
        parts.append(f"from {state.year_min}")
    elif state.year_max:
        parts.append(f"before {state.year_max + 1}")
    if state.query and not state.genres_include:
        parts.append(f"“{state.query}”")
    return ", ".join(parts)
