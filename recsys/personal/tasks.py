"""Rating data as meta-learning tasks: each user's ratings as item rows, the seeded user split, folds.

    data = task_data(mapped_ratings, catalog, index.vectors)     # or load_task_data(settings, path)
    split = split_users(data, seed=0, eval_fraction=0.2, min_ratings=20)

Shared by meta-training (meta.py) and the cold-start evaluation, so both see the same rows, tags and users.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..catalog.catalog import Catalog
from ..catalog.movielens import MappingReport, Ratings, load_ratings, map_to_catalog
from ..catalog.sources import load_catalog
from ..catalog.text import normalise_title
from ..core.config import Settings
from ..core.errors import RecsysError
from ..search.embedder import catalog_encoder, encoder_for
from ..search.index import ItemIndex
from .head import Head
from .inputs import head_inputs, item_features, tag_prototypes, tag_rows


@dataclass
class TaskData:
    """Rated items as arrays, each user's ratings as item rows, and the tag prototypes for the multi-task loss."""

    item_ids: list[str]
    vectors: np.ndarray  # (I, d) unit rows of the index
    features: np.ndarray  # (I, 3) item_features
    users: dict[str, tuple[np.ndarray, np.ndarray]]  # user -> (item rows, ratings)
    tag_names: list[str] = field(default_factory=list)
    tag_matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (I, T) 0/1
    tag_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (T, d)
    tag_extras: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))  # (T, 4)
    fingerprint: str = ""  # sha256 of the mapped ratings: tells eval whether a saved split applies
    collab: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (I, c) or none: with_collab


@dataclass(frozen=True)
class Split:
    """Users for training and held out for evaluation."""

    train: list[str]
    held_out: list[str]
    seed: int
    fingerprint: str
    fold: int = 0  # which block of the seeded order is held out (split_users)

    def save(self, path: Path) -> None:
        """JSON with user ids only (no ratings)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Split:
        """Read a saved split."""
        return cls(**json.loads(Path(path).read_text()))


def task_data(ratings: Ratings, catalog: Catalog, vectors: np.ndarray, min_tag_films: int = 3) -> TaskData:
    """Arrays for training and evaluation from ratings already mapped to catalog item ids."""
    if len(ratings) == 0:
        raise RecsysError("no ratings of catalog items to train on (did the films map to the catalog?)")
    item_ids = sorted(set(ratings.movies.tolist()))
    row_of = {item_id: row for row, item_id in enumerate(item_ids)}
    positions = [catalog.position(i) for i in item_ids]
    items = [catalog.items[p] for p in positions]
    users = {
        u: (np.array([row_of[m] for m in movies], dtype=np.int64), r.astype(np.float32))
        for u, (movies, r) in ratings.by_user().items()
    }
    # tags: every genre, and people with enough rated films to have a meaningful mean rating
    rated = tag_rows(items)  # tag -> rows among the rated items
    names = sorted(t for t, rows in rated.items() if t.startswith("genre:") or len(rows) >= min_tag_films)
    matrix = np.zeros((len(items), len(names)), dtype=np.float32)
    for col, tag in enumerate(names):
        matrix[rated[tag], col] = 1.0
    all_features = item_features(catalog.items)
    catalog_rows = tag_rows(catalog.items, set(names))
    names, tag_vectors, tag_extras = tag_prototypes({t: catalog_rows[t] for t in names}, vectors, all_features)
    keys = sorted(zip(ratings.users.tolist(), ratings.movies.tolist(), ratings.ratings.tolist()))
    digest = hashlib.sha256(json.dumps(keys).encode()).hexdigest()[:16]
    return TaskData(
        item_ids, vectors[positions], all_features[positions], users, names, matrix, tag_vectors, tag_extras, digest
    )


def load_task_data(settings: Settings, path: Path, progress: bool = True) -> tuple[Catalog, TaskData, MappingReport]:
    """Catalog, its index vectors and the ratings at `path` mapped onto it, as TaskData (with the mapping report)."""
    catalog = load_catalog(settings.catalog, settings.cache, progress=progress)
    index = ItemIndex.build(catalog, encoder_for(settings), settings.cache, progress, bulk=catalog_encoder(settings))
    mapped, report = map_to_catalog(load_ratings(path), catalog.items, normalise_title)
    return catalog, task_data(mapped, catalog, index.vectors), report


def split_users(data: TaskData, seed: int, eval_fraction: float, min_ratings: int, fold: int = 0) -> Split:
    """Seeded split of the users with enough ratings into training and held-out users.

    The eligible users are put in one seeded order and cut into blocks of eval_fraction (the last block takes the
    rest); block `fold` is held out. Fold 0 is the split the shipped head was trained with, and the blocks of all
    folds (`fold_count`) hold every user exactly once: cross-validation.
    """
    eligible = sorted((u for u, (rows, _) in data.users.items() if len(rows) >= min_ratings), key=_user_key)
    if len(eligible) < 2:
        raise RecsysError(f"need at least 2 users with {min_ratings}+ ratings of catalog films, found {len(eligible)}")
    order = np.random.default_rng(seed).permutation(len(eligible))
    n_eval = _block(len(eligible), eval_fraction)
    folds = len(eligible) // n_eval
    if not 0 <= fold < folds:
        raise RecsysError(
            f"fold {fold} does not exist: {len(eligible)} users in blocks of {n_eval} make "
            f"{folds} folds (0..{folds - 1})"
        )
    end = (fold + 1) * n_eval if fold < folds - 1 else len(eligible)
    chosen = set(order[fold * n_eval : end].tolist())
    held = [u for i, u in enumerate(eligible) if i in chosen]
    train = [u for i, u in enumerate(eligible) if i not in chosen]
    return Split(train, held, seed, data.fingerprint, fold)


def fold_count(data: TaskData, eval_fraction: float, min_ratings: int) -> int:
    """How many disjoint held-out blocks split_users can make (5 for eval_fraction 0.2)."""
    eligible = sum(len(rows) >= min_ratings for rows, _ in data.users.values())
    return eligible // _block(eligible, eval_fraction) if eligible >= 2 else 0


def _block(eligible: int, eval_fraction: float) -> int:
    """Held-out users per fold: eval_fraction of the eligible users, at least one, never all."""
    return min(max(1, int(round(eval_fraction * eligible))), eligible - 1)


def _user_key(user: str) -> tuple[int, str]:
    """Numeric ids in numeric order ("2" before "10"), others after."""
    return (int(user), "") if user.isdigit() else (1 << 62, user)


def inputs_for(data: TaskData, rows: np.ndarray, head: Head) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input rows, extras, empty request) of item rows for this head, as the evaluation scores them."""
    vectors = data.vectors[rows]
    extras = head_inputs(data.features[rows], vectors, None)
    return head.item_vectors([data.item_ids[r] for r in rows], vectors), extras, np.zeros(vectors.shape[1], np.float32)
