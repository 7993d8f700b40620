"""Dialogue state across turns: how one parsed Intent or one vote changes the session's constraints.

Rules (kept simple and visible):
- a new request replaces the wanted genres and the soft query; exclusions accumulate until reset, until
  the person asks for that genre again, or "any genre";
- years, runtime, languages, countries and people persist until changed or cleared ("any decade", "any length");
- "older"/"newer"/"shorter"/"longer" move bounds relative to what was just shown; "lighter"/"darker" add
  exclusions; "more like the second one" and "like Heat" search near the referenced film (Context.reference);
- "something else" changes nothing: everything shown is excluded anyway; disliked items never come back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.types import DialogueState, Filters, Intent

OLDER_RE = re.compile(r"\b(older|earlier|less recent|more classic)\b")
NEWER_RE = re.compile(r"\b(newer|more recent|later|more modern)\b")
LIGHTER_EXCLUDE = ("Horror", "War")  # "less dark": the two genres that make a list heavy
DARKER_EXCLUDE = ("Family", "Animation")  # "darker": no children's films
TONE_WORDS = {"lighter": "light-hearted feel-good", "darker": "dark gritty"}


@dataclass(frozen=True)
class Context:
    """What the engine knows that the parse cannot: the last list's facts and resolved references."""

    last_years: Sequence[int] = ()
    last_runtimes: Sequence[int] = ()
    reference: str = ""  # text of referenced films ("like Heat", "more like the second one"), for the query
    people: Sequence[str] = ()  # people resolved from "more by this director" / "the same actor"


def _bounds(lo: int | None, hi: int | None, new_lo: int | None, new_hi: int | None) -> tuple[int | None, int | None]:
    """Apply new bounds; a new bound that contradicts the old other bound wins and drops it."""
    if new_lo is not None and new_hi is not None:
        return new_lo, new_hi
    if new_lo is not None:
        return new_lo, hi if hi is None or hi >= new_lo else None
    if new_hi is not None:
        return (lo if lo is None or lo <= new_hi else None), new_hi
    return lo, hi


def apply_intent(
    state: DialogueState,
    intent: Intent,
    text: str,
    last_years: Sequence[int] = (),
    default_count: int = 3,
    max_count: int = 10,
    context: Context | None = None,
) -> DialogueState:
    """The session state after this message (pure: no I/O)."""
    ctx = context or Context(last_years=tuple(last_years))
    last_years = ctx.last_years or tuple(last_years)
    if intent.intent == "reset":
        return DialogueState(count=default_count, liked_ids=state.liked_ids, disliked_ids=state.disliked_ids)
    changes: dict[str, object] = {}
    clear = set(intent.clear)
    new_request = bool(intent.genres_include or intent.query or ctx.reference)  # replaces the genre wish
    if new_request:
        changes["genres_include"] = intent.genres_include
        changes["query"] = " ".join(p for p in (ctx.reference, intent.query) if p)
    include = () if "genres" in clear else changes.get("genres_include", state.genres_include)
    exclude = [] if "genres" in clear else [g for g in state.genres_exclude if g not in intent.genres_include]
    exclude += [g for g in intent.genres_exclude if g not in exclude]
    ops = set(intent.refine)
    for op, extra in (("lighter", LIGHTER_EXCLUDE), ("darker", DARKER_EXCLUDE)):
        if op in ops:
            exclude += [g for g in extra if g not in exclude and g not in intent.genres_include]
            changes["query"] = " ".join(p for p in (changes.get("query", state.query), TONE_WORDS[op]) if p)
    changes["genres_exclude"] = tuple(exclude)
    changes["genres_include"] = tuple(g for g in include if g not in exclude)
    together = () if "genres" in clear else (intent.genres_all if new_request else state.genres_all)
    changes["genres_all"] = () if set(together) & set(exclude) else tuple(together)

    lo, hi = (None, None) if "years" in clear else (state.year_min, state.year_max)
    lo, hi = _bounds(lo, hi, intent.year_min, intent.year_max)
    low = text.lower()
    # An explicit bound beats a relative one in the same message: "older, from before 1975" means before 1975.
    explicit = intent.year_min is not None or intent.year_max is not None
    if explicit:
        pass
    elif "older" in ops or (intent.intent == "refine" and not ops and OLDER_RE.search(low)):
        if last_years:
            lo, hi = _bounds(lo, hi, None, min(last_years) - 1)
    elif "newer" in ops or (intent.intent == "refine" and not ops and NEWER_RE.search(low)):
        if last_years:
            lo, hi = _bounds(lo, hi, max(last_years) + 1, None)
    changes["year_min"], changes["year_max"] = lo, hi

    rlo, rhi = (None, None) if "runtime" in clear else (state.runtime_min, state.runtime_max)
    rlo, rhi = _bounds(rlo, rhi, intent.runtime_min, intent.runtime_max)
    if intent.runtime_min is not None or intent.runtime_max is not None:
        pass  # "shorter, under 90 minutes": the number the person wrote
    elif "shorter" in ops and ctx.last_runtimes:
        rlo, rhi = _bounds(rlo, rhi, None, min(ctx.last_runtimes) - 1)
    elif "longer" in ops and ctx.last_runtimes:
        rlo, rhi = _bounds(rlo, rhi, max(ctx.last_runtimes) + 1, None)
    changes["runtime_min"], changes["runtime_max"] = rlo, rhi

    for slot in ("languages", "countries", "people"):
        value = getattr(intent, slot) or (tuple(ctx.people) if slot == "people" else ())
        changes[slot] = tuple(value) if value else (() if slot in clear else getattr(state, slot))
    if ctx.people:  # "more by this director": a new axis, so the old soft query no longer applies
        changes["query"] = " ".join(p for p in (intent.query,) if p)
    if intent.count is not None:
        changes["count"] = max(1, min(max_count, intent.count))
    return state.evolve(**changes)


def filters_for(state: DialogueState) -> Filters:
    """Hard filters implied by the state: constraints plus everything shown, liked (seen already) or disliked."""
    return Filters(
        genres_include=state.genres_include,
        genres_exclude=state.genres_exclude,
        year_min=state.year_min,
        year_max=state.year_max,
        exclude_ids=frozenset(state.shown_ids) | frozenset(state.liked_ids) | frozenset(state.disliked_ids),
        runtime_min=state.runtime_min,
        runtime_max=state.runtime_max,
        languages=state.languages,
        countries=state.countries,
        people=state.people,
        genres_all=state.genres_all,
    )


def without_vote(state: DialogueState, item_id: str) -> DialogueState:
    """The state with item_id in neither the liked nor the disliked list (a new vote replaces the old one)."""
    return state.evolve(
        liked_ids=tuple(i for i in state.liked_ids if i != item_id),
        disliked_ids=tuple(i for i in state.disliked_ids if i != item_id),
    )


def with_vote(state: DialogueState, item_id: str, liked: bool) -> DialogueState:
    """The state with this vote on item_id replacing any earlier one."""
    state = without_vote(state, item_id)
    if liked:
        return state.evolve(liked_ids=state.liked_ids + (item_id,))
    return state.evolve(disliked_ids=state.disliked_ids + (item_id,))
