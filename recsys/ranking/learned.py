"""The learned ranker: a LightGBM LambdaRank model over `features.FEATURES`, trained on real dialogues.

    ranker = load_ranker("", "movies")          # the shipped data/ranker/ranker.txt; None when off or missing
    score = ranker.score(X)                     # (C,) in 0..1 within the call, best highest, ready for MMR

Built by `python -m recsys train-ranker` from the ReDial train sample (data/ranker/README.md says how) and chosen
on the valid sample; the hand-set blend (ranking/scores.py) stays as the fallback and for comparison
(RECSYS_RANKER=none).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..core.errors import RecsysError
from ..core.paths import RANKER, setting_file
from .features import FEATURES

log = logging.getLogger(__name__)


class LearnedRanker:
    """A trained booster and how it was made; `score` maps candidate rows to MMR-ready scores."""

    def __init__(self, booster, meta: dict) -> None:
        self.booster = booster
        self.meta = meta

    def score(self, rows: np.ndarray) -> np.ndarray:
        """(C,) scores rescaled to 0..1 within this call: MMR weighs them against cosine similarities (0..1), so
        the model's raw scale (which LambdaRank leaves arbitrary) must not decide how much variety costs."""
        if not len(rows):
            return np.zeros(0, dtype=np.float32)
        raw = np.asarray(self.booster.predict(rows, num_threads=1), dtype=np.float32)  # (C,)
        span = float(raw.max() - raw.min())
        return (raw - raw.min()) / span if span > 0 else np.zeros_like(raw)

    def save(self, path: Path) -> None:
        """The model as LightGBM text (diffable, no pickle) beside a JSON of how it was made."""
        from ..core.files import atomic_write

        atomic_write(path, self.booster.model_to_string().encode())
        atomic_write(path.with_suffix(".json"), json.dumps(self.meta, indent=1).encode())

    @classmethod
    def load(cls, path: Path) -> LearnedRanker:
        """Read a saved model; a damaged one, or one trained on other feature columns, is an error naming it."""
        import lightgbm

        try:
            meta = json.loads(path.with_suffix(".json").read_text())
            booster = lightgbm.Booster(model_str=path.read_text())
        except (OSError, ValueError, lightgbm.basic.LightGBMError) as exc:
            raise RecsysError(
                f"ranker {path} cannot be read ({exc}); rebuild it with `python -m recsys train-ranker`"
            ) from exc
        if tuple(meta.get("features", ())) != FEATURES:
            raise RecsysError(
                f"ranker {path} was trained on other features ({meta.get('features')}); rebuild it with "
                "`python -m recsys train-ranker`"
            )
        return cls(booster, meta)


def load_ranker(spec: str, catalog: str) -> LearnedRanker | None:
    """The model a setting names ("" = the shipped one, "none" = the hand-set blend, else a path); None when off,
    when the shipped one is missing, or when it was trained for another catalog."""
    path = setting_file(spec, RANKER)
    if path is None:
        return None
    if not path.exists():
        raise RecsysError(f"ranker {path} not found (RECSYS_RANKER); build it with `python -m recsys train-ranker`")
    ranker = LearnedRanker.load(path)
    built_for = ranker.meta.get("catalog")
    if built_for != catalog:
        log.warning(
            "ranker %s was trained for catalog %r, not %r: the hand-set blend is used", path, built_for, catalog
        )
        return None
    log.info("learned ranker %s (%s trees)", path, ranker.booster.num_trees())
    return ranker
