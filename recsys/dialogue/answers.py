"""Answers in words from catalog facts: the active constraints described, and questions about a film answered.

Never generated, so never wrong: every sentence is built from the catalog's own fields.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.types import DialogueState, Intent, Item

WHICH_FILM = (
    "Which film do you mean? Name it (“how long is Heat?”), or ask about “the second one” after I suggest some."
)


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
    """ "A, B and C" from a list, at most `limit` names."""
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


def answer_question(item: Item, intent: Intent) -> str:
    """The answer to an "ask" intent about item; a yes/no question names the languages or countries it asks about."""
    mentioned = intent.languages if intent.ask == "language" else intent.countries
    return answer(item, intent.ask, mentioned)


def feedback_line(item: Item, feedback: str | None) -> str:
    """The acknowledgement of feedback in words ("seen", "liked", else disliked) about one film."""
    if feedback == "seen":
        return f"Noted: you've seen {item.label()}, so I won't suggest it again."
    if feedback == "liked":
        return f"Glad you liked {item.label()}: I'll steer towards films like it."
    return f"Got it, not {item.label()}: it won't come back, and I'll steer away from films like it."
