"""The claim checker: a reason passes only if every name, number, title and content claim in it is backed by the
evidence, the catalog facts or the request.

    problems = unsupported(text, item, evidence, request, guard)   # [] when the reason may be shown
    cited(text, item, evidence)                                     # the request matches and taste links it states

The catalog has no plot text, so a statement of what a film is about, of its roles or of its standing (a "huge
hit", "the best ...") is invented unless a fact backs it; small generators write such sentences readily, so each
kind has a rule here. Kept apart from the generator's prompt so `eval reasons` measures exactly the product's rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..core.types import Item
from .evidence import Evidence
from .grounding import TitleGuard, contradictions, fact_phrases, words_of

# What a film is about, whom someone plays, where it is set: the catalog says none of it.
PLOT = re.compile(
    r"\b(about|follows?|following|tells?|story|stories|plot|cent(?:er|re)s? on|revolves?|journey|quest|mission|tale"
    r"|portrays?|portrait|depicts?|explores?|chronicles?|set in|based on|true events|adventures? of|inspired by"
    r"|main character|protagonist|hero|heroine|villain|plays|played|as the|in the role|character|characters"
    r"|who must|tries to|fights?|falls? in love|discovers?|finds? (?:himself|herself|themselves))\b",
    re.IGNORECASE,
)
# Claims of standing with no fact that could back them.
SUPERLATIVE = re.compile(
    r"\b(best|greatest|finest|most|masterpiece|masterful|iconic|legendary|timeless|unforgettable|must[- ]see"
    r"|must[- ]watch|of all time|ever made|groundbreaking|brilliant|stunning)\b",
    re.IGNORECASE,
)
# Standing a fact can back: word -> which fact ("award": an Oscar or a won award; "rated": a good rating;
# "popular": the catalog's popularity prior).
STANDING = {
    "award-winning": "award",
    "acclaimed": "rated",
    "celebrated": "rated",
    "critically": "rated",
    "highly rated": "rated",
    "top-rated": "rated",
    "well-reviewed": "rated",
    "popular": "popular",
    "hit": "popular",
    "blockbuster": "popular",
    "beloved": "popular",
    "famous": "popular",
    "well-known": "popular",
    "classic": "popular",
    "cult": "popular",
    "worldwide": "popular",
    "favourite": "popular",
    "favorite": "popular",
    "success": "popular",
    "successful": "popular",
}
STANDING_RE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, STANDING), key=len, reverse=True)) + r")\b", re.I)
POPULAR = 0.8  # catalog popularity prior (0..1) that backs "popular", "a classic"
RATED = {"imdb_rating": 7.5, "tomato_meter": 85, "metacritic": 75}  # any one backs "acclaimed"
# Tone words and the genres that back them (a tone the request itself used is backed too).
TONE = {
    "funny": ("Comedy",),
    "hilarious": ("Comedy",),
    "laugh": ("Comedy",),
    "laughs": ("Comedy",),
    "witty": ("Comedy",),
    "scary": ("Horror",),
    "terrifying": ("Horror",),
    "creepy": ("Horror",),
    "chilling": ("Horror", "Thriller"),
    "frightening": ("Horror",),
    "thrilling": ("Thriller", "Action", "Adventure", "Crime", "Mystery"),
    "suspenseful": ("Thriller", "Mystery", "Crime", "Horror"),
    "tense": ("Thriller", "Mystery", "Crime", "Horror", "War"),
    "gripping": ("Thriller", "Mystery", "Crime", "Drama"),
    "action-packed": ("Action",),
    "romantic": ("Romance",),
    "heartwarming": ("Family", "Romance", "Comedy"),
    "touching": ("Drama", "Romance", "Family"),
    "moving": ("Drama", "Romance", "War", "Biography"),
    "emotional": ("Drama", "Romance"),
    "epic": ("Adventure", "War", "History", "Fantasy"),
    "magical": ("Fantasy", "Animation", "Family"),
    "dark": ("Crime", "Horror", "Thriller", "Film-Noir", "Drama"),
    "gritty": ("Crime", "War", "Thriller", "Film-Noir"),
    "uplifting": ("Family", "Comedy", "Musical"),
    "family-friendly": ("Family", "Animation"),
}
TONE_RE = re.compile(r"\b(" + "|".join(map(re.escape, TONE)) + r")\b", re.IGNORECASE)
YOU_LIKED = re.compile(r"\byou(?:'ve| have)? (?:liked|loved|enjoyed)\b", re.IGNORECASE)
NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")


def _numbers(item: Item, ev: Evidence, request: str) -> set[str]:
    """Every number a reason may write: the item's year and numeric facts, those in the clues and the request."""
    out = {str(item.year)} if item.year else set()
    for key in ("runtime", "oscars", "tomato_meter", "metacritic", "tomato_reviews"):
        value = item.attributes.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            out.add(str(value))
    for key in ("imdb_rating", "tomato_rating"):
        value = item.attributes.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out |= {f"{value:.1f}", f"{value:g}"}
    for text in [request, *(c.text for c in ev.clues())]:
        out |= set(NUMBER.findall(text))
    return out


def _backed(kind: str, item: Item) -> bool:
    """Whether a standing claim of this kind has a fact behind it."""
    a = item.attributes
    if kind == "award":
        return (isinstance(a.get("oscars"), int) and a["oscars"] > 0) or str(a.get("awards", "")).startswith("Won")
    if kind == "rated":
        return any(isinstance(a.get(k), (int, float)) and a[k] >= bar for k, bar in RATED.items())
    return isinstance(a.get("popularity"), (int, float)) and a["popularity"] >= POPULAR


def _about_backed(text: str, start: int, vocabulary: set[str]) -> bool:
    """An "about ..." whose next content words are all in the clues or the request ("about the 1980s" after a
    request for the 80s): a match restated, not a plot invented."""
    following = [w for w in words_of(text[start:])[:4] if len(w) > 3][:2]
    return bool(following) and all(w in vocabulary for w in following)


def _masked(text: str, phrases: Sequence[str]) -> str:
    """text with each phrase (case-insensitive) blanked out."""
    for phrase in sorted(phrases, key=len, reverse=True):
        text = re.sub(re.escape(phrase), " ", text, flags=re.IGNORECASE)
    return text


def unsupported(text: str, item: Item, ev: Evidence, request: str = "", guard: TitleGuard | None = None) -> list[str]:
    """Every claim in `text` that neither the evidence, the item's facts nor the request backs (empty: it passes)."""
    names = ev.names()
    problems = contradictions(text, item, request, names)
    if guard is not None:
        titles = [item.title, *names]
        problems += [f"title {t}" for t in guard.violations(text, titles, fact_phrases([item]) + names)]
    allowed = _numbers(item, ev, request)
    problems += [f"number {n}" for n in NUMBER.findall(text) if n not in allowed and not re.fullmatch(r"\d0", n)]
    text = _masked(text, [item.title, *names])  # a title's or name's own words claim nothing ("The Dark Knight")
    clue_words = set(words_of(" ".join([request, *(c.text for c in ev.clues()), *item.tags])))
    for m in PLOT.finditer(text):
        if not (m.group().lower() == "about" and _about_backed(text, m.end(), clue_words)):
            problems.append(f"content '{m.group()}'")
    problems += [f"standing '{m.group()}'" for m in SUPERLATIVE.finditer(text)]
    problems += [
        f"standing '{m.group()}'" for m in STANDING_RE.finditer(text) if not _backed(STANDING[m.group().lower()], item)
    ]
    asked = set(words_of(request))
    problems += [
        f"tone '{m.group()}'"
        for m in TONE_RE.finditer(text)
        if m.group().lower() not in asked and not set(TONE[m.group().lower()]) & set(item.tags)
    ]
    if YOU_LIKED.search(text) and not any(c.kind in ("liked", "head") for c in ev.taste):
        problems.append("claims a liked film")
    return problems


# --- what a reason cites ------------------------------------------------------------------------------------------
GENRE_SAYINGS = {"Sci-Fi": ("sci-fi", "science fiction", "science-fiction"), "Animation": ("animat",)}


def _says(text: str, clue, item: Item, genres: Sequence[str]) -> bool:
    """Whether text states this clue (its genre, era, name, runtime or linked film), however it is worded."""
    low = text.lower()
    if clue.kind == "genre":
        return any(
            any(say in low for say in GENRE_SAYINGS.get(g, (g.lower().rstrip("y"),))) for g in genres or item.tags
        )
    if clue.kind == "era":
        decade = re.search(r"(\d\d)(\d)0s", clue.text)
        sayings = [str(item.year)] + ([f"{decade.group(2)}0s", decade.group(0)] if decade else [])
        return any(say in low for say in sayings)
    if clue.kind == "runtime":
        return bool(set(NUMBER.findall(clue.text)) & set(NUMBER.findall(text)))
    if clue.kind == "head":
        return bool(re.search(r"\b(films?|movies?|taste|what) you(?:'ve| have)? (?:liked|loved|enjoyed)", low))
    return any(n.lower() in low for n in clue.names)


def cited(text: str, item: Item, ev: Evidence) -> list[str]:
    """The kinds of request match and taste link (not support) that text states, in evidence order."""
    return [c.kind for c in ev.asked + ev.taste if _says(text, c, item, ev.genres)]
