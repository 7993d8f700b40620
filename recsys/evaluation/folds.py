"""Cross-validation over users for `eval coldstart --folds N`: one pair of MAML heads per fold.

One held-out block of 180 ML-100K users cannot resolve gains of a few thousandths of AUC. With folds, every block of
the seeded user order (`personal.tasks.split_users`) is held out once, scored by heads trained without it by the served
head's own recipe (its saved MetaConfig, only `fold` changed, first- and second-order), so up to every user counts.
The block the given heads were trained for uses them; the others are trained here on first use (about 40 s per head
on one CPU thread for ML-100K) and kept under RECSYS_HOME, reused while their config and data are the same.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

from ..personal.head import Head, load_head
from ..personal.meta import MetaConfig, meta_train
from ..personal.tasks import Split, TaskData, split_users

log = logging.getLogger(__name__)


def fold_folder(home: Path, data: TaskData) -> Path:
    """Where the trained fold heads of this data live."""
    return home / "coldstart-folds" / data.fingerprint[:16]


def fold_plan(
    data: TaskData,
    folds: int,
    given: tuple[Split, dict[str, Head], dict[str, str]],
    configs: dict[str, MetaConfig],
    folder: Path,
) -> Iterator[tuple[int, Split, dict[str, Head], dict[str, str]]]:
    """(fold, split, heads by order "fo"/"so", checkpoint paths by order) for folds 0..folds-1, in order.

    `given` is the split, heads and paths the caller loaded (its fold: configs' `fold`); `configs` the MetaConfig of
    each order's given head, which the other folds' heads are trained with.
    """
    own = next(iter(configs.values()))
    for fold in range(folds):
        if fold == own.fold:
            yield (fold, *given)
            continue
        split = split_users(data, own.seed, own.eval_fraction, own.min_ratings, fold)
        heads, paths = {}, {}
        for order, config in configs.items():
            path = folder / f"fold{fold}-{order}.pt"
            heads[order] = trained_head(data, split, replace(config, fold=fold), path)
            paths[order] = str(path)
        yield fold, split, heads, paths


def trained_head(data: TaskData, split: Split, config: MetaConfig, path: Path) -> Head:
    """The head at `path` if it was trained with this config on this data, else train it there now."""
    meta_path = path.with_suffix(".json")
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("config") == asdict(config) and meta.get("fingerprint") == data.fingerprint:
            return load_head(path)[0]
    order = "second" if config.second_order else "first"
    print(f"fold {config.fold}: meta-training the {order}-order head on {len(split.train)} users -> {path}", flush=True)
    return meta_train(data, split.train, config, path, progress=False)  # in eval mode, as load_head would give it
