"""Serving the per-user head: a person's votes -> adapted weights (cached) -> personal scores, taste, onboarding.

    personal = Personalizer(head, catalog.items, index.vectors)
    params = personal.params_for(user_id, votes)               # votes: [(item_id, liked), ...] oldest first
    predicted = personal.scores(params, item_ids, query_vector)  # (C,) ratings on the 1..5 scale
    personal.taste(params)                                     # genres and people with predicted affinity
    personal.onboarding(params, exclude, n=5)                   # informative films to rate first (MeLU)

The store's feedback is the source of truth; adapted weights are only a cache keyed by the exact vote list, so a
new vote (or a vote taken back) is a new key. A person with no votes gets the meta-learned initialisation.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch

from ..core.types import Item
from .head import DISLIKE_RATING, LIKE_RATING, RATING_MID, Head, with_collab
from .inputs import head_inputs, item_features, tag_prototypes, tag_rows

log = logging.getLogger(__name__)

CACHE_USERS = 2048  # adapted weights kept (~9 KB each)
PROFILE_MIN_FILMS = 3  # people in the taste profile need this many catalog films, so the prototype means something
ONBOARD_POOL = 400  # onboarding draws from the most popular films: people can rate what they have seen
Params = dict[str, torch.Tensor]


def latest_votes(votes: Sequence[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """The last vote per item, in the order the last votes were cast."""
    last: dict[str, bool] = {}
    for item_id, liked in votes:
        last.pop(item_id, None)
        last[item_id] = bool(liked)
    return list(last.items())


class Personalizer:
    """The head plus the catalog arrays it reads, an adapted-weights cache and the taste-profile prototypes."""

    def __init__(self, head: Head, items: Sequence[Item], vectors: np.ndarray) -> None:
        """`vectors` (I, d): the index rows of `items`, in the same order."""
        if vectors.shape[1] != head.config.dim:
            raise ValueError(f"the head expects {head.config.dim}-d item vectors, the index has {vectors.shape[1]}-d")
        self.head = head
        self.items = list(items)
        self.vectors = vectors  # (N, d) the index's rows, catalog order
        self._collab = head.collab_rows([it.item_id for it in items])  # (N, c) who likes each film, if the head knows
        self.features = item_features(self.items)  # (N, 3)
        self._pos = {it.item_id: i for i, it in enumerate(self.items)}
        self.init = {k: v.detach() for k, v in head.init_params().items()}
        rows = {t: r for t, r in tag_rows(self.items).items() if t.startswith("genre:") or len(r) >= PROFILE_MIN_FILMS}
        self.tag_names, tag_vectors, tag_extras = tag_prototypes(rows, vectors, self.features)
        kinds = [name.partition(":") for name in self.tag_names]
        self._tag_labels = [label for _, _, label in kinds]
        self._genre_tags = [t for t, (kind, _, _) in enumerate(kinds) if kind == "genre"]
        self._person_tags = np.array([t for t, (kind, _, _) in enumerate(kinds) if kind != "genre"], dtype=np.int64)
        with torch.no_grad():  # prototypes' body outputs never change: only the decision layers adapt
            zero = torch.zeros(vectors.shape[1])
            prototypes = torch.as_tensor(head.text_only(tag_vectors))  # a genre has no ratings of its own
            self._tag_hidden = head.body(prototypes, torch.as_tensor(tag_extras), zero)  # (T, h)
            self._tag_init = head.decide(self.init, self._tag_hidden).numpy()  # (T,)
        popularity = self.features[:, 1]
        self._pool = np.argsort(-popularity, kind="stable")[:ONBOARD_POOL]
        self._init_sensitivity: np.ndarray | None = None  # (ONBOARD_POOL,) for everyone without votes: made once
        self._cache: OrderedDict[tuple, Params] = OrderedDict()
        self._lock = threading.Lock()

    def positions(self, ids: Sequence[str]) -> np.ndarray:
        """Catalog rows of the known ids."""
        return np.array([self._pos[i] for i in ids if i in self._pos], dtype=np.int64)

    # --- adaptation -----------------------------------------------------------------------------------------------
    def params_for(self, user_id: str, votes: Sequence[tuple[str, bool]]) -> Params:
        """Decision weights adapted to a person's latest votes, cached by (user, exact vote list)."""
        support = [(i, liked) for i, liked in latest_votes(votes) if i in self._pos]
        if not support:
            return self.init
        key = (user_id, tuple(support))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        rows = self.positions([i for i, _ in support])
        ratings = [LIKE_RATING if liked else DISLIKE_RATING for _, liked in support]
        vectors = self.vectors[rows]
        extras = head_inputs(self.features[rows], vectors, None)
        params = self.head.adapt(
            self.init, self._inputs(rows, vectors), extras, np.zeros(vectors.shape[1], np.float32), ratings
        )
        with self._lock:
            self._cache[key] = params
            if len(self._cache) > CACHE_USERS:
                self._cache.popitem(last=False)
        return params

    def scores(self, params: Params, item_ids: Sequence[str], query: np.ndarray | None) -> np.ndarray:
        """(C,) predicted ratings of catalog items for a request vector (None = no request)."""
        return self.scores_under([params], item_ids, query)[0]

    def scores_under(
        self, param_sets: Sequence[Params], item_ids: Sequence[str], query: np.ndarray | None
    ) -> list[np.ndarray]:
        """`scores` under each set of weights (a person's and the prior), the items' part computed once."""
        rows = self.positions(item_ids)
        vectors = self.vectors[rows]
        q = np.zeros(vectors.shape[1], np.float32) if query is None else np.asarray(query, np.float32)
        inputs, extras = self._inputs(rows, vectors), head_inputs(self.features[rows], vectors, query)
        return self.head.score_under(param_sets, inputs, extras, q)

    def _inputs(self, rows: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """The head's input rows of catalog rows (`vectors` = their MiniLM rows, already taken): plus the
        collaborative vectors."""
        return with_collab(vectors, self._collab[rows])

    # --- what the UI shows ------------------------------------------------------------------------------------------
    def taste(self, params: Params, people: int = 8) -> dict[str, list[dict]]:
        """Genres (all) and people (most and least liked) with the head's predicted rating and change from the prior.

        Rows are built for what is returned only: there are thousands of people tags, and the page asks for this
        after every turn (building them all was ~19 ms of the server's time per browser turn)."""
        with torch.no_grad():
            predicted = self.head.decide(params, self._tag_hidden).numpy()  # (T,)
        change = predicted - self._tag_init

        def row(t: int) -> dict:
            return {
                "name": self._tag_labels[t],
                "score": round(float(predicted[t]), 3),
                "change": round(float(change[t]), 3),
            }

        genres = sorted((row(t) for t in self._genre_tags), key=lambda r: -r["score"])
        if params is self.init:
            return {"genres": genres, "people": []}
        # what the votes taught, not who is famous: by change as shown (3 decimals), ties in tag order
        shown = rounded(change[self._person_tags].astype(np.float64), 3)
        order = self._person_tags[np.argsort(-shown, kind="stable")]
        top, bottom = list(order[: people // 2]), list(order[-(people // 2) :])
        return {"genres": genres, "people": [row(t) for t in top + [t for t in bottom if t not in top]]}

    def onboarding(self, params: Params, exclude: set[str], n: int) -> list[Item]:
        """Popular films whose rating would move the weights most (gradient norm x popularity), spread by MMR."""
        keep = np.array([self.items[p].item_id not in exclude for p in self._pool], dtype=bool)
        pool = self._pool[keep]
        if not len(pool) or n <= 0:
            return []
        vectors = self.vectors[pool]
        if params is self.init:  # everyone without votes: the whole pool's, made once (it was ~6 ms of each new page)
            if self._init_sensitivity is None:
                self._init_sensitivity = self._sensitivity(params, self._pool)
            grad = self._init_sensitivity[keep]
        else:
            grad = self._sensitivity(params, pool)
        popularity = (self.features[pool, 1] + 1.0) / 2.0  # back to 0..1
        value = grad / max(float(grad.max()), 1e-9) * popularity
        chosen: list[int] = []
        max_sim = np.zeros(len(pool), dtype=np.float32)
        for _ in range(min(n, len(pool))):  # greedy: informative, but not five films of one kind
            pick = value - 0.5 * max_sim
            pick[chosen] = -np.inf
            best = int(np.argmax(pick))
            chosen.append(best)
            max_sim = np.maximum(max_sim, vectors @ vectors[best])
        return [self.items[pool[i]] for i in chosen]

    def _sensitivity(self, params: Params, pool: np.ndarray) -> np.ndarray:
        """(P,) how much one rating of each pool film would move these weights (Head.sensitivity)."""
        vectors = self.vectors[pool]
        return self.head.sensitivity(
            params, self._inputs(pool, vectors), head_inputs(self.features[pool], vectors, None)
        )


def rounded(values: np.ndarray, digits: int) -> np.ndarray:
    """Python's round(x, digits) of every value, at numpy's speed (~0.03 ms for 5,000 where the loop takes 4 ms).

    numpy's round scales, rounds and divides, which agrees with Python's correctly rounded result except where the
    scaled value lies within its own rounding error of a half: those few are rounded by Python."""
    scaled = values * 10.0**digits
    out = np.round(values, digits)
    near = np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < 1e-6
    if near.any():
        out[near] = [round(x, digits) for x in values[near].tolist()]
    return out


def personal_score(predicted: np.ndarray) -> np.ndarray:
    """Predicted ratings (1..5) as a score around 0 in about [-1, 1], the units the ranking adds."""
    return (np.clip(predicted, 1.0, 5.0) - RATING_MID) / 2.0
