"""Why a film was chosen, as facts a reason may state: what of the request it matches, what it shares with films
the person liked or named, and standing facts (awards, ratings) only as support.

    ev = collect(item, state, liked=[alien], named=[])   # after ranking, once per recommended film
    ev.asked     # (Clue("genre", "sci-fi comedy"), Clue("era", "from 1984"))
    ev.taste     # (Clue("liked", "shares Harry Dean Stanton with Alien, which you liked", ...),)
    ev.support   # (Clue("rating", "rated 6.9 on IMDb"),)

The catalog has no plot text, so nothing here says what a film is about: every clue is a constraint the film
meets or a catalog fact it shares. The generator phrases these clues (explainer.py), the claim checker
(claims.py) accepts only what they, the facts or the request back, and `evidence_reason` turns them into a
sentence when the generator's is rejected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..core.types import DialogueState, Item

GENRE_WORDS = {"Sci-Fi": "sci-fi", "Film-Noir": "film noir", "Biography": "biopic", "Animation": "animated"}
# Order of genre words in a phrase: qualifiers before the noun ("sci-fi comedy", "romantic drama" reads worse than
# "romance drama", so Romance is only a noun).
NOUN_LAST = ("Comedy", "Drama", "Thriller", "Horror", "Western", "Romance", "Musical", "Documentary")
GOOD_IMDB = 7.0  # a rating worth citing as support
GOOD_METER = 85  # Rotten Tomatoes meter worth citing, with at least MIN_REVIEWS reviews
MIN_REVIEWS = 20
HEAD_LINK = 0.35  # the taste head's score above which a film counts as "in line with what you liked"


@dataclass(frozen=True)
class Clue:
    """One reason a film fits: `kind` says which (genre, era, person, language, country, runtime; liked, named,
    head; award, rating), `text` is how a sentence says it, `names` the names and titles it lets a reason use."""

    kind: str
    text: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evidence:
    """The clues for one recommended film, strongest first within each group."""

    asked: tuple[Clue, ...] = ()  # constraints of the request the film meets
    taste: tuple[Clue, ...] = ()  # links to films the person liked or named, or the taste head
    support: tuple[Clue, ...] = ()  # awards and ratings: never the lead of a reason
    genres: tuple[str, ...] = field(default=(), compare=False)  # the matched genre tags (for the phrase)

    def clues(self) -> tuple[Clue, ...]:
        """Every clue, request matches first."""
        return self.asked + self.taste + self.support

    def names(self) -> list[str]:
        """Names and titles the clues let a reason use (a liked film's title, a shared actor)."""
        return list(dict.fromkeys(n for c in self.clues() for n in c.names))

    def cites(self) -> bool:
        """Whether there is a request match or a taste link to cite (support alone is no reason)."""
        return bool(self.asked or self.taste)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: stored with the turn and shown in the "why these?" panel."""
        return {
            "asked": [asdict(c) for c in self.asked],
            "taste": [asdict(c) for c in self.taste],
            "support": [asdict(c) for c in self.support],
            "genres": list(self.genres),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Evidence:
        """Inverse of to_dict (a stored turn's evidence; None or {} gives empty evidence; extra keys are ignored)."""
        data = data or {}

        def clues(key: str) -> tuple[Clue, ...]:
            """The clues stored under key."""
            rows = data.get(key) or ()
            return tuple(
                Clue(str(c.get("kind", "")), str(c.get("text", "")), tuple(c.get("names") or ())) for c in rows
            )

        return cls(clues("asked"), clues("taste"), clues("support"), tuple(data.get("genres") or ()))


def genre_phrase(tags: Sequence[str]) -> str:
    """Genre tags in reading form, qualifiers first: ("Comedy", "Sci-Fi") -> "sci-fi comedy"."""
    ordered = sorted(tags, key=lambda t: (t in NOUN_LAST, NOUN_LAST.index(t) if t in NOUN_LAST else 0))
    return " ".join(GENRE_WORDS.get(t, t.lower()) for t in ordered[:2])


def _asked_genres(item: Item, state: DialogueState) -> tuple[str, ...]:
    """The item's tags among the genres asked for (all of a compound genre, else any wanted one)."""
    wanted = state.genres_all or state.genres_include
    return tuple(t for t in wanted if t in item.tags)


def _era(item: Item, state: DialogueState) -> Clue | None:
    """The year, when the request bounds it."""
    if not item.year or (state.year_min is None and state.year_max is None):
        return None
    if state.year_min is not None and state.year_max is not None and state.year_max - state.year_min == 9:
        return Clue("era", f"from the {state.year_min}s")
    return Clue("era", f"from {item.year}")


def _people(item: Item, state: DialogueState) -> list[Clue]:
    """People asked for who made or star in the item, with their role."""
    out = []
    directors = {p.lower(): p for p in item.people("director")}
    cast = {p.lower(): p for p in item.people("cast") + item.people("top_cast")}
    for name in state.people:
        low = name.lower()
        if low in directors:
            out.append(Clue("person", f"directed by {directors[low]}", (directors[low],)))
        elif low in cast:
            out.append(Clue("person", f"with {cast[low]}", (cast[low],)))
    return out


def _runtime(item: Item, state: DialogueState) -> Clue | None:
    """The runtime, when the request bounds it."""
    runtime = item.attributes.get("runtime")
    if not isinstance(runtime, int) or runtime <= 0 or (state.runtime_min is None and state.runtime_max is None):
        return None
    return Clue("runtime", f"{runtime} minutes long")


def asked_clues(item: Item, state: DialogueState) -> tuple[tuple[Clue, ...], tuple[str, ...]]:
    """(clues, matched genre tags): the request's constraints this item meets."""
    genres = _asked_genres(item, state)
    clues: list[Clue] = []
    if genres:
        clues.append(Clue("genre", genre_phrase(genres)))
    era = _era(item, state)
    if era:
        clues.append(era)
    clues += _people(item, state)
    langs = [lang for lang in state.languages if lang in item.people("language")]
    if langs:
        clues.append(Clue("language", f"in {langs[0]}", (langs[0],)))
    countries = [c for c in state.countries if c in item.people("country")]
    if countries:
        clues.append(Clue("country", f"made in {countries[0]}", (countries[0],)))
    runtime = _runtime(item, state)
    if runtime:
        clues.append(runtime)
    return tuple(clues), genres


def _link(item: Item, other: Item, how: str) -> Clue | None:
    """What item shares with another film: a director, then lead cast, then two genres; None when nothing."""
    how_text = {"named": "mentioned"}.get(how, how)
    directors = [p for p in item.people("director") if p in other.people("director")]
    if directors:
        return Clue(
            how, f"is by {directors[0]}, who directed {other.title}, which you {how_text}", (directors[0], other.title)
        )
    others = set(other.people("cast")) | set(other.people("top_cast"))
    cast = [p for p in item.lead_cast() if p in others] or [p for p in item.people("cast") if p in others]
    if cast:
        return Clue(how, f"shares {cast[0]} with {other.title}, which you {how_text}", (cast[0], other.title))
    genres = [t for t in item.tags if t in other.tags]
    if len(genres) >= 2 or (genres and len(item.tags) == 1 == len(other.tags)):
        return Clue(
            how,
            f"is {_a(genre_phrase(genres))} {genre_phrase(genres)} like {other.title}, which you {how_text}",
            (other.title,),
        )
    return None


def taste_clues(item: Item, liked: Sequence[Item], named: Sequence[Item], personal: float = 0.0) -> tuple[Clue, ...]:
    """Links to the films named in this message first (what the person just asked about), then to liked ones;
    the taste head only when no film links by fact."""
    links = [_link(item, other, "named") for other in named if other.item_id != item.item_id]
    links += [_link(item, other, "liked") for other in liked if other.item_id != item.item_id]
    found = [c for c in links if c is not None]
    people_first = sorted(found, key=lambda c: len(c.names) < 2)  # a shared person says more than shared genres
    if not people_first and liked and personal >= HEAD_LINK:
        people_first.append(Clue("head", "is in line with the films you have liked"))
    return tuple(people_first[:2])


def support_clues(item: Item) -> tuple[Clue, ...]:
    """Awards and good ratings, as support only."""
    a = item.attributes
    out = []
    oscars = a.get("oscars")
    if isinstance(oscars, int) and oscars > 0:
        out.append(Clue("award", f"winner of {oscars} Oscar{'s' if oscars > 1 else ''}"))
    rating = a.get("imdb_rating")
    if isinstance(rating, (int, float)) and rating >= GOOD_IMDB:
        out.append(Clue("rating", f"rated {rating:.1f} on IMDb"))
    meter, reviews = a.get("tomato_meter"), a.get("tomato_reviews")
    if isinstance(meter, int) and meter >= GOOD_METER and isinstance(reviews, int) and reviews >= MIN_REVIEWS:
        out.append(Clue("rating", f"rated {meter}% on Rotten Tomatoes"))
    return tuple(out[:2])


def collect(
    item: Item,
    state: DialogueState,
    liked: Sequence[Item] = (),
    named: Sequence[Item] = (),
    personal: float = 0.0,
) -> Evidence:
    """Everything that lets a reason say why `item` fits this request and this person."""
    asked, genres = asked_clues(item, state)
    return Evidence(asked, taste_clues(item, liked, named, personal), support_clues(item), genres)


# --- the reason built from evidence -------------------------------------------------------------------------------
NOUNS = {"comedy", "drama", "thriller", "western", "musical", "documentary", "romance", "biopic"}  # need no "film"


def _a(word: str) -> str:
    """ "a" or "an" before word (years included: "an 1895", "an 80s")."""
    return "an" if re.match(r"[aeiou]|8|18\d\d|11\b", word.lower()) else "a"


def _kind(item: Item, ev: Evidence) -> str:
    """The opening noun phrase: asked genres (else the item's own), the year: "a 1984 sci-fi comedy"."""
    genres = genre_phrase(ev.genres or item.tags[:2])
    kind = genres if genres and genres.split()[-1] in NOUNS else f"{genres} film".strip()
    if item.year:
        kind = f"{item.year} {kind}"
    return f"{_a(kind)} {kind}"


def made_by(item: Item, ev: Evidence | None = None) -> str:
    """ "directed by X, starring Y and Z": the plain facts, for a film with no clue to cite. The people the evidence
    names come first: the prompt's two leads are what the model writes, so a request for Tom Hanks must not see
    only Matt Damon and Paul Giamatti, the first two billed in Saving Private Ryan."""
    named = ev.names() if ev is not None else []
    directors, leads = item.people("director"), item.lead_cast()
    everyone = {*leads, *item.people("cast")}
    director = ([d for d in named if d in directors] + directors + [""])[0]
    first = [n for n in named if n in everyone and n not in directors]
    cast = " and ".join([*first, *(n for n in leads if n not in first)][:2])
    return ", ".join(
        p for p in (f"directed by {director}" if director else "", f"starring {cast}" if cast else "") if p
    )


def evidence_reason(item: Item, ev: Evidence) -> str:
    """One sentence from the clues only, leading with the request match, then the taste link, support last:
    "A 1984 sci-fi comedy, as you asked; it shares Harry Dean Stanton with Alien, which you liked."."""
    head = " ".join([_kind(item, ev), *(c.text for c in ev.asked if c.kind not in ("genre", "era"))])
    parts = [head + (", as you asked" if ev.asked else "")]
    if ev.taste:
        parts.append("it " + ev.taste[0].text)
    else:
        if not ev.asked:
            parts[0] += (" " + made_by(item)) if made_by(item) else ""
        if ev.support:
            parts.append(ev.support[0].text)
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."
