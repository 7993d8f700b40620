"""Fitting the learned ranker: LightGBM LambdaRank on the rows `ranker_data.collect` recorded.

    booster, report = fit([groups_replay, groups_transcript], seed=0)

The number of trees is chosen by 5-fold cross-validation by dialogue (the best of the mean held-out NDCG@10 curve);
the model is then fitted on every point with that many. Choosing between variants (features, parameters, the model
against the hand-set blend) is done on the valid sample with `eval conversations`, never on these rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ranking.features import FEATURES
from .ranker_data import Groups

PARAMS = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [10],
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 40,  # few hundred groups: shallow trees that need many rows per leaf generalise
    "feature_fraction": 0.9,
    "lambda_l2": 1.0,
    "lambdarank_truncation_level": 20,
    "force_col_wise": True,
    "deterministic": True,
    "num_threads": 2,
    "verbose": -1,
}
MAX_TREES = 300
FOLDS = 5


def _stack(groups: Sequence[Groups], keep) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(rows, labels, sizes) of the groups whose dialogue passes `keep`."""
    rows, labels, sizes = [], [], []
    for g in groups:
        for x, y, n, d in zip(g.rows, g.labels, g.sizes, g.dialogues):
            if keep(d):
                rows.append(x)
                labels.append(y)
                sizes.append(n)
    if not rows:
        return np.zeros((0, len(FEATURES)), dtype=np.float32), np.zeros(0, dtype=np.float32), []
    return np.vstack(rows), np.concatenate(labels), sizes


def fit(groups: Sequence[Groups], seed: int = 0) -> tuple[object, dict]:
    """The refitted booster and what choosing it measured (trees, held-out NDCG@10, feature gains)."""
    import lightgbm as lgb

    params = {**PARAMS, "seed": seed}
    x_all, y_all, n_all = _stack(groups, lambda d: True)
    if len(n_all) < 10:
        raise ValueError("too few points with a target among the candidates to train a ranker")
    # The number of trees from 5-fold cross-validation by DIALOGUE (a dialogue's points, and its replay and
    # transcript rows, stay in one fold, or the folds leak): the mean held-out NDCG@10 curve's best. One held-out
    # fifth alone chose 68 trees on one run and 12 on the next with two more points.
    curves = []
    for fold in range(FOLDS):
        x_tr, y_tr, n_tr = _stack(groups, lambda d, f=fold: d % FOLDS != f)
        x_va, y_va, n_va = _stack(groups, lambda d, f=fold: d % FOLDS == f)
        if not n_tr or not n_va:
            continue
        train = lgb.Dataset(x_tr, y_tr, group=n_tr, feature_name=list(FEATURES))
        seen: dict = {}
        lgb.train(
            params,
            train,
            num_boost_round=MAX_TREES,
            valid_sets=[lgb.Dataset(x_va, y_va, group=n_va, reference=train)],
            callbacks=[lgb.record_evaluation(seen)],
        )
        curves.append(seen["valid_0"]["ndcg@10"])
    mean = np.mean(np.array(curves), axis=0)  # (MAX_TREES,)
    trees = max(int(np.argmax(mean)) + 1, 10)
    held_out = float(mean[trees - 1])
    booster = lgb.train(params, lgb.Dataset(x_all, y_all, group=n_all, feature_name=list(FEATURES)), trees)
    gains = booster.feature_importance(importance_type="gain")
    total = float(gains.sum()) or 1.0
    report = {
        "params": {k: v for k, v in params.items() if k not in ("verbose", "num_threads")},
        "trees": trees,
        "cv_ndcg@10": round(held_out, 4),
        "groups": len(n_all),
        "rows": int(len(y_all)),
        "feature_gain_share": {
            name: round(float(g) / total, 4) for name, g in sorted(zip(FEATURES, gains), key=lambda t: -t[1])
        },
    }
    return booster, report
