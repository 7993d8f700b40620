"""The collaborative reference of eval coldstart (recsys.personal.mf) on data with a known answer (a checkerboard)."""

import numpy as np

from recsys.evaluation.coldstart_methods import auc
from recsys.personal.mf import MatrixFactors


def checkerboard(n_users: int = 40, n_items: int = 20, seed: int = 0):
    """Half the users love items 0-9 and dislike 10-19, the other half the reverse; each rates 12 random items."""
    rng = np.random.default_rng(seed)
    users, rows, ratings = [], [], []
    for u in range(n_users):
        first_half = u % 2 == 0
        for i in rng.choice(n_items, 12, replace=False):
            liked = (i < n_items // 2) == first_half
            users.append(u), rows.append(i), ratings.append(5.0 if liked else 1.0)
    return np.array(users), np.array(rows), np.array(ratings)


def test_a_few_ratings_fold_a_new_person_into_their_group():
    users, rows, ratings = checkerboard()
    mf = MatrixFactors.fit(users, rows, ratings, n_items=20, factors=4, reg=1.0)
    query = np.arange(3, 20)
    loves_first_half = query < 10
    factors, offset = mf.fold_in(np.array([0, 1, 2]), np.array([5.0, 5.0, 5.0]))  # loved three of items 0-9
    assert auc(mf.predict(query, factors, offset), loves_first_half) == 1.0
    factors, offset = mf.fold_in(np.array([0, 1, 2]), np.array([1.0, 1.0, 1.0]))  # disliked them: the other group
    assert auc(mf.predict(query, factors, offset), ~loves_first_half) == 1.0


def test_no_ratings_give_the_average_person():
    users, rows, ratings = checkerboard()
    mf = MatrixFactors.fit(users, rows, ratings, n_items=20, factors=4, reg=1.0)
    factors, offset = mf.fold_in(np.array([], dtype=int), np.array([]))
    np.testing.assert_allclose(factors, mf.prior_mean)
    assert offset == 0.0
    spread = mf.predict(np.arange(20), factors, offset)
    assert spread.max() - spread.min() < 1.0  # neither group's films stand out for someone we know nothing of


def test_a_film_nobody_rated_gets_the_average_rating_for_everyone():
    users, rows, ratings = checkerboard()
    mf = MatrixFactors.fit(users, rows, ratings, n_items=21, factors=4, reg=1.0)  # item 20: no ratings
    for support in ([5.0, 5.0, 5.0], [1.0, 1.0, 1.0]):
        factors, offset = mf.fold_in(np.array([0, 1, 2]), np.array(support))
        assert mf.predict(np.array([20]), factors, offset)[0] == mf.mean + offset
