"""Dialogue state across turns: how one parsed Intent changes the session's constraints, and catalog answers.

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

from ..core.types import DialogueState, Filters, Intent, Item

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


def apply_intent(state: DialogueState, intent: Intent, text: str, last_years: Sequence[int] = (),
                 default_count: int = 3, max_count: int = 10, context: Context | None = None) -> DialogueState:
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
    if "older" in ops or (intent.intent == "refine" and not ops and OLDER_RE.search(low)):
        if last_years:
            lo, hi = _bounds(lo, hi, None, min(last_years) - 1)
    elif "newer" in ops or (intent.intent == "refine" and not ops and NEWER_RE.search(low)):
        if last_years:
            lo, hi = _bounds(lo, hi, max(last_years) + 1, None)
    changes["year_min"], changes["year_max"] = lo, hi

    rlo, rhi = (None, None) if "runtime" in clear else (state.runtime_min, state.runtime_max)
    rlo, rhi = _bounds(rlo, rhi, intent.runtime_min, intent.runtime_max)
    if "shorter" in ops and ctx.last_runtimes:
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
    """Hard filters implied by the state: constraints plus everything shown or disliked."""
    return Filters(genres_include=state.genres_include, genres_exclude=state.genres_exclude,
                   year_min=state.year_min, year_max=state.year_max,
                   exclude_ids=frozenset(state.shown_ids) | frozenset(state.disliked_ids),
                   runtime_min=state.runtime_min, runtime_max=state.runtime_max, languages=state.languages,
                   countries=state.countries, people=state.people, genres_all=state.genres_all)


def describe(state: DialogueState) -> str:
    """Short human description of the active constraints ("Comedy or Sci-Fi, no Horror, before 1990")."""
    parts = []
    if state.genres_all and set(state.genres_all) == set(state.genres_include):
        parts.append(" and ".join(state.genres_all))
    elif state.genres_include:
        parts.append(" or ".join(state.genres_include))
    if state.genres_exclude:
        parts.append("no " + ", no ".join(state.genres_exclude))
    if state.year_min and state.year_max:
        parts.append(f"{state.year_min}" if state.year_min == state.year_max else f"{state.year_min}–{state.year_max}")
    elif state.year_min:
        parts.append(f"from {state.year_min}")
    elif state.year_max:
        parts.append(f"before {state.year_max + 1}")
    if state.runtime_min and state.runtime_max:
        parts.append(f"{state.runtime_min}–{state.runtime_max} min")
    elif state.runtime_min:
        parts.append(f"at least {state.runtime_min} min")
    elif state.runtime_max:
        parts.append(f"at most {state.runtime_max} min")
    if state.languages:
        parts.append("in " + " or ".join(state.languages))
    if state.countries:
        parts.append("from " + " or ".join(state.countries))
    if state.people:
        parts.append("with " + " or ".join(state.people))
    if state.query and not state.genres_include:
        parts.append(f"“{state.query[:60]}”")
    return ", ".join(parts)


def _names(values: Sequence[str], limit: int = 4) -> str:
    """"A, B and C" from a list, at most `limit` names."""
    values = list(values)[:limit]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def answer(item: Item, attr: str | None, mentioned: Sequence[str] = ()) -> str:
    """A one-sentence answer about an item, from catalog facts only (never generated, so never wrong)."""
    a = item.attributes
    label = item.label()
    if attr in ("director", "writer", "cast"):
        names = item.lead_cast() if attr == "cast" else item.people(attr)
        verb = {"director": "was directed by", "writer": "was written by", "cast": "stars"}[attr]
        return f"{label} {verb} {_names(names)}." if names else f"The catalog does not list the {attr} of {label}."
    if attr == "runtime":
        minutes = a.get("runtime")
        if not minutes:
            return f"The catalog does not list the runtime of {label}."
        hours = f" ({minutes // 60} h {minutes % 60:02d} min)" if minutes >= 60 else ""
        return f"{label} runs {minutes} minutes{hours}."
    if attr == "year":
        return f"{item.title} came out in {item.year}." if item.year else f"The catalog has no year for {item.title}."
    if attr in ("language", "country"):
        values = item.people(attr)
        if not values:
            return f"The catalog does not list the {attr} of {label}."
        asked = [m for m in mentioned if m]
        if asked:
            yes = [m for m in asked if m.lower() in {v.lower() for v in values}]
            word = "is in" if attr == "language" else "is from"
            verdict = "Yes" if yes else "No"
            return f"{verdict}: {label} {word} {_names(values)}."
        return f"{label} is in {_names(values)}." if attr == "language" else f"{label} is from {_names(values)}."
    if attr == "genre":
        return f"{label} is listed as {_names(item.tags)}." if item.tags else f"{label} has no genre in the catalog."
    if attr == "rating":
        facts = []
        if a.get("imdb_rating"):
            facts.append(f"IMDb {a['imdb_rating']}/10")
        if a.get("metacritic"):
            facts.append(f"Metacritic {a['metacritic']}/100")
        if a.get("tomato_meter") is not None:
            facts.append(f"{a['tomato_meter']}% of critics positive on Rotten Tomatoes")
        return f"{label}: {', '.join(facts)}." if facts else f"The catalog has no ratings for {label}."
    # plot or anything else: the facts we have
    director = item.people("director")
    cast = item.lead_cast()
    sentence = f"{label} is a {'/'.join(item.tags) or 'film'}"
    sentence += f" directed by {_names(director, 2)}" if director else ""
    sentence += f", starring {_names(cast, 3)}" if cast else ""
    return sentence + "." + (f" {item.text}" if item.text else "")
