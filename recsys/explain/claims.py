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
    r"|who must|tries to|fights?|falls? in love|discovers?|finds? (?:himself|herself|themselves)"
    r"|version of|remake|sequel|prequel|installment|instalment|franchise"
    # kinds of film the catalog's genres do not record
    r"|superhero|slasher|zombies?|vampires?|spy|heist|kung fu|martial arts|disaster|space opera|time travel"
    r"|coming-of-age|mockumentary|found footage)\b",
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
    "winner": "award",
    "won": "award",
    "award": "award",
    "awards": "award",
    # Praise a good rating can back.
    "great": "rated",
    "excellent": "rated",
    "amazing": "rated",
    "wonderful": "rated",
    "fantastic": "rated",
    "superb": "rated",
    "outstanding": "rated",
    "terrific": "rated",
    "awesome": "rated",
    "good": "rated",
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
    "whole family": ("Family",),
}
TONE_RE = re.compile(r"\b(" + "|".join(map(re.escape, TONE)) + r")\b", re.IGNORECASE)
YOU_LIKED = re.compile(
    r"\byou(?:'ve| have)? (?:liked|loved|enjoyed)\b|\bfavou?rite of yours\b|\byour favou?rite\b", re.IGNORECASE
)
# "which you mentioned": the person named a film this turn; needs a "named" link.
YOU_NAMED = re.compile(r"\byou(?:'ve| have)? (?:mentioned|named|brought up|talked about)\b", re.IGNORECASE)
# "as you asked": the film meets something the request asked for; needs a request match.
YOU_ASKED = re.compile(
    r"\b(?:you(?:'ve| have)? (?:asked|requested|wanted|were looking)|as requested|your request)\b", re.IGNORECASE
)
# The speaker's own experience or doubt ("I loved it", "I'm not sure"): the recommender has none to report.
FIRST_PERSON = re.compile(r"\b(?:I|(?i:i'm|i've|i'd|i'll|im|my|myself|mine|we|we're|we've|our))\b")
# A rating as written: "rated 7.8 on IMDb", "90% on Rotten Tomatoes"; checked against the fact of that source.
RATING = re.compile(r"\b(\d+(?:\.\d+)?)\s*(%?)\s+on\s+(IMDb|Rotten Tomatoes)\b", re.IGNORECASE)
# A genre or tone denied ("not romantic at all"): false when the film has that genre.
DENIED = re.compile(r"\b(?:not|never|isn't|is not)\s+(?:\w+\s+){0,2}?(" + "|".join(map(re.escape, TONE)) + r")\b", re.I)
# Another film named as this one's maker or source ("from X-Men", "the director of Heat").
TITLE_ROLE = r"\b(?:(director|directors|directed)(?:\s+(?:is|was|of))?|from|by|made by)\s+{}"
NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
# A sentence's stop, not the point of an initial or abbreviation in a name ("Samuel L. Jackson", "Downey Jr.").
STOP = re.compile(r"(?<!\b[A-Z])(?<!\bJr)(?<!\bSr)(?<!\bDr)(?<!\bMr)(?<!\bSt)[.;!?]")


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


def _linked_titles(ev: Evidence, kinds: Sequence[str]) -> list[str]:
    """The titles of the films the taste clues of these kinds link to (a link clue names its film last)."""
    return [c.names[-1] for c in ev.taste if c.kind in kinds and c.names]


def _attributions(text: str, item: Item, ev: Evidence, told: Sequence[str]) -> list[str]:
    """ "which you liked" / "which you mentioned" said of a film that is not one the person liked or named: the
    clause must follow such a film's title (or "the films"), not this film or a genre."""
    problems = []
    for pattern, kinds, what in ((YOU_LIKED, ("liked",), "liked"), (YOU_NAMED, ("named",), "mentioned")):
        titles = [t for t in [*_linked_titles(ev, kinds), *told] if t.lower() != item.title.lower()]
        for m in pattern.finditer(text):
            before = text[max(0, m.start() - 70) : m.start()].lower()
            after = re.split(r"[.;!?,]", text[m.end() : m.end() + 50].lower())[0]  # "you liked House of Wax"
            before = re.sub(r"\b(?:which|that|who|whom)\s*$", "", before)
            parts = [p for p in re.split(r"[.;!?,]|\band\b", before) if p.strip()]  # the phrase "which" follows
            clause = (parts[-1] if parts else "") + " | " + after
            generic = (
                what == "liked" and any(c.kind == "head" for c in ev.taste) and re.search(r"\bfilms|movies", clause)
            )
            if not generic and not any(t.lower() in clause for t in titles):
                problems.append(f"claims a {what} film it does not name")
    return problems


def _request_claims(text: str, item: Item, ev: Evidence, request: str) -> list[str]:
    """ "as you asked" said of what the person did not ask for: like "which you liked", the phrase it closes (back
    to the sentence's last stop) must state one of the request matches, so neither "starring John Hurt, as you
    asked" (they asked for Sigourney Weaver) nor "The Lord of the Rings, which you asked" (they asked for an
    animated film) passes."""
    problems = []
    for m in YOU_ASKED.finditer(text):
        phrase = re.split(STOP, text[: m.start()])[-1]
        said = re.sub(r"\b(?:which|that|as|just what)\s*$", "", phrase.strip()).strip(" ,").lower()
        restated = bool(said) and said in request.lower()  # "More please, which you requested"
        if not restated and not any(_says(phrase, c, item, ev.genres) for c in ev.asked):
            problems.append("claims a request match it does not state")
    return problems


def _ratings(text: str, item: Item) -> list[str]:
    """Ratings whose number is not the fact of the source named ("91% on IMDb" for a 91% meter)."""
    a, wrong = item.attributes, []
    for m in RATING.finditer(text):
        value, pct, source = float(m.group(1)), bool(m.group(2)), m.group(3).lower()
        fact = a.get("imdb_rating") if source == "imdb" else a.get("tomato_meter")
        ok = isinstance(fact, (int, float)) and (pct == (source != "imdb")) and abs(float(fact) - value) < 0.05
        if not ok:
            wrong.append(f"rating '{m.group()}'")
    return wrong


def _title_roles(text: str, ev: Evidence) -> list[str]:
    """Another film named as this one's maker or source: only "the director of X" with a clue saying so passes."""
    wrong = []
    for title in _linked_titles(ev, ("liked", "named")):
        for m in re.finditer(TITLE_ROLE.format(re.escape(title)), text, re.IGNORECASE):
            directed = any(f"directed {title}".lower() in c.text.lower() for c in ev.taste)
            person = any(text[: m.start()].rstrip().lower().endswith(n.lower()) for n in ev.names() if n != title)
            if not (m.group(1) and directed) and not person:  # "Harry Dean Stanton from Alien" is the shared actor
                wrong.append(f"role '{m.group()}'")
    return wrong


def _other_films(text: str, item: Item, titles: Sequence[str]) -> list[str]:
    """What text says of another film (the evidence links to it, it does not describe it): "Lethal Weapon, a classic
    crime drama", "Easy A (2010) was great", "fans of Fight Club"."""
    wrong = []
    for title in titles:
        if title.lower() == item.title.lower():
            continue
        t = re.escape(title)
        said = rf"{t}(?:\s*\(\d{{4}}\))?(?:,\s+an?\s|\s+(?:is|was|are|were)\s)|\bfans?\s+of\s+{t}|{t}\s+fans?\b"
        wrong += [f"about another film '{m.group().strip()}'" for m in re.finditer(said, text, re.IGNORECASE)]
    return wrong


def _role_holders(text: str, item: Item) -> list[str]:
    """ "the director is ..." that names none of the item's directors ("the director is in French"), and a person
    said to have directed a person ("Clint Eastwood, who directed Clint Eastwood and Chris Penn")."""
    directors = [d.lower() for d in item.people("director")]
    wrong = [
        f"role '{m.group()}'"
        for m in re.finditer(r"\bdirector (?:is|was)\s+([^,.;!?]*)", text, re.IGNORECASE)
        if not any(m.group(1).lower().startswith(d) for d in directors)
    ]
    people = [p for p in item.people("director") + item.people("cast") + item.people("top_cast") if p]
    for m in re.finditer(r"\bdirected\s+(?!by\b)(\S.*)", text):
        wrong += [f"role 'directed {p}'" for p in people if m.group(1).startswith(p)][:1]
    return wrong


def _request_titles(request: str, guard: TitleGuard | None) -> list[str]:
    """Catalog titles the request itself names (a reason may repeat them, with the year the request gives)."""
    if guard is None or not request:
        return []
    return [t for t in guard.violations(request, [], []) if t.lower() in request.lower()]


def unsupported(text: str, item: Item, ev: Evidence, request: str = "", guard: TitleGuard | None = None) -> list[str]:
    """Every claim in `text` that neither the evidence, the item's facts nor the request backs (empty: it passes)."""
    told = _request_titles(request, guard)
    names = ev.names() + told
    for title in names:  # "Easy A (2010)" as the request wrote it: that film's year, not a claim about this one
        for written in re.findall(re.escape(title) + r"\s*\(\d{4}\)", request, flags=re.IGNORECASE):
            text = re.sub(re.escape(written), title, text, flags=re.IGNORECASE)
    problems = contradictions(text, item, names)
    if guard is not None:
        titles = [item.title, *names]
        problems += [f"title {t}" for t in guard.violations(text, titles, fact_phrases([item]) + names)]
    allowed = _numbers(item, ev, request)
    problems += [f"number {n}" for n in NUMBER.findall(text) if n not in allowed and not re.fullmatch(r"\d0", n)]
    problems += _ratings(text, item) + _title_roles(text, ev) + _attributions(text, item, ev, told)
    problems += _request_claims(text, item, ev, request)
    problems += _other_films(text, item, [*_linked_titles(ev, ("liked", "named")), *told]) + _role_holders(text, item)
    problems += [
        f"denies '{m.group()}'" for m in DENIED.finditer(text) if set(TONE[m.group(1).lower()]) & set(item.tags)
    ]
    text = _masked(text, [item.title, *names])  # a title's or name's own words claim nothing ("The Dark Knight")
    clue_words = set(words_of(" ".join([*(c.text for c in ev.clues()), *item.tags])))  # not the request's topic
    for m in PLOT.finditer(text):
        if not (m.group().lower() == "about" and _about_backed(text, m.end(), clue_words)):
            problems.append(f"content '{m.group()}'")
    problems += [f"standing '{m.group()}'" for m in SUPERLATIVE.finditer(text)]
    problems += [
        f"standing '{m.group()}'" for m in STANDING_RE.finditer(text) if not _backed(STANDING[m.group().lower()], item)
    ]
    problems += [  # the request asking for a tone does not give the film that tone: its genres must
        f"tone '{m.group()}'" for m in TONE_RE.finditer(text) if not set(TONE[m.group().lower()]) & set(item.tags)
    ]
    kind = re.sub(r"\b(?:I'm|I am) (?:glad|happy)|\bI hope\b", " ", text)  # a courtesy claims nothing
    problems += [f"first person '{m.group()}'" for m in FIRST_PERSON.finditer(kind)]

    return problems


# --- what a reason cites ------------------------------------------------------------------------------------------
GENRE_SAYINGS = {
    "Sci-Fi": ("sci-fi", "science fiction", "science-fiction"),
    "Animation": ("animat",),
    "Biography": ("biograph", "biopic"),  # the fallback's own word (evidence.GENRE_WORDS)
    "Film-Noir": ("noir",),
}


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
