"""From a dialogue state to the films shown: candidates (search + co-mentions under the hard filters), then a score
per candidate (the learned ranker, else the hand-set blend), then MMR.

    chooser = Chooser(settings, catalog, index, personal, comentions, ranker, votes)
    found = chooser.candidates(state, query, named)          # [(item, relevance)], the search's first
    recs = chooser.rank(found, state, k, user_id, query, named)

The engine owns one; evaluation and training use the same two calls, so what they measure is what people get.
`observer`, when set, receives (ids, feature rows) of every ranking call (train-ranker records them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..catalog.catalog import Catalog
from ..catalog.comentions import CoMentions
from ..catalog.text import normalise_title, title_echoes
from ..core.config import Settings
from ..core.types import DialogueState, Item, Recommendation
from ..dialogue.state import filters_for
from ..personal.serving import Personalizer, personal_score
from ..search.index import ItemIndex
from .features import CatalogFeatures, RankInputs, candidate_features
from .learned import LearnedRanker
from .scores import blend, mmr

# Films people recommend most in dialogues, added to the candidates under the hard filters for the learned ranker
# (which weighs them by its comention_degree column): the search alone found a quarter of the films real
# recommenders named next in the ReDial train sample.
POPULAR_EXTRAS = 300
POPULAR_MARGIN = 0.1  # cosine below the search's last pick that such a film may be (chosen on the valid sample)
ECHO_ROUNDS = 3  # times the top picks are checked for titles that echo the request (each round can lift others)
Votes = Callable[[str | None, DialogueState], list[tuple[str, bool]]]


class Chooser:
    """Candidates and ranking over the engine's parts; swapping `comentions` (training folds) rebuilds its columns."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        index: ItemIndex,
        personal: Personalizer | None,
        comentions: CoMentions | None,
        ranker: LearnedRanker | None,
        votes: Votes,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.index = index
        self.personal = personal
        self.ranker = ranker
        self.votes = votes
        self.observer: Callable[[list[str], np.ndarray], None] | None = None
        self.use(comentions)

    def use(self, comentions: CoMentions | None) -> None:
        """Rank with this co-mention table (train-ranker swaps in one per fold, so no film counts itself)."""
        self.comentions = comentions
        # Per-film columns (~60 ms at 17k films): now when a learned ranker will read them, not in a person's turn.
        self._static = CatalogFeatures(self.catalog, comentions) if self.ranker is not None else None
        degree = comentions.degree if comentions is not None else None
        self._popular_in_dialogues = (
            sorted((i for i in comentions.counts if self.catalog.get(i) is not None), key=lambda i: (-degree(i), i))
            if degree is not None
            else []
        )

    def candidates(self, state: DialogueState, query: str, named: Sequence[str] = ()) -> list[tuple[Item, float]]:
        """The search's top `candidates` under the hard filters, then (same filters) the films people named most
        with the ones this person liked or named, and with a learned ranker the films people recommend most in
        dialogues: text alone misses both."""
        filters = filters_for(state)
        found = self.index.search(query, filters, self.settings.candidates)
        if not found:
            return found
        scores = self._comention_scores(state, named)
        have = {item.item_id for item, _ in found}
        extra = sorted(
            (i for i in scores if i not in have and self.catalog.get(i) is not None), key=lambda i: (-scores[i], i)
        )[: self.settings.candidates]
        extra = [i for i in extra if i not in filters.exclude_ids]  # unique already: keys of `scores`
        added = self.index.score_ids(query, filters, extra)
        if self._learning:  # the blend has no column that would lift these; the learned ranker has
            # Only those at least as close to the request as the search's own last pick: "a sad film set in
            # Paris" must not get Frozen because dialogues name it often.
            have.update(extra)
            popular = [i for i in self._popular_in_dialogues[:POPULAR_EXTRAS] if i not in have]
            floor = min(s for _, s in found) - POPULAR_MARGIN if len(found) >= self.settings.candidates else -np.inf
            added += [(it, score) for it, score in self.index.score_ids(query, filters, popular) if score >= floor]
        return Candidates(found + added, searched=len(found))

    def rank(
        self,
        found: Sequence[tuple[Item, float]],
        state: DialogueState,
        k: int,
        user_id: str | None = None,
        query: str = "",
        named: Sequence[str] = (),
        votes: Sequence[tuple[str, bool]] | None = None,
    ) -> list[Recommendation]:
        """The k recommendations: each candidate scored, then MMR with this session's λ.

        The head's support set is the user's votes in the store (every session); without a user id, the session's.
        `votes`: those votes when the caller has read them already this turn (the engine's reasons read them too).
        """
        items = [item for item, _ in found]
        ids = [it.item_id for it in items]
        relevance = np.array([score for _, score in found], dtype=np.float32)  # (C,)
        vectors = self.index.vectors_for(ids)  # (C, d), unit rows
        personal, prior = self._head_scores(ids, user_id, state, query, votes)
        liked, disliked = self._centroid(state.liked_ids), self._centroid(state.disliked_ids)
        signals = (state, named, vectors, query, personal, prior, liked, disliked)
        rows, score = self._score(found, relevance, signals)
        words, read = self._request_words(query, named), set()
        for _ in range(ECHO_ROUNDS):  # scored again with those relevances lowered: a title word is not the film
            top = np.argsort(-score)[: 2 * k]  # only those that could be shown: each echo is embedded once
            echo = [int(i) for i in top if i not in read and words and title_echoes(items[i].title, words)]
            if not echo:
                break
            read.update(echo)
            relevance[echo] = np.minimum(relevance[echo], self.index.score_untitled(query, [items[i] for i in echo]))
            rows, score = self._score(found, relevance, signals)
        if self.observer is not None:
            self.observer(ids, rows)
        panel = personal if personal is not None else np.zeros(len(items), dtype=np.float32)  # (C,) for the panel
        return [
            Recommendation(items[i], float(score[i]), float(relevance[i]), personal=float(panel[i]))
            for i in mmr(score, vectors, k, state.diversity(self.settings.mmr_lambda))
        ]

    def _score(self, found: Sequence[tuple[Item, float]], relevance: np.ndarray, signals: tuple) -> tuple:
        """(feature rows or None, (C,) scores): the learned ranker's, else the hand-set blend's."""
        state, named, vectors, query, personal, prior, liked, disliked = signals
        rows = None
        if self._learning:
            rows = self._features(found, state, named, relevance, vectors, query, personal, prior, liked, disliked)
        if self.ranker is not None:
            return rows, self.ranker.score(rows)
        ids = [item.item_id for item, _ in found]
        popularity = np.array([self.catalog.popularity[self.catalog.position(i)] for i in ids])  # (C,)
        scores = self._comention_scores(state, named)
        comention = np.array([scores.get(i, 0.0) for i in ids], dtype=np.float32) if scores else None
        weight = self.settings.comention_weight
        return rows, blend(relevance, vectors, popularity, personal, prior, liked, disliked, comention, weight)

    def _request_words(self, query: str, named: Sequence[str]) -> list[str]:
        """The request's words a title may echo ("a rainy monday", Singin' in the Rain), so that such a pick's
        relevance is read again without its title (a film about rain keeps its score from the rest of its text).
        The named films' own title words are left out: "like The Godfather" may get its sequels."""
        own = {w for i in named if (it := self.catalog.get(i)) for w in normalise_title(it.title).split()}
        return [w for w in normalise_title(query).split() if w not in own]

    @property
    def _learning(self) -> bool:
        """Feature rows are needed: a learned ranker scores them, or train-ranker records them."""
        return self.ranker is not None or self.observer is not None

    def _features(
        self,
        found: Sequence[tuple[Item, float]],
        state: DialogueState,
        named: Sequence[str],
        relevance: np.ndarray,
        vectors: np.ndarray,
        query: str,
        personal: np.ndarray | None,
        prior: np.ndarray | None,
        liked: np.ndarray | None,
        disliked: np.ndarray | None,
    ) -> np.ndarray:
        """(C, len(FEATURES)) rows of the candidates (ranking/features.py)."""
        if self._static is None:
            self._static = CatalogFeatures(self.catalog, self.comentions)
        ids = [item.item_id for item, _ in found]
        anchors, shown = self._comention_parts(state, named)
        anchor_items = [it for it in (self.catalog.get(i) for i in anchors) if it is not None]
        named_ids = [i for i in dict.fromkeys(named) if self.catalog.get(i) is not None]
        inputs = RankInputs(
            [item for item, _ in found],
            relevance,
            vectors,
            searched=getattr(found, "searched", len(found)),
            query=query,
            personal=personal,
            prior=prior,
            liked=liked,
            disliked=disliked,
            anchors=self.index.vectors_for([it.item_id for it in anchor_items]) if anchor_items else None,
            anchor_items=anchor_items,
            comention=self._column(ids, anchors),
            comention_shown=self._column(ids, shown),
            comention_named=self._column(ids, named_ids),
            named=self.index.vectors_for(named_ids) if named_ids else None,
        )
        return candidate_features(inputs, self._static)

    # --- the signals -------------------------------------------------------------------------------------------
    def _comention_parts(self, state: DialogueState, named: Sequence[str]) -> tuple[list[str], list[str]]:
        """The anchors of co-mention: films liked or named, and films shown and not disliked (a lower weight: in
        real dialogues what was suggested before and not turned down says what this conversation is about)."""
        anchors = list(dict.fromkeys([*state.liked_ids, *named]))
        skip = set(anchors) | set(state.disliked_ids)
        return anchors, [i for i in state.shown_ids if i not in skip]

    def _comention_scores(self, state: DialogueState, named: Sequence[str]) -> dict[str, float]:
        """Co-mention of each film with the liked and named ones (shown ones at comention_shown); {} without a table."""
        if self.comentions is None:
            return {}
        anchors, shown = self._comention_parts(state, named)
        scores = self.comentions.scores(anchors)
        for item_id, value in self.comentions.scores(shown).items():
            scores[item_id] = scores.get(item_id, 0.0) + self.settings.comention_shown * value
        return scores

    def _column(self, ids: Sequence[str], anchors: Sequence[str]) -> np.ndarray | None:
        """(C,) co-mention of the candidates with the anchors; None without a table or anchors."""
        if self.comentions is None or not anchors:
            return None
        scores = self.comentions.scores(anchors)
        return np.array([scores.get(i, 0.0) for i in ids], dtype=np.float32)

    def _head_scores(
        self,
        ids: Sequence[str],
        user_id: str | None,
        state: DialogueState,
        query: str,
        votes: Sequence[tuple[str, bool]] | None = None,
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The head's scores (C,) adapted to this person's votes (read now unless given), and before them (the
        prior); (None, None) without a head."""
        if self.personal is None:
            return None, None
        votes = self.votes(user_id, state) if votes is None else list(votes)
        params = self.personal.params_for(user_id or "", votes)
        request = self.index.encode_query(query.strip()) if query.strip() else None  # cached by search
        if params is self.personal.init:  # no votes yet: the prior is the same prediction
            personal = personal_score(self.personal.scores(params, ids, request))
            return personal, personal
        personal, prior = self.personal.scores_under([params, self.personal.init], ids, request)
        return personal_score(personal), personal_score(prior)

    def _centroid(self, ids: Sequence[str]) -> np.ndarray | None:
        """Mean vector (d,) of the films voted on that are still in the catalog; None when there are none."""
        known = [i for i in ids if self.catalog.get(i) is not None]
        return self.index.vectors_for(known).mean(axis=0) if known else None


class Candidates(list):
    """The candidates, search results first; `searched` says how many came from the search (the rest from
    co-mentions), which the learned ranker reads as a column."""

    def __init__(self, found: Sequence[tuple[Item, float]], searched: int) -> None:
        super().__init__(found)
        self.searched = searched
