"""Ranking metrics per target, as CRSLab counts them, and bootstrap confidence intervals over dialogues.

    rows = target_scores(ranked_ids, targets)            # one row per target: {"recall@10": 1.0, "mrr": 0.5, ...}
    table = summarise(values, groups, draws=1000, seed=0)  # {"recall@10": {"value", "low", "high"}, ...}

Every target of a sample is scored on its own (a sample with two targets gives two rows, the other target staying
in the list), so Recall@k is the share of targets found in the top k. NDCG@10 of one relevant item is
1/log2(rank + 1) inside the top 10, MRR is 1/rank inside the scored list (50 deep: MRR@50), 0 when absent.
Confidence intervals resample whole dialogues (targets of one dialogue are not independent), with the same draws
for every method, so the differences between methods are paired.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

KS = (1, 5, 10, 50)
DEPTH = max(KS)  # how deep a list is asked for
METRICS = tuple(f"recall@{k}" for k in KS) + ("ndcg@10", "mrr")


def target_scores(ranked: Sequence[str], targets: Sequence[str]) -> list[dict[str, float]]:
    """One row of metric values per target, for a ranked list of ids (best first)."""
    position = {item_id: rank for rank, item_id in enumerate(ranked[:DEPTH], start=1)}
    rows = []
    for target in targets:
        rank = position.get(target)
        row = {f"recall@{k}": float(rank is not None and rank <= k) for k in KS}
        row["ndcg@10"] = 1.0 / math.log2(rank + 1) if rank is not None and rank <= 10 else 0.0
        row["mrr"] = 1.0 / rank if rank is not None else 0.0
        rows.append(row)
    return rows


def draw_indices(groups: int, draws: int, seed: int) -> np.ndarray:
    """(draws, groups) dialogue indices sampled with replacement; fixed by the seed."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, groups, size=(draws, groups))


def summarise(
    values: Mapping[str, Sequence[float]], groups: Sequence[int], draws: int = 1000, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Point estimate (mean over targets) and 95% bootstrap interval over dialogues for each metric.

    values[metric] has one value per target; groups[t] is the dialogue of target t."""
    group_ids, inverse = np.unique(np.asarray(groups), return_inverse=True)
    counts = np.bincount(inverse, minlength=len(group_ids)).astype(np.float64)  # (G,) targets per dialogue
    picks = draw_indices(len(group_ids), draws, seed) if len(group_ids) else np.zeros((0, 0), dtype=int)
    out = {}
    for metric, column in values.items():
        column = np.asarray(column, dtype=np.float64)  # (T,)
        if not len(column):
            out[metric] = {"value": math.nan, "low": math.nan, "high": math.nan}
            continue
        sums = np.bincount(inverse, weights=column, minlength=len(group_ids))  # (G,)
        boot = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)  # (draws,)
        low, high = np.percentile(boot, [2.5, 97.5])
        # rounded: the mean and the draws' percentiles sum in different orders, and a last-bit difference
        # must not put an estimate outside its own interval
        out[metric] = {
            "value": round(float(column.mean()), 6),
            "low": round(float(low), 6),
            "high": round(float(high), 6),
        }
    return out


def paired_difference(
    a: Sequence[float], b: Sequence[float], groups: Sequence[int], draws: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Mean of a - b over targets with its 95% interval (same dialogue draws as summarise for that seed)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return summarise({"diff": diff}, groups, draws, seed)["diff"]
