"""Catalog-aware lexicon parser: message text -> Intent (genres with negation scope, years, count, intent).

Deterministic and fast (< 1 ms); the generator-based parser (issue 3) is merged on top of it later, and this one
always runs, so explicit exclusions are never lost.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from .types import Intent

# Surface forms -> canonical genre names (the default catalog's own). Multi-word forms first when matching.
GENRE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "science fiction": ("Sci-Fi",), "sci-fi": ("Sci-Fi",), "sci fi": ("Sci-Fi",), "scifi": ("Sci-Fi",),
    "sf": ("Sci-Fi",), "science-fiction": ("Sci-Fi",),
    "comedy": ("Comedy",), "comedies": ("Comedy",), "funny": ("Comedy",), "hilarious": ("Comedy",),
    "comic": ("Comedy",), "humor": ("Comedy",), "humour": ("Comedy",), "laugh": ("Comedy",), "laughs": ("Comedy",),
    "rom-com": ("Romance", "Comedy"), "romcom": ("Romance", "Comedy"), "rom com": ("Romance", "Comedy"),
    "rom-coms": ("Romance", "Comedy"), "romcoms": ("Romance", "Comedy"), "rom coms": ("Romance", "Comedy"),
    "romantic comedy": ("Romance", "Comedy"),
    "horror": ("Horror",), "scary": ("Horror",), "spooky": ("Horror",), "frightening": ("Horror",),
    "terrifying": ("Horror",), "slasher": ("Horror",), "gory": ("Horror",), "gore": ("Horror",),
    "romance": ("Romance",), "romantic": ("Romance",), "love story": ("Romance",), "love stories": ("Romance",),
    "action": ("Action",), "adventure": ("Adventure",), "adventures": ("Adventure",),
    "animation": ("Animation",), "animated": ("Animation",), "cartoon": ("Animation",), "cartoons": ("Animation",),
    "anime": ("Animation",),
    "documentary": ("Documentary",), "documentaries": ("Documentary",), "docs": ("Documentary",),
    "drama": ("Drama",), "dramas": ("Drama",), "dramatic": ("Drama",),
    "thriller": ("Thriller",), "thrillers": ("Thriller",), "suspense": ("Thriller",), "suspenseful": ("Thriller",),
    "crime": ("Crime",), "gangster": ("Crime",), "gangsters": ("Crime",), "heist": ("Crime",), "mafia": ("Crime",),
    "mystery": ("Mystery",), "mysteries": ("Mystery",), "whodunit": ("Mystery",), "detective": ("Mystery",),
    "fantasy": ("Fantasy",), "war": ("War",), "wars": ("War",), "western": ("Western",), "westerns": ("Western",),
    "cowboy": ("Western",), "cowboys": ("Western",),
    "musical": ("Musical",), "musicals": ("Musical",), "music": ("Music",),
    "family": ("Family",), "kids": ("Family",), "children": ("Family",), "children's": ("Family",),
    "biopic": ("Biography",), "biopics": ("Biography",), "biography": ("Biography",), "biographical": ("Biography",),
    "history": ("History",), "historical": ("History",), "period piece": ("History",),
    "sport": ("Sport",), "sports": ("Sport",), "noir": ("Film-Noir",), "film noir": ("Film-Noir",),
    "film-noir": ("Film-Noir",),
}

NEGATORS = {"no", "not", "nothing", "without", "avoid", "except", "never", "hate", "dont", "don't", "isn't",
            "isnt", "aren't", "none", "skip", "minus", "exclude", "excluding", "nor", "neither", "zero"}
NEGATION_PHRASES = ("anything but", "but not", "rather not", "anything except", "other than", "no more",
                    "too much", "sick of", "tired of", "not into", "don't want", "dont want", "do not want")
# Words that close a negation's scope ("no horror but funny": "funny" is wanted).
SCOPE_BREAKERS = {"but", "though", "although", "however", "instead", "rather", "just", "only", "yet", "i", "want",
                  "prefer", "please", "something", "maybe", "ideally", "like", "so"}
MAX_SCOPE = 6  # tokens a negation reaches at most

NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "couple": 2, "pair": 2, "few": 3, "handful": 5}
DECADE_WORDS = {"twenties": 1920, "thirties": 1930, "forties": 1940, "fifties": 1950, "sixties": 1960,
                "seventies": 1970, "eighties": 1980, "nineties": 1990, "noughties": 2000}

RESET_RE = re.compile(r"\b(start over|start again|reset|clear (everything|all|filters|it)|forget (everything|it all)|new search|from scratch)\b")
MORE_RE = re.compile(r"\b(something else|anything else|more( please)?$|other (ones|options|films|movies)|different (ones|films|movies)|show me more|more of (those|these|them)|another( one)?$|next)\b")
REFINE_RE = re.compile(r"\b(older|newer|more recent|earlier|later|shorter|longer|lighter|darker|less|more like|similar to (the )?(first|second|third|last))\b")
ASK_RE = re.compile(r"^(who|what|when|how long|how old|is it|is that|which|where|tell me about|does it)\b")
FEEDBACK_RE = re.compile(r"\b(i('ve| have) (already )?seen|i (loved|liked|hated|disliked)|loved it|hated it|not the (first|second|third|last) one|seen (it|that))\b")
GREETING_RE = re.compile(r"^(hi|hello|hey|yo|thanks|thank you|cheers|good (morning|evening|night)|how are you|bye|ok|okay|cool|great|nice)\b")
WANT_RE = re.compile(r"\b(film|films|movie|movies|watch|recommend|suggest|show|something|anything|picks?|flick|flicks|cinema|see)\b")
TOKEN_RE = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*|[.,;:!?()]")

COUNT_NOUNS = ["films", "movies", "picks", "recommendations", "options", "suggestions", "titles", "ones", "flicks"]
COUNT_NOUNS += [form for form in GENRE_SYNONYMS if form.endswith("s") and " " not in form]
COUNT_RE = re.compile(r"\b(\d{1,2}|" + "|".join(NUMBER_WORDS) + r")\s+(?:[a-z'-]+\s+){0,2}?(?:"
                      + "|".join(map(re.escape, COUNT_NOUNS)) + r")\b|\btop (\d{1,2})\b")
# Words that steer the dialogue rather than describe a film: never part of the embedding query.
DIALOGUE_WORDS = {"older", "newer", "recent", "else", "more", "less", "other", "another", "different", "again",
                  "shorter", "longer", "earlier", "later", "instead", "classic", "classics", "old", "new"}

FILLER = DIALOGUE_WORDS | {"a", "an", "the", "i", "me", "my", "want", "wanna", "would", "like", "please", "some", "something",
          "film", "films", "movie", "movies", "to", "watch", "for", "with", "and", "or", "of", "that", "is", "be",
          "can", "you", "recommend", "suggest", "show", "give", "find", "im", "i'm", "in", "mood", "the", "it",
          "any", "anything", "tonight", "today", "but", "one", "ones", "good", "nice", "from", "made", "set",
          "picks", "pick", "could", "should", "maybe", "really", "very", "just", "too", "also", "are", "was",
          "were", "by", "on", "at", "about", "this", "these", "those", "them", "up"}


def tokenize(text: str) -> list[str]:
    """Lower-case word and punctuation tokens."""
    return TOKEN_RE.findall(text.lower().replace("’", "'"))


class LexiconParser:
    """Rules over a catalog's genre vocabulary; `parse(text, context_years)` returns an Intent."""

    def __init__(self, genres: Iterable[str], newest_year: int = 2014) -> None:
        vocab = {g.lower(): g for g in genres}
        self.synonyms: dict[tuple[str, ...], tuple[str, ...]] = {}
        for form, names in GENRE_SYNONYMS.items():
            known = tuple(vocab[n.lower()] for n in names if n.lower() in vocab)
            if known:
                self.synonyms[tuple(tokenize(form))] = known
        for low, name in vocab.items():  # every catalog genre is its own synonym ("Film-Noir", "Reality-TV")
            self.synonyms.setdefault(tuple(tokenize(low)), (name,))
        self.max_len = max(len(k) for k in self.synonyms) if self.synonyms else 1
        self.newest_year = newest_year

    def _genre_spans(self, tokens: list[str]) -> list[tuple[int, int, tuple[str, ...]]]:
        """(start, end, genres) for every genre mention, longest match first."""
        spans, i = [], 0
        while i < len(tokens):
            for n in range(min(self.max_len, len(tokens) - i), 0, -1):
                key = tuple(tokens[i:i + n])
                if key in self.synonyms:
                    spans.append((i, i + n, self.synonyms[key]))
                    i += n
                    break
            else:
                i += 1
        return spans

    @staticmethod
    def _negated(tokens: list[str]) -> list[bool]:
        """Per token: inside the scope of a negation cue."""
        text = " ".join(tokens)
        starts = set()
        for phrase in NEGATION_PHRASES:
            for m in re.finditer(r"\b" + re.escape(phrase) + r"\b", text):
                starts.add(len(text[:m.end()].split()))
        for i, tok in enumerate(tokens):
            if tok in NEGATORS:
                starts.add(i + 1)
        flags = [False] * len(tokens)
        for s in sorted(starts):
            for j in range(s, min(len(tokens), s + MAX_SCOPE)):
                if tokens[j] in ".,;:!?()" or (tokens[j] in SCOPE_BREAKERS and j > s):
                    break
                flags[j] = True
        return flags

    def _years(self, text: str) -> tuple[int | None, int | None, list[tuple[int, int]]]:
        """(year_min, year_max, character spans used) from decades, ranges and comparisons."""
        lo = hi = None
        used: list[tuple[int, int]] = []

        def take(m: re.Match[str]) -> None:
            used.append(m.span())

        def full(y: str) -> int:
            n = int(y)
            return n if n >= 100 else (1900 + n if n >= 20 else 2000 + n)

        for m in re.finditer(r"\bbetween (\d{4}) and (\d{4})\b|\b(\d{4}) ?(?:-|to|–) ?(\d{4})\b", text):
            a, b = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
            lo, hi = min(int(a), int(b)), max(int(a), int(b))
            take(m)
        for m in re.finditer(r"\b(?:the )?(?:(early|mid|late) )?(\d{2}|\d{4})'?s\b", text):
            base = full(m.group(2))
            if base % 10:
                continue
            part = m.group(1)
            a, b = base, base + 9
            if part == "early":
                b = base + 3
            elif part == "mid":
                a, b = base + 3, base + 6
            elif part == "late":
                a = base + 6
            lo, hi = a, b
            take(m)
        for word, base in DECADE_WORDS.items():
            for m in re.finditer(rf"\b{word}\b", text):
                lo, hi = base, base + 9
                take(m)
        for m in re.finditer(r"\b(before|earlier than|older than|prior to|until|up to|pre|after|later than|newer than|since|from|in|made in|released in|post)[ -](\d{4})\b", text):
            word, year = m.group(1), int(m.group(2))
            if word in ("before", "earlier than", "older than", "prior to", "pre"):
                hi = year - 1
            elif word in ("until", "up to"):
                hi = year
            elif word in ("after", "later than", "newer than", "post"):
                lo = year + 1
            elif word == "since":
                lo = year
            else:  # "from 1985", "in 1985"
                lo, hi = year, year
            take(m)
        if re.search(r"\b(recent|new|newer releases|latest|modern)\b", text) and lo is None:
            lo = self.newest_year - 9
        if re.search(r"\b(classic|classics|old-school|golden age|vintage|old)\b", text) and hi is None:
            hi = 1979
        return lo, hi, used

    def parse(self, text: str) -> Intent:
        """Intent of one message, without dialogue context (the dialogue module applies it to the state)."""
        low = " ".join(text.lower().replace("’", "'").split())
        tokens = tokenize(low)
        negated = self._negated(tokens)
        include: list[str] = []
        exclude: list[str] = []
        for start, end, names in self._genre_spans(tokens):
            target = exclude if any(negated[start:end]) else include
            target.extend(n for n in names if n not in target)
        include = [g for g in include if g not in exclude]
        year_min, year_max, spans = self._years(low)

        count = None
        m = COUNT_RE.search(low)
        if m:
            raw = m.group(1) or m.group(2)
            count = int(raw) if raw.isdigit() else NUMBER_WORDS[raw]

        has_slots = bool(include or exclude or year_min or year_max)
        if RESET_RE.search(low):
            intent = "reset"
        elif FEEDBACK_RE.search(low):
            intent = "feedback"
        elif ASK_RE.search(low) and not has_slots and "recommend" not in low:
            intent = "ask"
        elif MORE_RE.search(low) and not include:
            intent = "more"
        elif REFINE_RE.search(low) and not include:
            intent = "refine"
        elif GREETING_RE.search(low) and not has_slots and not WANT_RE.search(low):
            intent = "chitchat"
        elif not has_slots and not WANT_RE.search(low) and len(tokens) <= 3 and count is None:
            intent = "chitchat" if not any(t.isalpha() and len(t) > 3 for t in tokens) else "recommend"
        else:
            intent = "recommend"

        # The soft query: wanted words only (negated spans, years and filler removed so "no horror" never
        # pulls horror films closer in embedding space).
        year_chars = set()
        for a, b in spans:
            year_chars.update(range(a, b))
        keep, pos = [], 0
        for i, tok in enumerate(tokens):
            pos = low.find(tok, pos)
            in_year = pos in year_chars
            pos += len(tok)
            if negated[i] or in_year or tok in FILLER or tok in NEGATORS or not tok[0].isalnum():
                continue
            if count is not None and (tok.isdigit() or tok in NUMBER_WORDS):
                continue
            keep.append(tok)  # genre words stay: "funny sci-fi" is a useful embedding query
        query = " ".join(keep) if intent in ("recommend", "refine", "more") else ""
        return Intent(intent=intent, genres_include=tuple(include), genres_exclude=tuple(exclude),
                      year_min=year_min, year_max=year_max, query=query, count=count)
