"""Is a reason grounded? The checks every generated sentence passes before it is shown.

    guard = TitleGuard(item.title for item in catalog.items)  # once, < 1 s for 17k titles
    guard.violations(text, [item.title], fact_phrases([item]))  # catalog titles named that are not this item's
    contradictions(text, item)  # genre, year or role claims the item's facts do not back
    is_degenerate(text), is_echo(text, request)  # empty, repetitive, leaked scaffolding; the request parroted

Kept apart from explainer.py (which prompts the generator and streams the reply) so the replay and the report
check answers with exactly the rules the product applies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from ..catalog.text import STOPWORDS, normalise_title
from ..core.types import Item

ARTICLES = ("the", "a", "an")
NAME_PARTICLES = frozenset("de da di del della der den van von la le du dos das bin ibn ter ten".split())
ABBREVIATIONS = frozenset("jr sr dr mr mrs ms st mt".split())  # a dot after these (or an initial) ends no sentence
SENTENCE_BREAK = re.compile(r"[.!?:;\n—–]|\s-\s")
EMPHASIS = re.compile(r"\*\*(.+?)\*\*|__(.+?)__|\*(.+?)\*|\"(.+?)\"|“(.+?)”|‘(.+?)’|(?<![\w])'(.+?)'(?![\w])")
TRAILING_YEAR = re.compile(r"\s*\(\s*\d{4}\s*\)\s*$")
TEMPLATE_WORDS = ("Oscar", "Oscars", "IMDb", "Rotten", "Tomatoes")  # capitalised words fact-built reasons write
NOT_TITLES = {(w.lower(),) for w in TEMPLATE_WORDS}  # so the films "Oscar" (1991) and "Oscar" (1967) are never flagged
FACT_ROLES = ("director", "cast", "top_cast", "writer", "language", "country")  # attributes holding names
# Words among the three before a genre word that deny the claim ("nothing with horror", "zero romance"); fewer
# than the request parser's NEGATION_WORDS (understanding.words), which open a scope over several words.
CLAIM_NEGATORS = frozenset({"no", "not", "nothing", "without", "never", "non", "zero", "free", "instead"})
ALWAYS_CAPITALISED = frozenset({"i", "tv", "hollywood"})  # capitalised words that claim nothing

# Genre words a reason may claim; a claim is checked against the item's tags (and its own text).
GENRE_CLAIMS = {
    "comedy": "Comedy",
    "comedies": "Comedy",
    "comedic": "Comedy",
    "horror": "Horror",
    "war": "War",
    "western": "Western",
    "westerns": "Western",
    "thriller": "Thriller",
    "thrillers": "Thriller",
    "romance": "Romance",
    "romantic": "Romance",
    "drama": "Drama",
    "dramas": "Drama",
    "sci-fi": "Sci-Fi",
    "science fiction": "Sci-Fi",
    "science-fiction": "Sci-Fi",
    "crime": "Crime",
    "mystery": "Mystery",
    "fantasy": "Fantasy",
    "documentary": "Documentary",
    "musical": "Musical",
    "animated": "Animation",
    "animation": "Animation",
    "biopic": "Biography",
    "noir": "Film-Noir",
}
# "directed by X" / "starring X": the role a reason gives a person, checked against the item's own roles
ROLE_CLAIM_RE = re.compile(
    r"\b((?i:directed by|director|filmmaker|made by|written by|from|by|starring|stars|featuring|with))\s+"
    r"((?:[A-Z][\w.'’-]*)(?:\s+[A-Z][\w.'’-]*)*)"
)
MAKER_WORDS = ("direct", "filmmaker", "made", "written", "from", "by")  # a role word claiming who made the film
GENRE_CLAIM_RE = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, GENRE_CLAIMS), key=len, reverse=True)) + r")\b", re.IGNORECASE
)
SCAFFOLDING = re.compile(
    r"\b(request|film|genres?|director|cast|runtime|about|facts|reason|title|year)\s*:|<\||\|>|\{\w*\}|"
    r"\b(system|user|assistant)\s*:|\bas an ai\b|\blanguage model\b|\bi(?:'m| am) sorry\b|\bi can(?:no|')t\b",
    re.IGNORECASE,
)


# --- the title guard ---------------------------------------------------------------------------------------------
class Token(NamedTuple):
    """One normalised word of a text and how it was written."""

    word: str  # lowercase ASCII ("Amélie" -> "amelie")
    capital: bool  # written with a capital first letter
    starts: bool  # opens the text or a sentence
    glued: bool  # only spaces (or nothing) since the previous word: "Ray Lawrence", not "Mann, Heat"


def title_tokens(text: str) -> list[Token]:
    """The words of text. Titles and texts go through this one tokeniser, so "Python’s" and "WALL·E" split the
    same way in both."""
    out: list[Token] = []
    last = 0
    previous = ""
    for m in re.finditer(r"[^\W_]+", text):
        gap = text[last : m.start()]
        if gap.strip() == "." and (len(previous) == 1 and previous.isupper() or previous.lower() in ABBREVIATIONS):
            gap = " "  # "John G. Avildsen", "Robert Downey Jr. and": the dot ends no sentence
        starts = not out or bool(SENTENCE_BREAK.search(gap))
        glued = bool(out) and not gap.strip()
        previous = m.group()
        for word in normalise_title(m.group()).split():  # "½" -> "1", "2"
            out.append(Token(word, m.group()[0].isupper(), starts, glued))
            starts, glued = False, True
        last = m.end()
    return out


def title_key(title: str) -> tuple[str, ...]:
    """Match key of a title: its normalised words without a leading article ("The Thing" -> ("thing",))."""
    words = [t.word for t in title_tokens(title)]
    if len(words) > 1 and words[0] in ARTICLES:
        words = words[1:]
    return tuple(words)


class TitleGuard:
    """Finds catalog titles named in a text, without flagging common words that happen to be titles.

    The fewer content (non-stop) words a title has, the more it must look like a title to count:
    three or more ("No Country for Old Men") count however they are written; two ("Star Wars", "Big Fish") need
    a capitalised content word that does not open a sentence; one or none ("Heat", "Up", "The Thing",
    "Into the Wild", "What If") need every content word capitalised and not only at a sentence start.
    Any title standing alone in quotes or bold ("**Heat**", '"1984"') counts; digits-only titles count only then,
    so years are safe.
    """

    def __init__(self, titles: Iterable[str]) -> None:
        """Index every title's match key once (< 1 s for 17k titles)."""
        self.titles: dict[tuple[str, ...], str] = {}  # key -> first original title with that key
        self.prefixes: set[tuple[str, ...]] = set()  # every prefix of every key, to stop scanning early
        for title in titles:
            key = title_key(title)
            if key and key not in self.titles and key not in NOT_TITLES:
                self.titles[key] = title
                self.prefixes.update(key[:n] for n in range(1, len(key) + 1))

    def __len__(self) -> int:
        """How many distinct title keys the guard knows."""
        return len(self.titles)

    def violations(
        self, text: str, allowed_titles: Iterable[str] = (), allowed_phrases: Iterable[str] = ()
    ) -> list[str]:
        """Catalog titles named in `text` other than `allowed_titles`, in order of appearance.

        Words of `allowed_phrases` (people's names, genres) found in the text are masked, so "directed by Ray
        Lawrence" does not name the film "Ray".
        """
        tokens = title_tokens(text)
        words = [t.word for t in tokens]
        allowed = {title_key(t) for t in allowed_titles}
        masks = (allowed | {title_key(p) for p in allowed_phrases}) - {()}
        masked = [False] * len(words)
        longest = max(map(len, masks), default=0)
        for i in range(len(words)):
            for n in range(1, min(longest, len(words) - i) + 1):
                if tuple(words[i : i + n]) in masks:
                    masked[i : i + n] = [True] * n
        found: list[tuple[int, int, str]] = []  # (start, end, title)
        for i in range(len(words)):
            for n in range(1, len(words) - i + 1):
                key = tuple(words[i : i + n])
                if key not in self.prefixes:
                    break
                if (
                    key in self.titles
                    and key not in allowed
                    and not all(masked[i : i + n])
                    and _written_as_title(tokens, i, i + n)
                ):
                    found.append((i, i + n, self.titles[key]))
        for m in EMPHASIS.finditer(text):  # a title standing alone in quotes or bold counts however it is written
            inner = TRAILING_YEAR.sub("", next(g for g in m.groups() if g is not None))
            key = title_key(inner)
            start = len(title_tokens(text[: m.start()]))
            end = start + len(title_tokens(inner))
            if key in self.titles and key not in allowed and not all(masked[start:end]):
                found.append((start, end, self.titles[key]))
        found.sort(key=lambda f: (f[0], f[0] - f[1]))
        kept: list[tuple[int, int, str]] = []
        for start, end, title in found:  # drop "Wars" inside "Star Wars"
            if not any(s <= start and end <= e for s, e, _ in kept):
                kept.append((start, end, title))
        return list(dict.fromkeys(title for _, _, title in kept))


def _written_as_title(tokens: list[Token], start: int, end: int) -> bool:
    """Whether tokens[start:end] look like a title, by how many content words they have (see TitleGuard)."""
    match = tokens[start:end]
    content = [t for t in match if t.word not in STOPWORDS]
    if len(content) >= 3:
        return True
    wanted = content or match
    mid_capital = any(t.capital and not t.starts for t in wanted)
    if len(content) == 2:
        return mid_capital
    # One content word: every word capitalised, and not just part of a longer name ("Ray" in "Nicholas Ray",
    # "Alice" in "Alice de Lencquesaing").
    before, after = start - 1, end
    while before >= 0 and tokens[before].word in NAME_PARTICLES and not tokens[before].capital:
        before -= 1
    while after < len(tokens) and tokens[after].word in NAME_PARTICLES and not tokens[after].capital:
        after += 1
    neighbours = [tokens[before]] if before >= 0 and all(t.glued for t in tokens[before + 1 : start + 1]) else []
    neighbours += [tokens[after]] if after < len(tokens) and all(t.glued for t in tokens[end : after + 1]) else []
    in_name = any(t.capital and not t.starts and t.word not in ARTICLES for t in neighbours)
    return mid_capital and all(t.capital for t in wanted) and not in_name


def fact_phrases(items: Iterable[Item]) -> list[str]:
    """Names and genres of items, to pass as `allowed_phrases` when checking a reply about them: a person named
    like a film ("Ed Wood", "Sting", "Nicholas Ray") is a fact, not a title."""
    items = list(items)
    names = {p for it in items for role in FACT_ROLES for p in it.people(role)}
    return sorted(names | {t for it in items for t in it.tags})


# --- checks on one reason ------------------------------------------------------------------------------------------
def words_of(text: str) -> list[str]:
    """Lowercase words (letters and inner apostrophes) of text."""
    return re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", text.lower())


def is_repetitive(words: Sequence[str]) -> bool:
    """A word four times in a row, or any three words repeated: the way small models loop."""
    if any(words[i] == words[i + 1] == words[i + 2] == words[i + 3] for i in range(len(words) - 3)):
        return True
    trigrams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    return len(set(trigrams)) < len(trigrams)


def is_degenerate(text: str) -> bool:
    """Empty, too short, repetitive, mostly non-letters, or leaked prompt scaffolding."""
    words = words_of(text)
    visible = re.sub(r"\s", "", text)
    return (
        len(words) < 3
        or sum(ch.isalpha() for ch in visible) < 0.6 * len(visible)
        or is_repetitive(words)
        or bool(SCAFFOLDING.search(text))
    )


ECHO_FILLER = {"film", "films", "movie", "movies", "about", "with", "this", "that", "from", "perfect", "great"}


def is_echo(text: str, request: str, year: int | None = None) -> bool:
    """The reason only restates the request ("A comedy about a science fiction film, nothing with horror"):
    fewer than two content words of its own, so it tells the person nothing about the item. The item's `year`,
    written and not asked for, counts as one: "A 1998 war film, as you asked" says which war film it is."""
    asked = set(words_of(request))
    novel = [w for w in words_of(text) if len(w) > 3 and w not in asked and w not in ECHO_FILLER]
    dated = bool(year) and str(year) in re.findall(r"\b\d{4}\b", text) and str(year) not in request
    return len(novel) + dated < 2


def contradictions(text: str, item: Item, extra: Sequence[str] = ()) -> list[str]:
    """Claims in `text` that the facts do not back: genre words the item lacks, years or decades other than its
    own, and capitalised names (people, places) that appear in neither the facts nor `extra` (names the evidence
    gives, such as a liked film's title). The request backs no name: "set in Paris" must be the film's, and an
    injected "HACKED" is nobody's."""
    known = " ".join((item.title, item.text, " ".join(item.tags))).lower()
    tags = {t.lower() for t in item.tags}
    wrong = [
        m.group()
        for m in GENRE_CLAIM_RE.finditer(text)
        if GENRE_CLAIMS[m.group().lower()].lower() not in tags
        and m.group().lower() not in known
        and not CLAIM_NEGATORS & set(words_of(text[: m.start()])[-3:])
    ]  # "nothing with horror" claims no horror
    if item.year:
        wrong += [y for y in re.findall(r"\b(?:1[89]|20)\d\d\b", text) if int(y) != item.year]
        wrong += [
            m.group() for m in re.finditer(r"\b(?:1[89]|20)?(\d)0s\b", text) if int(m.group(1)) != item.year // 10 % 10
        ]
    facts = [item.title, item.text, *item.tags, *TEMPLATE_WORDS, *extra]
    facts += [p for role in FACT_ROLES for p in item.people(role)]
    vocabulary = set(normalise_title(" ".join(facts)).split())
    wrong += [
        t.word
        for t in title_tokens(text)
        if t.capital and not t.starts and t.word not in vocabulary and t.word not in ALWAYS_CAPITALISED
    ]
    return wrong + wrong_roles(text, item)


def wrong_roles(text: str, item: Item) -> list[str]:
    """People a reason puts in a role the facts give someone else: a director "starring" in their film, an actor
    "directing" it (the small generator mixes the fact lines up). Names in no role of the item are left to the
    unknown-name check."""
    directors = item.people("director")
    cast = item.people("cast") + item.people("top_cast")
    everyone = directors + cast + item.people("writer")

    def same(name: str, person: str) -> bool:
        """The claimed name is this person, or one part of the name the other gives in full."""
        a, b = name.lower().rstrip(".'’-"), person.lower().rstrip(".")  # a sentence's full stop is no initial
        return a == b or b.startswith(a + " ") or a.startswith(b + " ")

    wrong = []
    for m in ROLE_CLAIM_RE.finditer(text):
        word = m.group(1).lower()
        claimed = (
            directors
            if word.startswith("direct")
            else item.people("writer")
            if word.startswith("written")
            else directors + item.people("writer")
            if word.startswith(MAKER_WORDS)
            else cast
        )
        name = m.group(2).rstrip(".'’-")
        if any(same(name, p) for p in everyone) and not any(same(name, p) for p in claimed):
            wrong.append(name)
    return wrong
