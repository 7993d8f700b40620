"""Ranking the candidates a search found: a weighted score, then maximal marginal relevance for variety.

    score = relevance + head + votes' change + liked/disliked centroids + popularity   # (C,)
    picks = mmr(score, vectors, k, lam)                                                  # k positions into C

Pure functions over arrays: the engine gathers the inputs (vectors from the index, the per-user head's scores,
the catalog's popularity) and calls `rank`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.types import Item, Recommendation

PROFILE_WEIGHT = 0.25  # how far liked/disliked films pull the ranking (cosine units); relevance stays first
POPULARITY_WEIGHT = 0.05  # a light prior so ties go to films people know
HEAD_WEIGHT = 0.3  # the head's predicted rating (about -1..1): its population prior stays a light touch
VOTES_WEIGHT = 1.0  # what this person's votes changed in that prediction: explicit signals outweigh the prior


def blend(
    relevance: np.ndarray,
    vectors: np.ndarray,
    popularity: np.ndarray,
    personal: np.ndarray | None = None,
    prior: np.ndarray | None = None,
    liked: np.ndarray | None = None,
    disliked: np.ndarray | None = None,
    comention: np.ndarray | None = None,
    comention_weight: float = 0.0,
) -> np.ndarray:
    """The weighted score of each candidate (C,); personal/prior are the head's scores with and without votes,
    liked/disliked the centroids (d,) of the session's voted films, comention (C,) how often people named each
    candidate with the films this person liked or named (None: that term is left out)."""
    score = relevance.copy()  # (C,)
    if personal is not None and prior is not None:
        score += HEAD_WEIGHT * prior + VOTES_WEIGHT * (personal - prior)
    # Films like the ones voted on in this session move at once. Kept beside the head: on MovieLens the
    # head's adaptation improves rating error, not ranking (data/head/README.md), and a 👎 must be visible.
    for centroid, sign in ((liked, 1.0), (disliked, -1.0)):
        if centroid is not None:
            score += sign * PROFILE_WEIGHT * (vectors @ centroid)  # (C, d) @ (d,) -> (C,)
    if comention is not None:
        score += comention_weight * comention.astype(np.float32)
    score += POPULARITY_WEIGHT * popularity.astype(np.float32)
    return score


def mmr(score: np.ndarray, vectors: np.ndarray, k: int, lam: float) -> list[int]:
    """Maximal marginal relevance: greedily pick high score, low similarity to what is already picked."""
    chosen: list[int] = []
    max_sim = np.full(len(score), -np.inf, dtype=np.float32)  # (C,) similarity to the closest chosen
    for _ in range(min(k, len(score))):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        value = lam * score - (1.0 - lam) * penalty
        value[chosen] = -np.inf
        best = int(np.argmax(value))
        chosen.append(best)
        max_sim = np.maximum(max_sim, vectors @ vectors[best])
    return chosen


def rank(
    items: Sequence[Item],
    relevance: np.ndarray,
    vectors: np.ndarray,
    popularity: np.ndarray,
    k: int,
    lam: float,
    personal: np.ndarray | None = None,
    prior: np.ndarray | None = None,
    liked: np.ndarray | None = None,
    disliked: np.ndarray | None = None,
    comention: np.ndarray | None = None,
    comention_weight: float = 0.0,
) -> list[Recommendation]:
    """The k recommendations among the candidates: `blend`'s score, then MMR with this session's λ."""
    score = blend(relevance, vectors, popularity, personal, prior, liked, disliked, comention, comention_weight)
    shown = personal if personal is not None else np.zeros(len(items), dtype=np.float32)  # (C,) for the panel
    return [
        Recommendation(items[i], float(score[i]), float(relevance[i]), personal=float(shown[i]))
        for i in mmr(score, vectors, k, lam)
    ]


def redundancy(vectors: np.ndarray) -> list[float]:
    """For each pick (rows of unit vectors, in order), its highest similarity to an earlier pick (0 for the first)."""
    sims = vectors @ vectors.T if len(vectors) else np.zeros((0, 0))  # (k, k)
    return [float(sims[i, :i].max()) if i else 0.0 for i in range(len(vectors))]
