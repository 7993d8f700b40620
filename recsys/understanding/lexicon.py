"""Catalog-aware lexicon parser: message text -> Intent (every slot of issue 3), deterministic and fast (~1 ms).

    parser = LexiconParser(catalog.genres, newest_year=2014, names=Graph.from_catalog(catalog))
    parser.parse("like Heat but funnier, no horror, under two hours")

It always runs, so explicit exclusions are never lost; the generator parser (parse_llm) is merged on top of it
only when this one leaves words it cannot explain (see `analyse`). Word tables and cue patterns live in
intent_words.py; `names` (a graph.Graph, duck-typed so this layer-2 module does not import it) adds people and
reference titles. Order of work: entities (titles, people) first, then years / runtime / count over the text with
entities blanked ("Heat (1995)" is no year filter), then genres with negation, places, and the intent.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ..understanding.words import (ASK_ATTRS, CLEAR_RES, COMMON, COUNT_NOUNS, COUNTRY_ALIASES, FEEDBACK_RES,
                           FILLER, GENRE_SYNONYMS, GREETING_RE, MORE_RE, NEGATION_PHRASES, NEGATORS, NUMBER_WORDS,
                           ORDINALS, PERSON_CUES, REFINE_RES, RESET_RE, SCOPE_BREAKERS, TITLE_CUES, WANT_RE,
                           parse_runtime, parse_years)
from ..catalog.catalog import normalise_title
from ..core.types import Intent

MAX_SCOPE = 6  # tokens a negation reaches at most
TOKEN_RE = re.compile(r"[^\W_]+(?:[-'.][^\W_]+)*|[.,;:!?()\"]")  # any script's letters: "Amélie", "Gérard"
ERRAND_RE = re.compile(r"^(please )?(write|code|program|compute|calculate|translate|order|book|buy|send|email|call|"
                       r"remind|set|solve|sort|convert|what's the weather|what is the weather)\b")
COUNT_RE = re.compile(r"\b(\d{1,2}|" + "|".join(NUMBER_WORDS) + r")\s+(?:(?!but |and |or )[a-z'-]+\s+){0,2}?(?:"
                      + "|".join(map(re.escape, COUNT_NOUNS + [f for f in GENRE_SYNONYMS if f.endswith("s")]))
                      + r")\b|\btop (\d{1,2})\b")


class Names(Protocol):
    """What the parser needs from graph.Graph: exact and fuzzy titles and people."""

    titles: dict[str, list[str]]
    names: dict[str, str]
    max_title_words: int
    languages: list[str]
    countries: list[str]

    def match_title(self, phrase: str, year: int | None = None, fuzzy: bool = True) -> str | None: ...

    def match_person(self, phrase: str, loose: bool = False, fuzzy: bool = True) -> str | None: ...

    def title(self, item_id: str) -> str: ...

    def famous(self, key: str) -> bool: ...


@dataclass
class Analysis:
    """A parse with what it left unexplained: `leftover` content words decide whether the generator may help."""

    intent: Intent
    leftover: list[str]
    cued: bool  # the intent came from an explicit cue (reset, ask, feedback...), not the default


def tokenize(text: str) -> list[str]:
    """Lower-case word and punctuation tokens."""
    return [t.lower() for t in TOKEN_RE.findall(text.replace("’", "'"))]


class LexiconParser:
    """Rules over a catalog's vocabulary; `parse(text)` returns an Intent, `analyse(text)` also the leftovers."""

    def __init__(self, genres: Iterable[str], newest_year: int = 2014, names: Names | None = None) -> None:
        vocab = {g.lower(): g for g in genres}
        self.synonyms: dict[tuple[str, ...], tuple[str, ...]] = {}
        for form, gnames in GENRE_SYNONYMS.items():
            known = tuple(vocab[n.lower()] for n in gnames if n.lower() in vocab)
            if known:
                self.synonyms[tuple(tokenize(form))] = known
        for low, name in vocab.items():  # every catalog genre is its own synonym ("Film-Noir", "Reality-TV")
            self.synonyms.setdefault(tuple(tokenize(low)), (name,))
        self.max_len = max(len(k) for k in self.synonyms) if self.synonyms else 1
        self.newest_year = newest_year
        self.names = names
        langs = names.languages if names else ["English", "French", "Spanish", "German", "Italian", "Japanese"]
        countries = set(names.countries) if names else set(COUNTRY_ALIASES.values())
        self.languages = {lang.lower(): lang for lang in langs if " " not in lang}
        self.countries = {c.lower(): c for c in countries}
        self.countries.update({k: v for k, v in COUNTRY_ALIASES.items() if v in countries})
        self.genre_words = {w for key in self.synonyms for w in key}
        self.single_genres = [key[0] for key in self.synonyms if len(key) == 1 and len(key[0]) >= 4]

    # --- spans --------------------------------------------------------------------------------------------------
    def _genre_spans(self, tokens: list[str], used: list[bool]) -> list[tuple[int, int, tuple[str, ...]]]:
        """(start, end, genres) for every genre mention outside used tokens, longest match first."""
        spans, i = [], 0
        while i < len(tokens):
            for n in range(min(self.max_len, len(tokens) - i), 0, -1):
                key = tuple(tokens[i:i + n])
                if key in self.synonyms and not any(used[i:i + n]):
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
            for m in re.finditer(r"(?<![\w'-])" + re.escape(phrase) + r"(?![\w'-])", text):
                starts.add(len(text[:m.end()].split()))
        for i, tok in enumerate(tokens):
            if tok in NEGATORS:
                starts.add(i + 1)
        flags = [False] * len(tokens)
        for i, tok in enumerate(tokens):  # after the fact: "horror? no.", "musicals, nope"
            if tok in ("no", "nope", "never") and i >= 2 and tokens[i - 1] in ("?", ",", "-") and (
                    i + 1 == len(tokens) or tokens[i + 1] in (".", "!", ",", ";", "thanks")):
                j = i - 2
                while j >= 0 and tokens[j][0].isalnum():
                    flags[j] = True
                    j -= 1
        for s in sorted(starts):
            for j in range(s, min(len(tokens), s + MAX_SCOPE)):
                if tokens[j] in ".,;:!?()\"" or (tokens[j] in SCOPE_BREAKERS and j > s):
                    break
                flags[j] = True
        return flags

    def _entities(self, tokens: list[str], cased: list[str], used: list[bool],
                  negated: list[bool]) -> tuple[list[str], list[str]]:
        """(people, titles) found in the tokens; marks their tokens used. Cue words make short names count."""
        people: list[str] = []
        titles: list[str] = []
        if self.names is None:
            return people, titles
        i = 0
        while i < len(tokens):
            prev = tokens[i - 1] if i else ""
            prev2 = " ".join(tokens[max(0, i - 2):i])
            title_cue = (prev in TITLE_CUES or prev2 in TITLE_CUES or (prev in ("and", "or") and titles
                         and used[i - 2])) and not (prev == "like" and tokens[i - 2: i - 1] in (["i"], ["i'd"],
                                                                                              ["would"], ["you"]))
            person_cue = prev in PERSON_CUES or prev2 in PERSON_CUES or (prev in ("and", "or", ",") and people
                                                                        and used[i - 2])
            hit = self._entity_at(tokens, cased, i, title_cue, person_cue)
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

    def _entity_at(self, tokens: list[str], cased: list[str], i: int, title_cue: bool,
                   person_cue: bool) -> tuple[str, str, int] | None:
        """The longest title or person starting at token i: ("title"|"person", canonical, end) or None."""
        names = self.names
        assert names is not None
        stop = next((j for j in range(i, len(tokens)) if not tokens[j][0].isalnum()), len(tokens))
        if title_cue:  # a typo in a longer title beats an exact shorter one ("blade runer" is not "Blade")
            fuzzy = self._fuzzy_at(tokens, i, stop, title_cue=True, person_cue=False, strict=True)
            if fuzzy:
                return fuzzy
        for n in range(min(names.max_title_words, stop - i), 0, -1):
            words = tokens[i:i + n]
            capital = all(c[0].isupper() or c.lower() in COMMON for c in cased[i:i + n]) and cased[i][0].isupper()
            common = all(w in COMMON or w in self.genre_words for w in words)
            if common and not (capital and title_cue):
                continue  # "Up", "Seven", "Her" only when cued and capitalised
            if n == 1 and (len(words[0]) < 2 or (words[0] in self.genre_words and not capital)):
                continue
            key = normalise_title(" ".join(words))  # "amélie" -> "amelie", as the graph keys names and titles
            year, end = None, i + n
            rest = tokens[end:end + 3]
            if rest[:1] == ["("] and len(rest) > 1 and re.fullmatch(r"(19|20)\d\d", rest[1]):
                year, end = int(rest[1]), end + (3 if rest[2:3] == [")"] else 2)
            elif rest[:1] and re.fullmatch(r"(19|20)\d\d", rest[0]) and (title_cue or capital):
                year, end = int(rest[0]), end + 1
            person = names.names.get(key) if n >= 2 else None
            if person and (person_cue or not title_cue):
                return "person", person, i + n
            title_ok = title_cue or (capital and (n >= 2 or i > 0))
            if title_ok and key in names.titles or (title_ok and year and names.match_title(key, year, fuzzy=False)):
                item_id = names.match_title(key, year, fuzzy=False)
                if item_id:
                    return "title", names.title(item_id), end
            if n == 1 and not common and (person_cue or names.famous(key)):
                person = names.match_person(key, loose=True, fuzzy=False)
                if person:
                    return "person", person, i + 1
        return self._fuzzy_at(tokens, i, stop, title_cue, person_cue) if title_cue or person_cue else None

    def _fuzzy_at(self, tokens: list[str], i: int, stop: int, title_cue: bool, person_cue: bool,
                  strict: bool = False) -> tuple[str, str, int] | None:
        """Typo-tolerant title or person over the words after a cue, up to the next break; `strict` only
        tries phrases of two words or more (an exact match handles one-word titles better)."""
        assert self.names is not None
        j = i
        while j < stop and j - i < 5 and tokens[j] not in SCOPE_BREAKERS | {"and", "or", "with", "from", "in", "by",
                                                                          "but", "no", "not", "than", "last"}:
            j += 1
        for n in range(j - i, 1 if strict else 0, -1):
            words = tokens[i:i + n]
            if any(w in self.genre_words for w in words) or all(w in COMMON for w in words):
                continue
            phrase = " ".join(words)
            if person_cue:
                person = self.names.match_person(phrase, loose=True)
                if person:
                    return "person", person, i + n
            if title_cue and len(phrase) >= 5:
                item_id = self.names.match_title(phrase)
                if item_id:
                    return "title", self.names.title(item_id), i + n
        return None

    def _places(self, tokens: list[str], used: list[bool], negated: list[bool]) -> tuple[list[str], list[str]]:
        """(languages, countries): "in French"/"French-language" is a language, "a French film"/"from France" a
        country (the documented convention); negated mentions are dropped."""
        langs: list[str] = []
        countries: list[str] = []
        for i, tok in enumerate(tokens):
            if used[i]:
                continue
            pair = " ".join(tokens[i:i + 2])
            word = pair if pair in self.countries else tok
            width = 2 if word == pair and i + 1 < len(tokens) else 1
            prev, nxt = (tokens[i - 1] if i else ""), (tokens[i + width] if i + width < len(tokens) else "")
            lang_form = tok.split("-")[0] if tok.endswith(("-language", "-speaking")) else None
            if lang_form in self.languages or (tok in self.languages and (
                    prev in ("in", "spoken", "speaking") or nxt in ("language", "speaking", "spoken", "dialogue",
                                                                   "audio", "dubbed", "subtitles", "subtitled"))):
                if not negated[i]:
                    langs.append(self.languages[lang_form or tok])
                used[i] = True
                if nxt in ("language", "speaking", "spoken", "dialogue", "audio") and i + 1 < len(tokens):
                    used[i + 1] = True
            elif word in self.countries or (tok in COUNTRY_ALIASES and COUNTRY_ALIASES[tok] in self.countries.values()):
                if tok == "english" and prev != "an":
                    continue  # "english" alone is the language far more often than the country
                if not negated[i]:
                    countries.append(self.countries.get(word) or COUNTRY_ALIASES[tok])
                for j in range(i, i + width):
                    used[j] = True
        return list(dict.fromkeys(langs)), list(dict.fromkeys(countries))

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
        people, titles = self._entities(tokens, cased, used, negated)

        # regex slots run over the text with entities blanked, so "Heat (1995)" is not a year constraint
        starts, pos = [], 0
        masked = " ".join("§" * len(t) if u else t for t, u in zip(tokens, used))
        for tok in tokens:
            starts.append(pos)
            pos += len(tok) + 1
        drop: list[tuple[int, int]] = []
        year_min, year_max = parse_years(masked, drop, self.newest_year)
        runtime_min, runtime_max = parse_runtime(masked, drop)
        count = None
        m = COUNT_RE.search(masked)
        if m:
            raw = m.group(1) or m.group(2)
            count = int(raw) if raw.isdigit() else NUMBER_WORDS[raw]
            drop.append((m.start(1) if m.group(1) else m.start(2), m.end(1) if m.group(1) else m.end(2)))
        for a, b in drop:
            for i, s in enumerate(starts):
                if a <= s < b:
                    used[i] = True

        include: list[str] = []
        exclude: list[str] = []
        compound: list[str] = []  # genres of a wanted compound form ("rom-com"), which means all of them at once
        for start, end, gnames in self._genre_spans(tokens, used) + self._fuzzy_genres(tokens, used):
            target = exclude if any(negated[start:end]) else include
            target.extend(n for n in gnames if n not in target)
            if target is include and len(gnames) > 1:
                compound.extend(n for n in gnames if n not in compound)
            for j in range(start, end):
                used[j] = True
        include = [g for g in include if g not in exclude]
        languages, countries = self._places(tokens, used, negated)

        slots_free = "".join("§" if any(a <= k < b for a, b in drop) else ch for k, ch in enumerate(masked))
        refine = [op for op, rx in REFINE_RES if rx.search(slots_free)]  # "longer than 2 hours" is no "longer"
        positions = self._positions(low)
        feedback = next((kind for kind, rx in FEEDBACK_RES if rx.search(low)), None)
        clear = [slot for slot, rx in CLEAR_RES if rx.search(low)]
        ask = None
        question = low.endswith("?") or re.match(r"^(who|what|when|how|is|was|does|did|where|which|tell me|can you "
                                                 r"tell me)\b", low) is not None
        asking_for_films = re.search(r"\b(recommend|suggest|show me|give me|find me|looking for|something|anything|"
                                     r"films|movies|any others)\b", low)
        about_item = bool(titles or positions or re.search(r"\b(it|that|this)\b", low))
        if question and not asking_for_films and (about_item or not include):  # "any good westerns?" is a request
            ask = next((attr for attr, rx in ASK_ATTRS if rx.search(low)), None)
        if feedback == "seen" and re.search(r"\b(not|haven't|havent|never) (seen|watched)\b", low):
            feedback = None
        has_slots = bool(include or exclude or year_min or year_max or people or titles or runtime_min or runtime_max
                         or ((languages or countries) and WANT_RE.search(low)))  # "capital of France?" is no request

        cued = True
        if RESET_RE.search(low):
            intent = "reset"
        elif ask and not refine:
            intent = "ask"
        elif feedback and not (include or year_min or year_max or refine):
            intent = "feedback"
        elif refine:
            intent = "refine"
        elif MORE_RE.search(low) and not has_slots:
            intent = "more"
        elif clear and not has_slots:
            intent = "refine"
        elif GREETING_RE.search(low) and not has_slots and not WANT_RE.search(low):
            intent = "chitchat"
        elif has_slots or count is not None or WANT_RE.search(low):
            intent = "recommend"
        else:  # no cue at all: questions and errands are small talk, a few descriptive words a request
            cued = False
            content = [t for t in tokens if t.isalpha() and t not in FILLER]
            errand = question or re.match(r"^(can|could|would|will) you\b", low)
            intent = "chitchat" if errand or not content else "recommend"
        strong = include or exclude or year_min or year_max or people or runtime_min or runtime_max or count
        errand = ERRAND_RE.match(low) and not WANT_RE.search(low)
        if intent == "recommend" and not WANT_RE.search(low) and (errand or (question and not strong)):
            intent = "chitchat"  # "what's the weather like in Paris?": a capitalised word is no film request
        if intent in ("chitchat", "ask"):  # "how old is it?" asks, it does not constrain years or genres
            include, exclude, year_min, year_max, runtime_min, runtime_max = [], [], None, None, None, None
            if intent == "chitchat":
                people, titles, languages, countries = [], [], [], []

        # The soft query: wanted words only (negated spans, years, entities and filler removed, so "no horror"
        # never pulls horror films closer in embedding space); genre words stay ("funny sci-fi" embeds well).
        keep, leftover = [], []
        for i, tok in enumerate(tokens):
            if negated[i] or not tok[0].isalnum() or tok in FILLER or tok in NEGATORS or tok in ORDINALS:
                continue
            if used[i] and not any(tok in key for key in self.synonyms if len(key) == 1):
                continue
            keep.append(tok)
            if not used[i] and tok not in COMMON and tok.isalpha() and len(tok) > 2:
                leftover.append(tok)
        query = " ".join(keep) if intent in ("recommend", "refine", "more") else ""
        intent_obj = Intent(intent=intent, genres_include=tuple(include), genres_exclude=tuple(exclude),
                            year_min=year_min, year_max=year_max, people=tuple(people), titles=tuple(titles),
                            query=query, count=count, runtime_min=runtime_min, runtime_max=runtime_max,
                            languages=tuple(languages), countries=tuple(countries), refine=tuple(refine),
                            positions=tuple(positions), feedback=feedback if intent != "chitchat" else None,
                            ask=ask if intent == "ask" else None, clear=tuple(clear),
                            # all-of only when the compound is the whole genre request ("a rom-com or a western"
                            # stays any-of)
                            genres_all=tuple(compound) if compound and set(compound) == set(include) else ())
        return Analysis(intent_obj, leftover if intent in ("recommend", "refine", "chitchat") else [], cued)

    def _fuzzy_genres(self, tokens: list[str], used: list[bool]) -> list[tuple[int, int, tuple[str, ...]]]:
        """Misspelt one-word genre mentions ("funy", "documentery"): close to a synonym, not a known word."""
        out = []
        for i, tok in enumerate(tokens):
            if used[i] or len(tok) < 4 or not tok.isalpha() or tok in COMMON or (tok,) in self.synonyms:
                continue
            if self.names is not None and (tok in self.names.titles or tok in self.languages):
                continue
            close = difflib.get_close_matches(tok, self.single_genres, n=1, cutoff=0.85)
            if close:
                out.append((i, i + 1, self.synonyms[(close[0],)]))
        return out

    @staticmethod
    def _positions(low: str) -> list[int]:
        """1-based list positions referred to ("the second one", "number 3", "#2", "the last one")."""
        out: list[int] = []
        for m in re.finditer(r"\b(?:the )?(" + "|".join(ORDINALS) + r")( one| film| movie| pick| title| suggestion)?"
                             r"\b|\b(?:number|no\.?|#) ?([1-9])\b|#([1-9])\b", low):
            if m.group(1):
                word = m.group(1)
                tail = low[m.end():].lstrip()
                if not m.group(2) and not (m.group(0).startswith("the") and (not tail or tail[0] in "?!.,")
                                           or tail.startswith(("please", "is", "was", "about", "from", "looks"))):
                    continue  # a bare "first" ("first time", "the last few years") is not a reference
                out.append(ORDINALS[word])
            else:
                out.append(int(m.group(3) or m.group(4)))
        return list(dict.fromkeys(out))
