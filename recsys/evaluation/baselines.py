"""Baselines for the conversation evaluation, scored on exactly the samples the app is scored on.

    methods = [Popularity(catalog), Embedding(index), CoMention.fit(train_conversations, matcher, catalog)]
    ids = methods[0].rank(sample, k=50)   # catalog ids, best first, none of them mentioned before the point

- popularity: the catalog's best-known films (the `popularity` attribute), minus films mentioned so far;
- embedding: the MiniLM index searched with all the seeker's words so far, no constraints, no head, no MMR;
- co-mention: item-item counts of films named in the same training dialogue (either side); a film's score is the
  sum of its counts with the films mentioned so far, ties and the rest by popularity.
Every method sees the same context (both sides' film mentions, the seeker's words); none sees the targets.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from ..catalog.catalog import Catalog
from ..core.types import Filters
from .conversation_samples import Sample, TitleMatcher
from .dialogues import Conversation

log = logging.getLogger(__name__)


class Popularity:
    """The most popular films not mentioned so far."""

    name = "popularity"

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._order = [catalog.items[p].item_id for p in np.argsort(-catalog.popularity, kind="stable")]

    def rank(self, sample: Sample, k: int) -> list[str]:
        """The k most popular films, skipping those mentioned before the point."""
        return _first(self._order, set(sample.mentioned), k)


class Embedding:
    """Raw retrieval: the seeker's words so far against the item embeddings (what the app's search starts from)."""

    name = "embedding"

    def __init__(self, index) -> None:
        self.index = index

    def rank(self, sample: Sample, k: int) -> list[str]:
        """The k items nearest the seeker's words (popularity when they have said nothing), minus mentioned films."""
        query = " ".join(sample.seeker_texts)
        found = self.index.search(query, Filters(exclude_ids=frozenset(sample.mentioned)), k)
        return [item.item_id for item, _ in found]


class CoMention:
    """Films named together in training dialogues: score = sum of co-mention counts with the films said so far."""

    name = "co-mention"

    def __init__(self, catalog: Catalog, counts: dict[str, Counter]) -> None:
        self.counts = counts  # item id -> Counter of item ids named in the same dialogue
        self.popular = Popularity(catalog)
        self._pop = {it.item_id: float(p) for it, p in zip(catalog.items, catalog.popularity)}

    @classmethod
    def fit(cls, conversations: Iterable[Conversation], matcher: TitleMatcher, catalog: Catalog) -> CoMention:
        """Co-mention counts over the films of each training dialogue that map to the catalog."""
        counts: dict[str, Counter] = defaultdict(Counter)
        dialogues = 0
        for conv in conversations:
            ids = {matcher.match_mention(m) for turn in conv.turns for m in turn.mentions} - {None}
            dialogues += bool(ids)
            for a in ids:
                for b in ids:
                    if a != b:
                        counts[a][b] += 1
        log.info(
            "co-mention: %d films from %d training dialogues, %d pairs",
            len(counts),
            dialogues,
            sum(len(c) for c in counts.values()) // 2,
        )
        return cls(catalog, dict(counts))

    def rank(self, sample: Sample, k: int) -> list[str]:
        """Films co-mentioned most with those said so far, then the most popular (the back-off)."""
        mentioned = set(sample.mentioned)
        score: Counter = Counter()
        for item_id in sample.mentioned:
            score.update(self.counts.get(item_id, {}))
        scored = sorted((i for i in score if i not in mentioned), key=lambda i: (-score[i], -self._pop.get(i, 0.0), i))
        return _first(scored + self.popular.rank(sample, k), mentioned, k)


def _first(ids: Sequence[str], skip: set[str], k: int) -> list[str]:
    """The first k ids not in skip, each once, in order."""
    out: list[str] = []
    seen = set(skip)
    for item_id in ids:
        if item_id not in seen:
            seen.add(item_id)
            out.append(item_id)
            if len(out) == k:
                break
    return out
