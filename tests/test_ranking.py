"""Ranking maths on arrays with known answers: the blended score's terms, MMR's trade-off, redundancy."""

import numpy as np

from recsys.core.types import Item
from recsys.ranking.scores import (
    HEAD_WEIGHT,
    POPULARITY_WEIGHT,
    PROFILE_WEIGHT,
    VOTES_WEIGHT,
    blend,
    mmr,
    rank,
    redundancy,
)

# Three candidates: a and b point the same way, c is orthogonal to both.
VECTORS = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)  # (C, d)
ITEMS = [Item("a", "A"), Item("b", "B"), Item("c", "C")]


def test_blend_adds_each_term_with_its_weight():
    relevance = np.array([0.5, 0.4, 0.3], dtype=np.float32)
    popularity = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    assert np.allclose(blend(relevance, VECTORS, popularity), relevance + POPULARITY_WEIGHT * popularity)
    liked = np.array([0.0, 1.0], dtype=np.float32)  # the centroid of liked films: c's direction
    got = blend(relevance, VECTORS, np.zeros(3), liked=liked, disliked=liked)
    assert np.allclose(got, relevance)  # a like and a dislike of the same direction cancel
    personal, prior = np.array([1.0, 0.0, 0.0]), np.array([0.5, 0.0, 0.0])
    got = blend(relevance, VECTORS, np.zeros(3), personal=personal, prior=prior, liked=liked)
    want = relevance + HEAD_WEIGHT * prior + VOTES_WEIGHT * (personal - prior) + PROFILE_WEIGHT * VECTORS @ liked
    assert np.allclose(got, want)


def test_mmr_trades_relevance_for_variety():
    score = np.array([0.9, 0.8, 0.1], dtype=np.float32)
    assert mmr(score, VECTORS, 3, lam=1.0) == [0, 1, 2]  # pure score order
    assert mmr(score, VECTORS, 2, lam=0.5) == [0, 2]  # b repeats a, so c comes second
    assert mmr(score, VECTORS, 10, lam=0.7) and len(mmr(score, VECTORS, 10, lam=0.7)) == 3


def test_rank_reports_relevance_and_personal_scores():
    relevance = np.array([0.9, 0.8, 0.1], dtype=np.float32)
    recs = rank(ITEMS, relevance, VECTORS, np.zeros(3), 2, lam=1.0)
    assert [r.item.item_id for r in recs] == ["a", "b"] and recs[0].relevance == np.float32(0.9)
    assert all(r.personal == 0.0 for r in recs)
    assert redundancy(VECTORS) == [0.0, 1.0, 0.0] and redundancy(np.zeros((0, 2))) == []
