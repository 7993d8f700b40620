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


def test_a_title_that_only_echoes_the_request_loses_its_lead(tmp_path):
    """Chooser.rank reads a top pick's relevance again without its title when a title word echoes the request."""
    from recsys.catalog.catalog import Catalog
    from recsys.core.config import Settings
    from recsys.core.types import DialogueState, Filters
    from recsys.ranking.chooser import Chooser
    from recsys.search.index import ItemIndex
    from tests.fakes import HashingEncoder

    items = [
        Item("r", "Monday Rain", 2001, "A heist crew robs a bank vault.", ("Crime",)),
        Item("s", "Storm Season", 2003, "A rain storm traps a family in a comedy of errors.", ("Comedy",)),
        Item("x", "Other", 1990, "Nothing alike at all.", ("Western",)),
    ]
    index = ItemIndex.build(Catalog(items), HashingEncoder(), tmp_path, progress=False)
    chooser = Chooser(Settings(), index.catalog, index, None, None, None, lambda user, state: [])
    query = "monday rain"
    found = index.search(query, Filters(), 3)
    assert found[0][0].item_id == "r"  # the title alone puts the heist film first
    recs = chooser.rank(found, DialogueState(), 2, query=query)
    assert recs[0].item.item_id == "s"
    assert recs[1].relevance < dict((it.item_id, s) for it, s in found)["r"]  # lowered, not dropped
