"""Catalog-aware lexicon parser: message text -> Intent (genres, years, people, titles, places, runtime, count,
refinements, references, feedback, questions), deterministic and fast (~1 ms).

    parser = LexiconParser(catalog.genres, newest_year=2014, graph=Graph.from_catalog(catalog))
    parser.parse("like Heat but funnier, no horror, under two hours")

It always runs, so explicit exclusions are never lost; the generator parser (generator_parser.py) is merged on top
of it only when this one leaves words it cannot explain (see `analyse`). Word tables and cue patterns live in
words.py; `graph` (the catalog's people/films graph) adds people and reference titles through entities.py;
languages and countries are read by places.py (over the graph's own names when there is one).
Order of work: entities (titles, people) first, then years / runtime / count over the text with entities blanked
("Heat (1995)" is no year filter), then genres with negation, places, and the intent.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..catalog.graph import Graph
from ..core.types import Intent
from .cues import ASK_ATTRS, CLEAR_RES, FEEDBACK_RES, GREETING_RE, MORE_RE, REFINE_RES, RESET_RE, WANT_RE
from .entities import EntityReader
from .places import PlaceReader
from .readers import parse_runtime, parse_years
from .words import (
    COMMON,
    COUNT_NOUNS,
    FAMILY_GROUPS,
    FILLER,
    GENRE_ADJECTIVES,
    GENRE_SYNONYMS,
    MOOD_QUERY,
    NEGATION_PHRASES,
    NEGATION_WORDS,
    NUMBER_WORDS,
    ORDINALS,
    SCOPE_BREAKERS,
    TOKEN_RE,
    message_tokens,
)

MAX_SCOPE = 6  # tokens a negation reaches at most
ERRAND_RE = re.compile(
    r"^(please )?(write|code|program|compute|calculate|translate|order|book|buy|send|email|call|"
    r"remind|set|solve|sort|convert|what's the weather|what is the weather)\b"
)
COUNT_RE = re.compile(
    r"\b(\d{1,2}|"
    + "|".join(NUMBER_WORDS)
    + r")\s+(?:(?!but |and |or )[a-z'-]+\s+){0,2}?(?:"
    + "|".join(map(re.escape, COUNT_NOUNS + [f for f in GENRE_SYNONYMS if f.endswith("s")]))
    + r")\b|\btop (\d{1,2})\b"
)
QUESTION_RE = re.compile(r"^(who|what|when|how|is|was|does|did|where|which|tell me|can you tell me)\b")
FILM_REQUEST_RE = re.compile(
    r"\b(recommend|suggest|show me|give me|find me|looking for|something|anything|films|"
    r"movies|any others)\b"
)


# One compiled pattern per phrase (not one alternation: phrases may overlap, and each match counts), built once
# rather than escaped and looked up in re's cache for every phrase of every message.
NEGATION_PATTERNS = tuple(re.compile(r"(?<![\w'-])" + re.escape(phrase) + r"(?![\w'-])") for phrase in NEGATION_PHRASES)


@dataclass
class Analysis:
    """A parse with what it left unexplained: `leftover` content words decide whether the generator may help."""

    intent: Intent
    leftover: list[str]
    cued: bool  # the intent came from an explicit cue (reset, ask, feedback...), not the default


@dataclass
class Slots:
    """Everything one message names, before its intent decides which of it counts."""

    people: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    runtime_min: int | None = None
    runtime_max: int | None = None
    count: int | None = None
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    compound: list[str] = field(default_factory=list)  # genres of a wanted compound form ("rom-com"): all at once
    languages: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    refine: list[str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    feedback: str | None = None
    clear: list[str] = field(default_factory=list)
    ask: str | None = None

    def constrains(self, low: str) -> bool:
        """Any slot that makes the message a request ("capital of France?" is none: places need a want word)."""
        return bool(
            self.include
            or self.exclude
            or self.year_min
            or self.year_max
            or self.people
            or self.titles
            or self.runtime_min
            or self.runtime_max
            or ((self.languages or self.countries) and WANT_RE.search(low))
        )

    def strong(self) -> bool:
        """A slot no small-talk question would fill by accident (a capitalised word can be a title)."""
        return bool(
            self.include
            or self.exclude
            or self.year_min
            or self.year_max
            or self.people
            or self.runtime_min
            or self.runtime_max
            or self.count
        )


def is_question(low: str) -> bool:
    """The lower-cased message reads as a question."""
    return low.endswith("?") or QUESTION_RE.match(low) is not None


class LexiconParser:
    """Rules over a catalog's vocabulary; `parse(text)` returns an Intent, `analyse(text)` also the leftovers."""

    def __init__(self, genres: Iterable[str], newest_year: int = 2014, graph: Graph | None = None) -> None:
        """Genre synonyms bound to the catalog's genres; `graph` (optional) adds people, titles and places."""
        vocab = {g.lower(): g for g in genres}
        self.synonyms: dict[tuple[str, ...], tuple[str, ...]] = {}
        for form, gnames in GENRE_SYNONYMS.items():
            known = tuple(vocab[n.lower()] for n in gnames if n.lower() in vocab)
            if known:
                self.synonyms[tuple(message_tokens(form))] = known
        for low, name in vocab.items():  # every catalog genre is its own synonym ("Film-Noir", "Reality-TV")
            self.synonyms.setdefault(tuple(message_tokens(low)), (name,))
        self.max_len = max(len(k) for k in self.synonyms) if self.synonyms else 1
        self.newest_year = newest_year
        self.graph = graph
        self.places = PlaceReader(graph.languages, graph.countries) if graph is not None else PlaceReader()
        self.genre_words = {w for key in self.synonyms for w in key}
        self.single_genres = [key[0] for key in self.synonyms if len(key) == 1 and len(key[0]) >= 4]
        self.entities = EntityReader(graph, self.genre_words) if graph is not None else None

    # --- the parse ----------------------------------------------------------------------------------------------
    def parse(self, text: str) -> Intent:
        """Intent of one message, without dialogue context (the dialogue module applies it to the state)."""
        return self.analyse(text).intent

    def analyse(self, text: str) -> Analysis:
        """The parse plus the content words it left unexplained."""
        clean = " ".join(re.sub(r"\bw/o\b", "without", text.replace("’", "'"), flags=re.I).split())
        cased = TOKEN_RE.findall(clean)
        tokens = [t.lower() for t in cased]
        low = " ".join(tokens)
        used = [False] * len(tokens)
        negated = self._negated(tokens)
        found = Slots()
        if self.entities is not None:
            found.people, found.titles = self.entities.read(tokens, cased, used, negated)
        slots_free = self._numbers(tokens, used, found)
        found.include, found.exclude, found.compound = self._genres(tokens, used, negated)
        found.languages, found.countries = self.places.read(tokens, used, negated)
        self._cues(low, slots_free, found)
        intent, cued = self._decide(low, tokens, found)
        if intent in ("chitchat", "ask"):  # "how old is it?" asks, it does not constrain years or genres
            found.include, found.exclude, found.year_min, found.year_max = [], [], None, None
            found.runtime_min, found.runtime_max = None, None
            if intent == "chitchat":
                found.people, found.titles, found.languages, found.countries = [], [], [], []
        keep, leftover = self._query_words(tokens, used, negated)
        query = " ".join(keep) if intent in ("recommend", "refine", "more") else ""
        return Analysis(
            _intent(intent, found, query), leftover if intent in ("recommend", "refine", "chitchat") else [], cued
        )

    def _numbers(self, tokens: list[str], used: list[bool], found: Slots) -> str:
        """Years, runtime and count into `found`, read over the text with entities blanked (so "Heat (1995)" is
        no year constraint); marks their tokens used. Returns the text with entities and these spans blanked."""
        starts, pos = [], 0
        masked = " ".join("§" * len(t) if u else t for t, u in zip(tokens, used))
        for tok in tokens:
            starts.append(pos)
            pos += len(tok) + 1
        drop: list[tuple[int, int]] = []
        found.year_min, found.year_max = parse_years(masked, drop, self.newest_year)
        found.runtime_min, found.runtime_max = parse_runtime(masked, drop)
        m = COUNT_RE.search(masked)
        if m:
            raw = m.group(1) or m.group(2)
            found.count = int(raw) if raw.isdigit() else NUMBER_WORDS[raw]
            drop.append((m.start(1) if m.group(1) else m.start(2), m.end(1) if m.group(1) else m.end(2)))
        for a, b in drop:
            for i, s in enumerate(starts):
                if a <= s < b:
                    used[i] = True
        if not drop:  # most messages: nothing more to blank (the join below tests every character)
            return masked
        return "".join("§" if any(a <= k < b for a, b in drop) else ch for k, ch in enumerate(masked))

    def _genres(
        self, tokens: list[str], used: list[bool], negated: list[bool]
    ) -> tuple[list[str], list[str], list[str]]:
        """(include, exclude, compound) genres; a negated mention excludes. Marks their tokens used."""
        include: list[str] = []
        exclude: list[str] = []
        compound: list[str] = []  # genres of a wanted compound form ("rom-com"), which means all of them at once
        before: tuple[int, tuple[str, ...]] | None = None  # (end, genres) of a wanted adjective ("funny")
        for start, end, gnames in sorted(self._genre_spans(tokens, used) + self._fuzzy_genres(tokens, used)):
            if tokens[start] == "family" and start and tokens[start - 1] in FAMILY_GROUPS:
                continue  # "a mafia family saga": a group of people, not the Family genre
            target = exclude if any(negated[start:end]) else include
            target.extend(n for n in gnames if n not in target)
            qualified = before is not None and before[0] == start and target is include  # "funny horror"
            if target is include and (len(gnames) > 1 or qualified):
                both = (*before[1], *gnames) if qualified else gnames
                compound.extend(n for n in both if n not in compound)
            adjective = end - start == 1 and tokens[start] in GENRE_ADJECTIVES and target is include
            before = (end, gnames) if adjective else None
            for j in range(start, end):
                used[j] = True
        return [g for g in include if g not in exclude], exclude, compound

    def _cues(self, low: str, slots_free: str, found: Slots) -> None:
        """Refinements, list references, feedback, slots to clear and the attribute asked about, into `found`."""
        found.refine = [op for op, rx in REFINE_RES if rx.search(slots_free)]  # "longer than 2 hours" is no "longer"
        found.positions = self._positions(low)
        found.feedback = next((kind for kind, rx in FEEDBACK_RES if rx.search(low)), None)
        found.clear = [slot for slot, rx in CLEAR_RES if rx.search(low)]
        about_item = bool(found.titles or found.positions or re.search(r"\b(it|that|this)\b", low))
        # "any good westerns?" is a request, not a question about an item
        if is_question(low) and not FILM_REQUEST_RE.search(low) and (about_item or not found.include):
            found.ask = next((attr for attr, rx in ASK_ATTRS if rx.search(low)), None)
        if found.feedback == "seen" and re.search(r"\b(not|haven't|havent|never) (seen|watched)\b", low):
            found.feedback = None

    @staticmethod
    def _decide(low: str, tokens: list[str], found: Slots) -> tuple[str, bool]:
        """(intent, cued): the first cue that applies, else a default from the message's content."""
        has_slots = found.constrains(low)
        question = is_question(low)
        cued = True
        if RESET_RE.search(low):
            intent = "reset"
        elif found.ask and not found.refine:
            intent = "ask"
        elif found.feedback and not (found.include or found.year_min or found.year_max or found.refine):
            intent = "feedback"
        elif found.refine:
            intent = "refine"
        elif MORE_RE.search(low) and not has_slots:
            intent = "more"
        elif found.clear and not has_slots:
            intent = "refine"
        elif GREETING_RE.search(low) and not has_slots and not WANT_RE.search(low):
            intent = "chitchat"
        elif has_slots or found.count is not None or WANT_RE.search(low):
            intent = "recommend"
        else:  # no cue at all: questions and errands are small talk, a few descriptive words a request
            cued = False
            content = [t for t in tokens if t.isalpha() and t not in FILLER]
            errand = question or re.match(r"^(can|could|would|will) you\b", low)
            intent = "chitchat" if errand or not content else "recommend"
        errand = ERRAND_RE.match(low) and not WANT_RE.search(low)
        if intent == "recommend" and not WANT_RE.search(low) and (errand or (question and not found.strong())):
            intent = "chitchat"  # "what's the weather like in Paris?": a capitalised word is no film request
        return intent, cued

    def _query_words(self, tokens: list[str], used: list[bool], negated: list[bool]) -> tuple[list[str], list[str]]:
        """(words of the soft query, leftover content words nothing explained).

        The soft query keeps wanted words only (negated spans, years, entities and filler removed, so "no horror"
        never pulls horror films closer in embedding space); genre words stay ("funny sci-fi" embeds well)."""
        keep, leftover = [], []
        for i, tok in enumerate(tokens):
            if negated[i] or not tok[0].isalnum() or tok in FILLER or tok in NEGATION_WORDS or tok in ORDINALS:
                continue
            if used[i] and not any(tok in key for key in self.synonyms if len(key) == 1):
                continue
            keep.append(tok)
            keep.extend(w for w in MOOD_QUERY.get(tok, ()) if w not in keep)
            if not used[i] and tok not in COMMON and tok.isalpha() and len(tok) > 2:
                leftover.append(tok)
        return keep, leftover

    # --- spans --------------------------------------------------------------------------------------------------
    def _genre_spans(self, tokens: list[str], used: list[bool]) -> list[tuple[int, int, tuple[str, ...]]]:
        """(start, end, genres) for every genre mention outside used tokens, longest match first."""
        spans, i = [], 0
        while i < len(tokens):
            for n in range(min(self.max_len, len(tokens) - i), 0, -1):
                key = tuple(tokens[i : i + n])
                if key in self.synonyms and not any(used[i : i + n]):
                    spans.append((i, i + n, self.synonyms[key]))
                    i += n
                    break
            else:
                i += 1
        return spans

    def _fuzzy_genres(self, tokens: list[str], used: list[bool]) -> list[tuple[int, int, tuple[str, ...]]]:
        """Misspelt one-word genre mentions ("funy", "documentery"): close to a synonym, not a known word."""
        out = []
        for i, tok in enumerate(tokens):
            if used[i] or len(tok) < 4 or not tok.isalpha() or tok in COMMON or (tok,) in self.synonyms:
                continue
            if self.graph is not None and (tok in self.graph.titles or tok in self.places.languages):
                continue
            close = difflib.get_close_matches(tok, self.single_genres, n=1, cutoff=0.85)
            if close:
                out.append((i, i + 1, self.synonyms[(close[0],)]))
        return out

    @staticmethod
    def _negated(tokens: list[str]) -> list[bool]:
        """Per token: inside the scope of a negation cue."""
        text = " ".join(tokens)
        starts = set()
        for pattern in NEGATION_PATTERNS:
            for m in pattern.finditer(text):
                starts.add(len(text[: m.end()].split()))
        for i, tok in enumerate(tokens):
            if tok in NEGATION_WORDS:
                starts.add(i + 1)
        flags = [False] * len(tokens)
        for i, tok in enumerate(tokens):  # after the fact: "horror? no.", "musicals, nope"
            if (
                tok in ("no", "nope", "never")
                and i >= 2
                and tokens[i - 1] in ("?", ",", "-")
                and (i + 1 == len(tokens) or tokens[i + 1] in (".", "!", ",", ";", "thanks"))
            ):
                j = i - 2
                while j >= 0 and tokens[j][0].isalnum():
                    flags[j] = True
                    j -= 1
        for s in sorted(starts):
            for j in range(s, min(len(tokens), s + MAX_SCOPE)):
                if tokens[j] in '.,;:!?()"' or (tokens[j] in SCOPE_BREAKERS and j > s):
                    break
                flags[j] = True
        return flags

    @staticmethod
    def _positions(low: str) -> list[int]:
        """1-based list positions referred to ("the second one", "number 3", "#2", "the last one")."""
        out: list[int] = []
        for m in re.finditer(
            r"\b(?:the )?(" + "|".join(ORDINALS) + r")( one| film| movie| pick| title| suggestion)?"
            r"\b|\b(?:number|no\.?|#) ?([1-9])\b|#([1-9])\b",
            low,
        ):
            if m.group(1):
                word = m.group(1)
                tail = low[m.end() :].lstrip()
                if not m.group(2) and not (
                    m.group(0).startswith("the")
                    and (not tail or tail[0] in "?!.,")
                    or tail.startswith(("please", "is", "was", "about", "from", "looks"))
                ):
                    continue  # a bare "first" ("first time", "the last few years") is not a reference
                out.append(ORDINALS[word])
            else:
                out.append(int(m.group(3) or m.group(4)))
        return list(dict.fromkeys(out))


def _intent(intent: str, found: Slots, query: str) -> Intent:
    """The Intent of a decided message; only an "ask" keeps its attribute, small talk keeps no feedback."""
    return Intent(
        intent=intent,
        genres_include=tuple(found.include),
        genres_exclude=tuple(found.exclude),
        year_min=found.year_min,
        year_max=found.year_max,
        people=tuple(found.people),
        titles=tuple(found.titles),
        query=query,
        count=found.count,
        runtime_min=found.runtime_min,
        runtime_max=found.runtime_max,
        languages=tuple(found.languages),
        countries=tuple(found.countries),
        refine=tuple(found.refine),
        positions=tuple(found.positions),
        feedback=found.feedback if intent != "chitchat" else None,
        ask=found.ask if intent == "ask" else None,
        clear=tuple(found.clear),
        # all-of only when the compound is the whole genre request ("a rom-com or a western" stays any-of)
        genres_all=tuple(found.compound) if found.compound and set(found.compound) == set(found.include) else (),
    )
