"""Languages and countries named in a message: "in French" or "French-language" is a language, "a French film" or
"from France" a country (the documented convention); a place inside a topic ("about the Korean war", "set in
Paris") is what the film is about, left to the search.

    reader = PlaceReader(graph.languages, graph.countries)  # or PlaceReader() without a graph
    languages, countries = reader.read(tokens, used, negated)  # marks the tokens it explains as used

Part of the lexicon parser (lexicon.py), which runs it after entities, numbers and genres.
"""

from __future__ import annotations

from collections.abc import Iterable

from .words import COUNTRY_ALIASES, TOPIC_MARKERS

LANGUAGE_WORDS = ("language", "speaking", "spoken", "dialogue", "audio")  # "French language": both words explained
LANGUAGE_NEXT = LANGUAGE_WORDS + ("dubbed", "subtitles", "subtitled")  # words after a language name that say so
DEFAULT_LANGUAGES = ["English", "French", "Spanish", "German", "Italian", "Japanese"]  # without a graph


class PlaceReader:
    """Language and country mentions in a tokenised message, over the catalog's own names (plus aliases)."""

    def __init__(self, languages: Iterable[str] | None = None, countries: Iterable[str] | None = None) -> None:
        """The catalog's language and country names; None = a small default set (no graph to read them from)."""
        known = set(countries) if countries is not None else set(COUNTRY_ALIASES.values())
        langs = languages if languages is not None else DEFAULT_LANGUAGES
        self.languages = {lang.lower(): lang for lang in langs if " " not in lang}
        self.countries = {c.lower(): c for c in known}
        self.countries.update({k: v for k, v in COUNTRY_ALIASES.items() if v in known})

    def read(self, tokens: list[str], used: list[bool], negated: list[bool]) -> tuple[list[str], list[str]]:
        """(languages, countries) outside used tokens; marks their tokens used; negated mentions are dropped."""
        langs: list[str] = []
        countries: list[str] = []
        for i, tok in enumerate(tokens):
            if used[i]:
                continue
            pair = " ".join(tokens[i : i + 2])
            word = pair if pair in self.countries else tok
            width = 2 if word == pair and i + 1 < len(tokens) else 1
            prev, nxt = (tokens[i - 1] if i else ""), (tokens[i + width] if i + width < len(tokens) else "")
            lang_form = tok.split("-")[0] if tok.endswith(("-language", "-speaking")) else None
            if lang_form in self.languages or (
                tok in self.languages and (prev in ("in", "spoken", "speaking") or nxt in LANGUAGE_NEXT)
            ):
                if not negated[i]:
                    langs.append(self.languages[lang_form or tok])
                used[i] = True
                if nxt in LANGUAGE_WORDS and i + 1 < len(tokens):
                    used[i + 1] = True
            elif word in self.countries or (tok in COUNTRY_ALIASES and COUNTRY_ALIASES[tok] in self.countries.values()):
                if tok == "english" and prev != "an":
                    continue  # "english" alone is the language far more often than the country
                if _in_topic(tokens, i):
                    continue  # "about the Korean war", "set in France": what it is about, left to the search
                if not negated[i]:
                    countries.append(self.countries.get(word) or COUNTRY_ALIASES[tok])
                for j in range(i, i + width):
                    used[j] = True
        return list(dict.fromkeys(langs)), list(dict.fromkeys(countries))


def _in_topic(tokens: list[str], i: int) -> bool:
    """True when the word at i is inside a phrase that says what a film is about or where it happens (the three
    words before it hold a topic marker): a place named there is the subject, not where the film was made."""
    return any(t in TOPIC_MARKERS for t in tokens[max(0, i - 3) : i])
