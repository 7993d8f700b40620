"""A small collaborative reference: biased matrix factorisation by ALS, and Bayesian fold-in of a new person.

    mf = MatrixFactors.fit(users, rows, ratings, n_items)   # training users' ratings (ALS, seconds on ML-100K)
    p, b = mf.fold_in(support_rows, support_ratings)        # a held-out person's k ratings -> their factors
    scores = mf.predict(query_rows, p, b)

`eval coldstart` runs it beside the head to show how much a person's first k ratings can move a ranking at all
on the data: it learns from who rated what, so unlike the head it cannot score a film nobody has rated, which is
why the product does not serve it. The fold-in is the posterior mean under a Gaussian prior fitted to the training
users' factors, so k = 0 gives the average person and each rating moves them only as far as it is evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FACTORS = 16  # small against ML-100K's ~1.4k films and 722 training users; not tuned on held-out users
REG = 5.0  # ridge on factors and biases in ALS: a usual setting for ML-100K ratings, not tuned on held-out users
SWEEPS = 12  # ALS sweeps; the training loss has flattened by then
NOISE_VAR = 0.9  # rating noise variance in the fold-in (~ the residual variance of this model on ML ratings)
BIAS_VAR = 0.2  # prior variance of a new person's rating offset


@dataclass(frozen=True)
class MatrixFactors:
    """Item factors and biases from training users, and the prior over a person's factors."""

    mean: float  # global mean rating
    item_bias: np.ndarray  # (I,)
    items: np.ndarray  # (I, F)
    prior_mean: np.ndarray  # (F,) mean of the training users' factors
    prior_precision: np.ndarray  # (F, F) inverse of their covariance

    @classmethod
    def fit(
        cls,
        users: np.ndarray,
        rows: np.ndarray,
        ratings: np.ndarray,
        n_items: int,
        seed: int = 0,
        factors: int = FACTORS,
        reg: float = REG,
        sweeps: int = SWEEPS,
    ) -> MatrixFactors:
        """ALS over (user index, item row, rating) triples; users are 0..U-1."""
        ratings = ratings.astype(np.float64)
        n_users = int(users.max()) + 1
        rng = np.random.default_rng(seed)
        user_f, item_f = rng.normal(0, 0.1, (n_users, factors)), rng.normal(0, 0.1, (n_items, factors))
        user_b, item_b = np.zeros(n_users), np.zeros(n_items)
        mean = float(ratings.mean())
        by_user = np.split(np.argsort(users, kind="stable"), np.cumsum(np.bincount(users, minlength=n_users))[:-1])
        by_item = np.split(np.argsort(rows, kind="stable"), np.cumsum(np.bincount(rows, minlength=n_items))[:-1])
        eye = reg * np.eye(factors + 1)
        for _ in range(sweeps):  # each side is a ridge regression on [factors, 1] given the other
            w = _ridge_per_group(by_user, item_f[rows], ratings - mean - item_b[rows], eye)
            user_f, user_b = w[:, :-1], w[:, -1]
            w = _ridge_per_group(by_item, user_f[users], ratings - mean - user_b[users], eye)
            item_f, item_b = w[:, :-1], w[:, -1]
        item_f[np.bincount(rows, minlength=n_items) == 0] = 0.0  # nobody rated it: no taste direction, only the mean
        covariance = np.cov(user_f.T) + 1e-3 * np.eye(factors)
        return cls(mean, item_b, item_f, user_f.mean(axis=0), np.linalg.inv(covariance))

    @classmethod
    def of_users(
        cls,
        users: dict[str, tuple[np.ndarray, np.ndarray]],
        chosen: list[str],
        n_items: int,
        seed: int = 0,
        factors: int = FACTORS,
    ) -> MatrixFactors:
        """Fit on the chosen users' (item rows, ratings), e.g. the training users of a split."""
        rows = [users[u][0] for u in chosen]
        index = np.concatenate([np.full(len(r), n) for n, r in enumerate(rows)])
        return cls.fit(
            index, np.concatenate(rows), np.concatenate([users[u][1] for u in chosen]), n_items, seed, factors
        )

    def item_vectors(self) -> np.ndarray:
        """(I, F + 1) each item's factors and bias as input features for the head: every column at unit RMS over
        the rated items, each row then scaled by 1/sqrt(F + 1) (about as long as a unit text vector); films
        nobody rated stay zero."""
        block = np.hstack([self.items, self.item_bias[:, None]])
        rated = np.any(block != 0, axis=1)
        rms = np.sqrt((block[rated] ** 2).mean(axis=0)) + 1e-9 if rated.any() else np.ones(block.shape[1])
        return (block / rms / np.sqrt(block.shape[1])).astype(np.float32)

    def fold_in(self, rows: np.ndarray, ratings: np.ndarray) -> tuple[np.ndarray, float]:
        """(factors, rating offset) of a new person: the posterior mean given their ratings of `rows`."""
        f = len(self.prior_mean)
        precision = np.zeros((f + 1, f + 1))
        precision[:f, :f], precision[f, f] = self.prior_precision, 1.0 / BIAS_VAR
        prior = np.append(self.prior_mean, 0.0)
        x = np.hstack([self.items[rows], np.ones((len(rows), 1))])
        target = np.asarray(ratings, dtype=np.float64) - self.mean - self.item_bias[rows]
        w = np.linalg.solve(x.T @ x / NOISE_VAR + precision, x.T @ target / NOISE_VAR + precision @ prior)
        return w[:-1], float(w[-1])

    def predict(self, rows: np.ndarray, factors: np.ndarray, offset: float) -> np.ndarray:
        """Predicted ratings of `rows` for a person with these factors and offset."""
        return self.mean + offset + self.item_bias[rows] + self.items[rows] @ factors


def _ridge_per_group(groups: list[np.ndarray], design: np.ndarray, target: np.ndarray, eye: np.ndarray) -> np.ndarray:
    """(G, F+1): for each group of rating positions, the ridge solution w of [design, 1] @ w = target on them."""
    x = np.hstack([design, np.ones((len(design), 1))])  # (R, F+1), one row per rating
    return np.stack([np.linalg.solve(x[idx].T @ x[idx] + eye, x[idx].T @ target[idx]) for idx in groups])
