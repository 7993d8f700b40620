"""Films named in dialogues mapped to catalog items, and the evaluation samples (points and their targets).

    matcher = TitleMatcher(engine.catalog)
    matcher.match("Matrix, The", 2000)          # "tt0133093" (the 1999 film: year within ±1)
    samples, counts = extract_samples(conversations, matcher)

Mapping is by normalised title (case, accents, punctuation, "&" = "and", a trailing ", The" moved to the front, and
a leading article dropped when the exact form is not there) plus year: the same year first, then ±1 (release
dates straddle new year); a given year that matches no catalog film of that title leaves the film unmapped (a
remake is another film). A title with a year may also name the catalog film whose main title (before ":" or a
dash) it is: "Star Wars (1977)" is "Star Wars: Episode IV – A New Hope" (1977). Without a year, the most popular
catalog film of that title. Titles found in free text (IARD, CRSLab context) may begin with the sentence's own
words ("I think Avatar"), so their shorter word-tails are tried too, longest first.

A sample is a recommender turn that names films not mentioned before in the conversation by either side; its
targets are those new films that map to the catalog. Films mentioned before are compared by catalog id when they
map, else by the dataset's id or title and year.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..catalog.catalog import Catalog
from ..catalog.text import normalise_title
from .dialogues import RECOMMENDER, SEEKER, Conversation, Mention

ARTICLES = ("the", "a", "an")
MOVED_ARTICLE_RE = re.compile(r"^(.*?),\s*(the|a|an)$", re.IGNORECASE)  # "Matrix, The"
SUBTITLE_RE = re.compile(r"\s*(?::|\s[–—-]\s)")  # where a main title ends: "Alien: Resurrection", "Heat – Part 2"
CATALOG_LAST_YEAR = 2014  # the default catalog's newest films: later ones are expected not to map


def title_key(title: str) -> str:
    """Normalised words of a title with a trailing article moved to the front: "Matrix, The" -> "the matrix"."""
    title = " ".join(title.split())
    moved = MOVED_ARTICLE_RE.match(title)
    if moved:
        title = f"{moved.group(2)} {moved.group(1)}"
    return normalise_title(title.replace("&", " and "))


def bare_key(key: str) -> str:
    """A title key without its leading article ("the matrix" -> "matrix")."""
    first, _, rest = key.partition(" ")
    return rest if first in ARTICLES and rest else key


class TitleMatcher:
    """Catalog items by normalised title: `match(title, year)` is an item id or None."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._exact: dict[str, list[int]] = {}  # title key -> catalog positions
        self._bare: dict[str, list[int]] = {}  # the same without a leading article
        self._main: dict[str, list[int]] = {}  # main title (before a subtitle) -> positions, used with a year only
        for pos, item in enumerate(catalog.items):
            key = title_key(item.title)
            if key:
                self._exact.setdefault(key, []).append(pos)
                self._bare.setdefault(bare_key(key), []).append(pos)
            main = SUBTITLE_RE.split(item.title, maxsplit=1)
            if len(main) == 2 and title_key(main[0]):
                self._main.setdefault(bare_key(title_key(main[0])), []).append(pos)
        self._memo: dict[tuple[str, int | None, bool], str | None] = {}

    def match(self, title: str, year: int | None = None, loose: bool = False) -> str | None:
        """The catalog id of a film written `title` (year ±1 when given); `loose` also tries its word-tails."""
        memo_key = (title, year, loose)
        if memo_key not in self._memo:
            words = title.split()
            tails = [" ".join(words[i:]) for i in range(len(words))] if loose else [title]
            found = None
            for tail in tails:
                found = self._lookup(tail, year)
                if found is not None:
                    break
            self._memo[memo_key] = found
        return self._memo[memo_key]

    def match_mention(self, mention: Mention) -> str | None:
        """The catalog id of a mention, or None (no title, or not in the catalog)."""
        return self.match(mention.title, mention.year, loose=mention.inline) if mention.title else None

    def _lookup(self, title: str, year: int | None) -> str | None:
        """One title's best catalog film: exact key first, else without its article; by year, then popularity."""
        key = title_key(title)
        if not key:
            return None
        positions = self._exact.get(key) or self._bare.get(bare_key(key)) or []
        pops = self.catalog.popularity
        if year is None:
            best = max(positions, key=lambda p: (pops[p], -p), default=None)
            return None if best is None else self.catalog.items[best].item_id
        return self._by_year(positions, year) or self._by_year(self._main.get(bare_key(key), []), year)

    def _by_year(self, positions: Sequence[int], year: int) -> str | None:
        """The most popular of the positions released in `year`, else within a year of it; None if neither."""
        years, pops = self.catalog.years, self.catalog.popularity
        for tolerance in (0, 1):
            near = [p for p in positions if abs(years[p] - year) <= tolerance]  # NaN years never compare true
            if near:
                best = max(near, key=lambda p: (pops[p], -p))
                return self.catalog.items[best].item_id
        return None


@dataclass(frozen=True)
class Sample:
    """One evaluation point: a recommender turn that names new films, and what was known before it."""

    dialogue: int  # the conversation's position in the file: the bootstrap resamples these
    conversation_id: str
    turn: int  # index of the recommender turn in Conversation.turns
    targets: tuple[str, ...]  # catalog ids of the new films that map
    unmapped: tuple[str, ...] = ()  # labels of the new films that do not
    mentioned: tuple[str, ...] = ()  # catalog ids named before, by either side, oldest first
    recommended: tuple[str, ...] = ()  # catalog ids the recommender named before
    last_recommended: tuple[str, ...] = ()  # those of the recommender's latest turn that named films
    liked: tuple[str, ...] = ()  # films the seeker named before and liked (the dataset's answers)
    disliked: tuple[str, ...] = ()  # films the seeker named before and did not like
    seeker_texts: tuple[str, ...] = ()  # the seeker's messages before this point, in order


@dataclass
class Counts:
    """How much of the data could be used: the figures every report quotes beside its metrics."""

    dialogues: int = 0
    dialogues_scored: int = 0  # with at least one sample that has a mapped target
    points: int = 0  # recommender turns naming at least one new film
    samples: int = 0  # points with at least one mapped target (the ones scored)
    targets: int = 0  # new films at the points
    targets_mapped: int = 0
    targets_after_catalog: int = 0  # unmapped targets from after CATALOG_LAST_YEAR (expected misses)
    mentions: int = 0  # every film mention, either side
    mentions_mapped: int = 0
    unmapped_examples: list[str] = field(default_factory=list)  # the most frequent unmapped targets

    def to_dict(self) -> dict:
        """JSON-ready figures."""
        return dict(self.__dict__)


def extract_samples(conversations: Sequence[Conversation], matcher: TitleMatcher) -> tuple[list[Sample], Counts]:
    """Every scored point of every conversation, and the counts (mapped / total targets and mentions)."""
    samples: list[Sample] = []
    counts = Counts(dialogues=len(conversations))
    missing: Counter = Counter()
    for number, conv in enumerate(conversations):
        found = _conversation_samples(number, conv, matcher, counts, missing)
        samples += found
        counts.dialogues_scored += bool(found)
    counts.unmapped_examples = [f"{label} ×{n}" for label, n in missing.most_common(15)]
    return samples, counts


def _conversation_samples(
    number: int, conv: Conversation, matcher: TitleMatcher, counts: Counts, missing: Counter
) -> list[Sample]:
    """The samples of one conversation; counts and the unmapped tally are updated as it goes."""
    out: list[Sample] = []
    seen_keys: set[str] = set()
    mentioned: list[str] = []
    recommended: list[str] = []
    last: tuple[str, ...] = ()
    liked: list[str] = []
    disliked: list[str] = []
    texts: list[str] = []
    for index, turn in enumerate(conv.turns):
        mapped = [(m, matcher.match_mention(m)) for m in turn.mentions]
        counts.mentions += len(mapped)
        counts.mentions_mapped += sum(i is not None for _, i in mapped)
        new = [(m, i) for m, i in mapped if _key(m, i) not in seen_keys]
        if turn.speaker == RECOMMENDER and turn.scored and new:
            counts.points += 1
            counts.targets += len(new)
            targets = tuple(dict.fromkeys(i for _, i in new if i is not None))
            unmapped = tuple(m.label() or f"id {m.source_id}" for m, i in new if i is None)
            counts.targets_mapped += sum(i is not None for _, i in new)
            counts.targets_after_catalog += sum(i is None and (m.year or 0) > CATALOG_LAST_YEAR for m, i in new)
            missing.update(unmapped)
            if targets:
                counts.samples += 1
                out.append(
                    Sample(
                        number,
                        conv.conversation_id,
                        index,
                        targets,
                        unmapped,
                        tuple(mentioned),
                        tuple(recommended),
                        last,
                        tuple(liked),
                        tuple(disliked),
                        tuple(texts),
                    )
                )
        for m, i in mapped:
            seen_keys.add(_key(m, i))
            if i is None:
                continue
            if i not in mentioned:
                mentioned.append(i)
            if turn.speaker == RECOMMENDER and i not in recommended:
                recommended.append(i)
            if turn.speaker == SEEKER and m.liked is not None and i not in liked and i not in disliked:
                (liked if m.liked else disliked).append(i)
        if turn.speaker == RECOMMENDER and any(i is not None for _, i in mapped):
            last = tuple(dict.fromkeys(i for _, i in mapped if i is not None))
        if turn.speaker == SEEKER and turn.text:
            texts.append(turn.text)
    return out


def _key(mention: Mention, item_id: str | None) -> str:
    """Identity of a mentioned film within a conversation: its catalog id, else its dataset id or title and year."""
    if item_id is not None:
        return item_id
    if mention.source_id:
        return f"source:{mention.source_id}"
    return f"title:{title_key(mention.title)}:{mention.year}"
