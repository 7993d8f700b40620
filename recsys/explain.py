"""Grounded, streamed explanations: one checked sentence per recommended item, or a sentence built from facts.

    guard = TitleGuard(item.title for item in catalog.items)        # once, < 1 s for 17k titles
    run = explain(generator, "a funny sci-fi film", recs, guard)
    for reply, reasons in run:                                        # reply = whole text so far
        ...
    run.sources                                                       # ["generated", "template", ...]

The small generator gets a narrow job: for each item, a few-shot prompt (prompts/) with only that item's facts and
the request, asked for one sentence. Every piece is checked before it is shown; a reason that names another
catalog title, claims a genre, year or name the facts do not back, or degenerates is replaced by
`template_reason`, and a last check of the whole reply falls back to facts for every item.
"""
from __future__ import annotations

import json
import logging
import re
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from .catalog import normalise_title
from .types import Item, Recommendation

log = logging.getLogger(__name__)

PROMPTS = Path(__file__).parent.parent / "prompts"
STOP = ("\n",)  # one line per reason; sentence length is bounded by max_new_tokens
REQUEST_WORDS = 40  # the request is repeated in every item's prompt: keep the prompt (and its cost) small
ABOUT_WORDS = 30  # description words given to the model

# Short function words: a title made only of these ("It", "Up", "Her", "What If") is common English, so it counts
# only when written like a title. Articles are also dropped from the front of titles ("The Matrix" = "Matrix").
STOPWORDS = frozenset("""
a an the and or but nor so yet of in on at to for from by with without about into onto over under up down out off
as is are was were be been being am do does did done have has had it its it's i me my we us our you your he him his
she her they them their this that these those there here what which who whom whose when where why how if then than
too very can will just not no all any some one two go get got let lets s t
""".split())
ARTICLES = ("the", "a", "an")
NAME_PARTICLES = frozenset("de da di del della der den van von la le du dos das bin ibn ter ten".split())
ABBREVIATIONS = frozenset("jr sr dr mr mrs ms st mt".split())  # a dot after these (or an initial) ends no sentence
SENTENCE_BREAK = re.compile(r"[.!?:;\n—–]|\s-\s")
EMPHASIS = re.compile(r"\*\*(.+?)\*\*|__(.+?)__|\*(.+?)\*|\"(.+?)\"|“(.+?)”|‘(.+?)’|(?<![\w])'(.+?)'(?![\w])")
TRAILING_YEAR = re.compile(r"\s*\(\s*\d{4}\s*\)\s*$")
TEMPLATE_WORDS = ("Oscar", "Oscars", "IMDb")  # capitalised words template_reason writes
NOT_TITLES = {(w.lower(),) for w in TEMPLATE_WORDS}  # so the films "Oscar" (1991) and "Oscar" (1967) are never flagged
MAX_OPEN_WORDS = 8  # how many trailing words may still be the start of an allowed title or name
FACT_ROLES = ("director", "cast", "top_cast", "writer", "language", "country")  # attributes holding names
NEGATORS = frozenset({"no", "not", "nothing", "without", "never", "non", "zero", "free", "instead"})
ALWAYS_CAPITALISED = frozenset({"i", "tv", "hollywood"})  # capitalised words that claim nothing

# Genre words a reason may claim; a claim is checked against the item's tags (and its own text).
GENRE_CLAIMS = {
    "comedy": "Comedy", "comedies": "Comedy", "comedic": "Comedy", "horror": "Horror", "war": "War",
    "western": "Western", "westerns": "Western", "thriller": "Thriller", "thrillers": "Thriller",
    "romance": "Romance", "romantic": "Romance", "drama": "Drama", "dramas": "Drama", "sci-fi": "Sci-Fi",
    "science fiction": "Sci-Fi", "science-fiction": "Sci-Fi", "crime": "Crime", "mystery": "Mystery",
    "fantasy": "Fantasy", "documentary": "Documentary", "musical": "Musical", "animated": "Animation",
    "animation": "Animation", "biopic": "Biography", "noir": "Film-Noir",
}
# "directed by X" / "starring X": the role a reason gives a person, checked against the item's own roles
ROLE_CLAIM_RE = re.compile(r"\b((?i:directed by|starring|stars|featuring))\s+((?:[A-Z][\w.'’-]*)(?:\s+[A-Z][\w.'’-]*)*)")
GENRE_CLAIM_RE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, GENRE_CLAIMS), key=len, reverse=True)) + r")\b",
                            re.IGNORECASE)
SCAFFOLDING = re.compile(
    r"\b(request|film|genres?|director|cast|runtime|about|facts|reason|title|year)\s*:|<\||\|>|\{\w*\}|"
    r"\b(system|user|assistant)\s*:|\bas an ai\b|\blanguage model\b|\bi(?:'m| am) sorry\b|\bi can(?:no|')t\b",
    re.IGNORECASE)


# --- the title guard ---------------------------------------------------------------------------------------------
class Token(NamedTuple):
    """One normalised word of a text and how it was written."""

    word: str  # lowercase ASCII ("Amélie" -> "amelie")
    capital: bool  # written with a capital first letter
    starts: bool  # opens the text or a sentence
    glued: bool  # only spaces (or nothing) since the previous word: "Ray Lawrence", not "Mann, Heat"


def _tokens(text: str) -> list[Token]:
    """The words of text. Titles and texts go through this one tokeniser, so "Python’s" and "WALL·E" split the
    same way in both."""
    out: list[Token] = []
    last = 0
    previous = ""
    for m in re.finditer(r"[^\W_]+", text):
        gap = text[last:m.start()]
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


def _key(title: str) -> tuple[str, ...]:
    """Match key of a title: its normalised words without a leading article ("The Thing" -> ("thing",))."""
    words = [t.word for t in _tokens(title)]
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
        self.titles: dict[tuple[str, ...], str] = {}  # key -> first original title with that key
        self.prefixes: set[tuple[str, ...]] = set()  # every prefix of every key, to stop scanning early
        for title in titles:
            key = _key(title)
            if key and key not in self.titles and key not in NOT_TITLES:
                self.titles[key] = title
                self.prefixes.update(key[:n] for n in range(1, len(key) + 1))

    def __len__(self) -> int:
        return len(self.titles)

    def violations(self, text: str, allowed_titles: Iterable[str] = (),
                   allowed_phrases: Iterable[str] = ()) -> list[str]:
        """Catalog titles named in `text` other than `allowed_titles`, in order of appearance.

        Words of `allowed_phrases` (people's names, genres) found in the text are masked, so "directed by Ray
        Lawrence" does not name the film "Ray".
        """
        tokens = _tokens(text)
        words = [t.word for t in tokens]
        allowed = {_key(t) for t in allowed_titles}
        masks = (allowed | {_key(p) for p in allowed_phrases}) - {()}
        masked = [False] * len(words)
        longest = max(map(len, masks), default=0)
        for i in range(len(words)):
            for n in range(1, min(longest, len(words) - i) + 1):
                if tuple(words[i:i + n]) in masks:
                    masked[i:i + n] = [True] * n
        found: list[tuple[int, int, str]] = []  # (start, end, title)
        for i in range(len(words)):
            for n in range(1, len(words) - i + 1):
                key = tuple(words[i:i + n])
                if key not in self.prefixes:
                    break
                if key in self.titles and key not in allowed and not all(masked[i:i + n]) \
                        and _written_as_title(tokens, i, i + n):
                    found.append((i, i + n, self.titles[key]))
        for m in EMPHASIS.finditer(text):  # a title standing alone in quotes or bold counts however it is written
            inner = TRAILING_YEAR.sub("", next(g for g in m.groups() if g is not None))
            key = _key(inner)
            start = len(_tokens(text[:m.start()]))
            end = start + len(_tokens(inner))
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
    neighbours = [tokens[before]] if before >= 0 and all(t.glued for t in tokens[before + 1:start + 1]) else []
    neighbours += [tokens[after]] if after < len(tokens) and all(t.glued for t in tokens[end:after + 1]) else []
    in_name = any(t.capital and not t.starts and t.word not in ARTICLES for t in neighbours)
    return mid_capital and all(t.capital for t in wanted) and not in_name


def fact_phrases(items: Iterable[Item]) -> list[str]:
    """Names and genres of items, to pass as `allowed_phrases` when checking a reply about them: a person named
    like a film ("Ed Wood", "Sting", "Nicholas Ray") is a fact, not a title."""
    items = list(items)
    names = {p for it in items for role in FACT_ROLES for p in it.people(role)}
    return sorted(names | {t for it in items for t in it.tags})


# --- checks on one reason ------------------------------------------------------------------------------------------
def _words(text: str) -> list[str]:
    """Lowercase words (letters and inner apostrophes) of text."""
    return re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", text.lower())


def is_repetitive(words: Sequence[str]) -> bool:
    """A word four times in a row, or any three words repeated: the way small models loop."""
    if any(words[i] == words[i + 1] == words[i + 2] == words[i + 3] for i in range(len(words) - 3)):
        return True
    trigrams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
    return len(set(trigrams)) < len(trigrams)


def is_degenerate(text: str) -> bool:
    """Empty, too short, repetitive, mostly non-letters, or leaked prompt scaffolding."""
    words = _words(text)
    visible = re.sub(r"\s", "", text)
    return (len(words) < 3 or sum(ch.isalpha() for ch in visible) < 0.6 * len(visible) or is_repetitive(words)
            or bool(SCAFFOLDING.search(text)))


ECHO_FILLER = {"film", "films", "movie", "movies", "about", "with", "this", "that", "from", "perfect", "great"}


def is_echo(text: str, request: str) -> bool:
    """The reason only restates the request ("A comedy about a science fiction film, nothing with horror"):
    fewer than two content words of its own, so it tells the person nothing about the item."""
    asked = set(_words(request))
    novel = [w for w in _words(text) if len(w) > 3 and w not in asked and w not in ECHO_FILLER]
    return len(novel) < 2


def contradictions(text: str, item: Item, request: str = "") -> list[str]:
    """Claims in `text` that the facts do not back: genre words the item lacks, years or decades other than its
    own, and capitalised names (people, places) that appear in neither the facts nor the request."""
    known = " ".join((item.title, item.text, " ".join(item.tags))).lower()
    tags = {t.lower() for t in item.tags}
    wrong = [m.group() for m in GENRE_CLAIM_RE.finditer(text)
             if GENRE_CLAIMS[m.group().lower()].lower() not in tags and m.group().lower() not in known
             and not NEGATORS & set(_words(text[:m.start()])[-3:])]  # "nothing with horror" claims no horror
    if item.year:
        wrong += [y for y in re.findall(r"\b(?:1[89]|20)\d\d\b", text) if int(y) != item.year]
        wrong += [m.group() for m in re.finditer(r"\b(?:1[89]|20)?(\d)0s\b", text)
                  if int(m.group(1)) != item.year // 10 % 10]
    facts = [item.title, item.text, request, *item.tags, *TEMPLATE_WORDS]
    facts += [p for role in FACT_ROLES for p in item.people(role)]
    vocabulary = set(normalise_title(" ".join(facts)).split())
    wrong += [t.word for t in _tokens(text)
              if t.capital and not t.starts and t.word not in vocabulary and t.word not in ALWAYS_CAPITALISED]
    return wrong + wrong_roles(text, item)


def wrong_roles(text: str, item: Item) -> list[str]:
    """People a reason puts in a role the facts give someone else: a director "starring" in their film, an actor
    "directing" it (the small generator mixes the fact lines up). Names in no role of the item are left to the
    unknown-name check."""
    directors = item.people("director")
    cast = item.people("cast") + item.people("top_cast")
    everyone = directors + cast + item.people("writer")

    def same(name: str, person: str) -> bool:
        a, b = name.lower().rstrip(".'’-"), person.lower().rstrip(".")  # a sentence's full stop is no initial
        return a == b or b.startswith(a + " ") or a.startswith(b + " ")

    wrong = []
    for m in ROLE_CLAIM_RE.finditer(text):
        claimed = directors if m.group(1).lower().startswith("direct") else cast
        name = m.group(2).rstrip(".'’-")
        if any(same(name, p) for p in everyone) and not any(same(name, p) for p in claimed):
            wrong.append(name)
    return wrong


# --- reasons built from facts ----------------------------------------------------------------------------------
def _genre_words(item: Item, request: str) -> list[str]:
    """Up to two genres in reading form, the ones the request names first ("sci-fi", "comedy")."""
    low = request.lower()
    names = [t for t in item.tags if t.lower() in low] + [t for t in item.tags if t.lower() not in low]
    return [n.lower().replace("film-noir", "film noir") for n in names[:2]]


def _a(word: str) -> str:
    """"a" or "an" before word (years included: "an 1895", "an 80s")."""
    return "an" if re.match(r"[aeiou]|8|18\d\d|11\b", word.lower()) else "a"


def template_reason(item: Item, request: str = "") -> str:
    """One sentence built only from the item's facts; wording varies with the item id so lists don't repeat."""
    genres = _genre_words(item, request)
    kind = (" and ".join(genres) + " film") if genres else "film"
    if item.year:
        kind = f"{item.year} {kind}"
    director = (item.people("director") or [""])[0]
    cast = " and ".join((item.people("top_cast") or item.people("cast"))[:2])
    a = item.attributes
    runtime = a.get("runtime") if isinstance(a.get("runtime"), int) and a["runtime"] > 0 else None
    if isinstance(a.get("oscars"), int) and a["oscars"] > 0:
        award = f", winner of {a['oscars']} Oscar{'s' if a['oscars'] > 1 else ''}"
    elif isinstance(a.get("imdb_rating"), (int, float)) and a["imdb_rating"] > 0:
        award = f", rated {a['imdb_rating']:.1f} on IMDb"
    else:
        award = ""
    variant = zlib.crc32(item.item_id.encode()) % 3  # crc32, not hash(): stable across processes
    # Names never open the sentence: a capitalised word there reads as a sentence start, not as part of a name.
    if variant == 1 and director and runtime:
        text = f"Directed by {director}, this {kind} runs {runtime} minutes" + (f", starring {cast}" if cast else "")
    elif variant == 2 and cast and runtime:
        text = f"Starring {cast}, this {kind}" + (f" from {director}" if director else "")
        text += f" runs {runtime} minutes"
    else:
        text = f"{_a(kind).capitalize()} {kind}" + (f" directed by {director}" if director else "")
        text += (f", starring {cast}" if cast else "") + (f", {runtime} minutes" if runtime else "")
    return text + award + "."


# --- prompts -------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _prompt_files() -> tuple[str, str, list[dict]]:
    """(system prompt, item template, few-shot examples), read once from prompts/."""
    system = (PROMPTS / "explain_system.txt").read_text().strip()
    template = (PROMPTS / "explain_item.txt").read_text().strip()
    examples = json.loads((PROMPTS / "explain_examples.json").read_text())
    return system, template, examples


def _first_words(text: str, limit: int) -> str:
    """The first `limit` words of text."""
    words = text.split()
    return " ".join(words[:limit]) + ("…" if len(words) > limit else "")


def _fill(template: str, request: str, title: str, year, genres, director, cast, runtime, about: str) -> str:
    """The item template filled with facts; a line whose fact is unknown is left out (the model would copy
    "unknown" into its sentence)."""
    facts = {"request": _first_words(request, REQUEST_WORDS), "title": title, "year": f" ({year})" if year else "",
             "genres": ", ".join(genres), "director": ", ".join(director), "cast": ", ".join(cast),
             "runtime": f"{runtime} min" if runtime else "", "about": _first_words(about, ABOUT_WORDS)}
    lines = []
    for row in template.splitlines():
        fields = re.findall(r"\{(\w+)\}", row)
        if any(facts[f] for f in fields if f != "year"):
            lines.append(row.format(**facts))
    return "\n".join(lines)


def item_messages(item: Item, request: str) -> list[dict[str, str]]:
    """Chat messages asking for one sentence on why `item` fits `request`: system, few-shot, this item."""
    system, template, examples = _prompt_files()
    messages = [{"role": "system", "content": system}]
    for ex in examples:
        messages.append({"role": "user", "content": _fill(template, ex["request"], ex["title"], ex["year"],
                                                          ex["genres"], ex["director"], ex["cast"], ex["runtime"],
                                                          ex["about"])})
        messages.append({"role": "assistant", "content": ex["reason"]})
    cast = (item.people("top_cast") or item.people("cast"))[:3]
    messages.append({"role": "user", "content": _fill(template, request, item.title, item.year, item.tags,
                                                      item.people("director")[:2], cast,
                                                      item.attributes.get("runtime"), item.text)})
    return messages


# --- cleaning what the model wrote -------------------------------------------------------------------------------
def _echo_pending(raw: str, title: str) -> bool:
    """True while the text so far could still turn out to be the item's title echoed back."""
    head = raw.lstrip(" \t\"'“*_-").lower()
    return bool(head) and title.lower().startswith(head)


def clean_reason(raw: str, title: str) -> str:
    """The model's text as one tidy line: no echoed title or label, quotes or markdown around it."""
    text = " ".join(raw.replace("**", "").split())
    text = re.sub(r"^(reason|why|answer)\s*:\s*", "", text, flags=re.IGNORECASE)
    echo = re.match(r"[\"'“]?" + re.escape(title) + r"[\"'”]?(\s*\(\d{4}\))?\s*[:—–-]\s*", text, re.IGNORECASE)
    if echo:
        text = text[echo.end():]
    text = text.strip(" \"'“”-")
    return text[:1].upper() + text[1:]


def _finish(text: str) -> str:
    """End a reason with sentence punctuation."""
    text = text.rstrip(" ,;:—–-")
    return text if not text or text[-1] in ".!?…" else text + "."


# --- the streamed reply ------------------------------------------------------------------------------------------
def header(count: int) -> str:
    """The reply's first line."""
    return "Here's a pick for you:" if count == 1 else f"Here are {count} picks for you:"


def line(item: Item, reason: str) -> str:
    """One reply line: "**Title** (1985) — reason"."""
    year = f" ({item.year})" if item.year else ""
    return f"**{item.title}**{year} — {reason}".rstrip(" —")


class Explanation:
    """A streamed, checked reply. Iterate for (whole reply so far, reasons so far); reasons has one entry per
    item ("" until it is written). After iterating: `reply`, `reasons`, and `sources` ("generated" or "template"
    per item)."""

    def __init__(self, generator, request: str, recs: Sequence[Recommendation], guard: TitleGuard,
                 max_new_tokens: int = 40) -> None:
        self.generator = generator
        self.request = request
        self.items = [r.item for r in recs]
        self.guard = guard
        self.max_new_tokens = max_new_tokens
        self.allowed = [it.title for it in self.items]
        self.phrases = fact_phrases(self.items)
        keys = [_key(t) for t in self.allowed + self.phrases]
        self.open_prefixes = {k[:n] for k in keys for n in range(1, len(k))}  # "The Dark" of "The Dark Knight"
        self.reasons = [""] * len(self.items)
        self.sources = ["template"] * len(self.items)
        self.lines = [line(it, "") for it in self.items]
        self.reply = ""
        self._failed = False  # after a generator error, the rest of the reply uses templates

    def _render(self) -> tuple[str, list[str]]:
        """The whole reply from the current lines (also kept in self.reply)."""
        self.reply = "\n".join([header(len(self.items)), *self.lines])
        return self.reply, list(self.reasons)

    def __iter__(self) -> Iterator[tuple[str, list[str]]]:
        yield self._render()
        for i, item in enumerate(self.items):
            finished = ""
            for text, done in self._generate(item):
                if done:
                    finished = text
                else:
                    self.lines[i] = line(item, text)
                    yield self._render()
            reason = self._accept(item, finished)
            self.sources[i] = "generated" if reason else "template"
            self.reasons[i] = reason or template_reason(item, self.request)
            self.lines[i] = line(item, self.reasons[i])
            yield self._render()
        if self.guard.violations(self.reply, self.allowed, self.phrases):  # the guarantee, whatever slipped by
            log.warning("explanation still names an outside title; using facts for every item")
            self.reasons = [template_reason(it, self.request) for it in self.items]
            self.sources = ["template"] * len(self.items)
            self.lines = [line(it, r) for it, r in zip(self.items, self.reasons)]
            yield self._render()
        log.info("explained %d items: %d generated, %d from facts", len(self.items),
                 self.sources.count("generated"), self.sources.count("template"))

    def _problem(self, item: Item, text: str) -> list[str]:
        """Outside titles named and facts contradicted in text (empty when it is fine)."""
        return self.guard.violations(text, self.allowed, self.phrases) or contradictions(text, item, self.request)

    def _generate(self, item: Item) -> Iterator[tuple[str, bool]]:
        """(cleaned reason so far, False) while streaming, then (whole reason, True); stops early, with no final
        pair, on an outside title, a contradiction or a generator error."""
        if self._failed:
            return
        raw, shown, pieces = "", "", None
        try:
            pieces = self.generator.stream(item_messages(item, self.request), self.max_new_tokens, STOP)
            for piece in pieces:
                raw += piece
                if _echo_pending(raw, item.title):
                    continue
                text = self._settled(clean_reason(raw, item.title))
                if text == shown:
                    continue
                problem = self._problem(item, text) or ("repetitive" if is_repetitive(_words(text)) else "")
                if problem:
                    log.warning("reason for %s stopped (%s); using facts", item.item_id, problem)
                    return
                shown = text
                yield text, False
        except Exception as e:  # a planned fallback: the turn must succeed without the generator
            log.warning("generator %s failed (%s: %s); using facts", getattr(self.generator, "name", "?"),
                        type(e).__name__, e)
            self._failed = True
            return
        finally:
            close = getattr(pieces, "close", None)
            if close:
                close()  # stops a local model's loop or closes the HTTP stream
        yield clean_reason(raw, item.title), True

    def _settled(self, text: str) -> str:
        """The part of a growing reason that later pieces cannot change into something else: complete words
        only ("Heat" may yet become "Heated"), and not the start of an allowed title or name ("The Dark" may
        yet become "The Dark Knight")."""
        text = re.sub(r"[^\W_]+$", "", text)
        starts = [m.start() for m in re.finditer(r"[^\W_]+", text)]
        for start in starts[-MAX_OPEN_WORDS:]:  # the longest open tail first
            if _key(text[start:]) in self.open_prefixes:
                return text[:start].rstrip()
        return text.rstrip()

    def _accept(self, item: Item, text: str) -> str:
        """The finished reason, or "" when it fails a check."""
        if not text:
            return ""
        text = _finish(text)
        problem = ("degenerate" if is_degenerate(text) else "echoes the request" if is_echo(text, self.request)
                   else self._problem(item, text))
        if problem:
            log.warning("reason for %s rejected (%s); using facts", item.item_id, problem)
            return ""
        return text


def warm_up(generator) -> float:
    """Explain one few-shot example for a single token; returns the seconds it took (0.0 when skipped).

    Run at load so the first person's first reason does not pay for the shared prompt head (system prompt and
    examples, ~270 tokens) or torch's first-call set-up: ~0.5 s of their first token on 2 CPU cores. Only a
    local model warms up; a remote server is not called before anyone asks.
    """
    if getattr(generator, "thread_safe", False) or not hasattr(generator, "tokenizer"):
        return 0.0
    _, _, examples = _prompt_files()
    ex = examples[0]
    item = Item(item_id="warm-up", title=ex["title"], year=ex["year"], text=ex["about"], tags=tuple(ex["genres"]),
                attributes={"director": ex["director"], "cast": ex["cast"], "runtime": ex["runtime"]})
    t0 = time.perf_counter()
    pieces = generator.stream(item_messages(item, ex["request"]), 1, STOP)
    try:
        next(iter(pieces), None)
    finally:
        close = getattr(pieces, "close", None)
        if close:
            close()
    seconds = time.perf_counter() - t0
    log.info("generator warmed up in %.2f s", seconds)
    return seconds


def explain(generator, request: str, recs: Sequence[Recommendation], guard: TitleGuard,
            max_new_tokens: int = 40) -> Explanation:
    """A streamed reply explaining `recs`: iterate it for (reply so far, reasons so far); see Explanation."""
    return Explanation(generator, request, recs, guard, max_new_tokens)
