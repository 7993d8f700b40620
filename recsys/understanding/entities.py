"""Titles and people named in a message, looked up in the catalog's people/films graph (catalog.graph.Graph).

    reader = EntityReader(Graph.from_catalog(catalog), genre_words={"comedy", "horror", ...})
    people, titles = reader.read(tokens, cased, used, negated)  # marks the tokens it explains as used

Part of the lexicon parser (lexicon.py), which runs it before every other slot. Cue words ("like", "by",
"starring") make short or common names count; exact matches come first, then a typo-tolerant match over the
words after a cue.
"""

from __future__ import annotations

import re
from collections.abc import Set

from ..catalog.graph import Graph
from ..catalog.text import normalise_title
from .words import COMMON, PERSON_CUES, SCOPE_BREAKERS, TITLE_CUES

# Words that end the phrase a fuzzy match may cover ("like blade runer with ..." stops before "with").
FUZZY_STOPS = SCOPE_BREAKERS | {"and", "or", "with", "from", "in", "by", "but", "no", "not", "than", "last"}
FUZZY_WORDS = 5  # longest phrase after a cue that is fuzzy-matched
YEAR_RE = re.compile(r"(19|20)\d\d")


class EntityReader:
    """People and reference titles in a tokenised message, through the graph's exact and fuzzy lookups."""

    def __init__(self, graph: Graph, genre_words: Set[str]) -> None:
        """`genre_words`: every word of a genre synonym; a phrase made only of them is never an entity."""
        self.graph = graph
        self.genre_words = genre_words

    def read(
        self, tokens: list[str], cased: list[str], used: list[bool], negated: list[bool]
    ) -> tuple[list[str], list[str]]:
        """(people, titles) found in the tokens; marks their tokens used. Cue words make short names count."""
        people: list[str] = []
        titles: list[str] = []
        i = 0
        while i < len(tokens):
            prev = tokens[i - 1] if i else ""
            prev2 = " ".join(tokens[max(0, i - 2) : i])
            title_cue = (
                prev in TITLE_CUES or prev2 in TITLE_CUES or (prev in ("and", "or") and titles and used[i - 2])
            ) and not (prev == "like" and tokens[i - 2 : i - 1] in (["i"], ["i'd"], ["would"], ["you"]))
            person_cue = (
                prev in PERSON_CUES or prev2 in PERSON_CUES or (prev in ("and", "or", ",") and people and used[i - 2])
            )
            hit = self._at(tokens, cased, i, title_cue, person_cue)
            if hit is None:
                i += 1
                continue
            kind, value, end = hit
            if not (kind == "title" and any(negated[i:end])):  # "but not Die Hard" is no reference
                (titles if kind == "title" else people).append(value)
            for j in range(i, end):
                used[j] = True
            i = end
        return list(dict.fromkeys(people)), list(dict.fromkeys(titles))

    def _at(
        self, tokens: list[str], cased: list[str], i: int, title_cue: bool, person_cue: bool
    ) -> tuple[str, str, int] | None:
        """The longest title or person starting at token i: ("title"|"person", canonical, end) or None."""
        graph = self.graph
        stop = next((j for j in range(i, len(tokens)) if not tokens[j][0].isalnum()), len(tokens))
        if title_cue:  # a typo in a longer title beats an exact shorter one ("blade runer" is not "Blade")
            fuzzy = self._fuzzy_at(tokens, i, stop, title_cue=True, person_cue=False, strict=True)
            if fuzzy:
                return fuzzy
        for n in range(min(graph.max_title_words, stop - i), 0, -1):
            words = tokens[i : i + n]
            capital = all(c[0].isupper() or c.lower() in COMMON for c in cased[i : i + n]) and cased[i][0].isupper()
            common = all(w in COMMON or w in self.genre_words for w in words)
            if common and not (capital and title_cue):
                continue  # "Up", "Seven", "Her" only when cued and capitalised
            if n == 1 and (len(words[0]) < 2 or (words[0] in self.genre_words and not capital)):
                continue
            key = normalise_title(" ".join(words))  # "amélie" -> "amelie", as the graph keys names and titles
            year, end = _year_after(tokens, i + n, title_cue or capital)
            person = graph.names.get(key) if n >= 2 else None
            if person and (person_cue or not title_cue):
                return "person", person, i + n
            title_ok = title_cue or (capital and (n >= 2 or i > 0))
            if title_ok and key in graph.titles or (title_ok and year and graph.match_title(key, year, fuzzy=False)):
                item_id = graph.match_title(key, year, fuzzy=False)
                if item_id:
                    return "title", graph.title(item_id), end
            if n == 1 and not common and (person_cue or graph.famous(key)):
                person = graph.match_person(key, loose=True, fuzzy=False)
                if person:
                    return "person", person, i + 1
        return self._fuzzy_at(tokens, i, stop, title_cue, person_cue) if title_cue or person_cue else None

    def _fuzzy_at(
        self, tokens: list[str], i: int, stop: int, title_cue: bool, person_cue: bool, strict: bool = False
    ) -> tuple[str, str, int] | None:
        """Typo-tolerant title or person over the words after a cue, up to the next break; `strict` only
        tries phrases of two words or more (an exact match handles one-word titles better)."""
        j = i
        while j < stop and j - i < FUZZY_WORDS and tokens[j] not in FUZZY_STOPS:
            j += 1
        for n in range(j - i, 1 if strict else 0, -1):
            words = tokens[i : i + n]
            if any(w in self.genre_words for w in words) or all(w in COMMON for w in words):
                continue
            phrase = " ".join(words)
            if person_cue:
                person = self.graph.match_person(phrase, loose=True)
                if person:
                    return "person", person, i + n
            if title_cue and len(phrase) >= 5:
                item_id = self.graph.match_title(phrase)
                if item_id:
                    return "title", self.graph.title(item_id), i + n
        return None


def _year_after(tokens: list[str], end: int, loose: bool) -> tuple[int | None, int]:
    """(year, end) of a year right after a title: "Heat (1995)" always, "Heat 1995" only when `loose` (cued or
    capitalised); (None, end) when there is none."""
    rest = tokens[end : end + 3]
    if rest[:1] == ["("] and len(rest) > 1 and YEAR_RE.fullmatch(rest[1]):
        return int(rest[1]), end + (3 if rest[2:3] == [")"] else 2)
    if rest[:1] and YEAR_RE.fullmatch(rest[0]) and loose:
        return int(rest[0]), end + 1
    return None, end
