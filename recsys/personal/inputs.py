"""What the per-user head reads besides the item vectors: item features, the request, and taste-profile tags.

    x = head_inputs(item_features(items), vectors, query)     # (C, 4) year, popularity, quality, similarity
    names, vecs, extras = tag_prototypes(tag_rows(items), vectors, item_features(items))  # genres and people

`item_features` scales year, popularity and a critics' quality prior to about [-1, 1]; `head_inputs` adds the
retrieval similarity. A tag prototype is the mean vector of a genre's or a person's films, which the head scores
like a film to predict a taste profile.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.types import Item

N_EXTRA = 4  # year, popularity, quality, retrieval similarity


def item_features(items: Sequence[Item]) -> np.ndarray:
    """(C, 3) year, popularity and critics' quality of items, scaled to about [-1, 1]; unknowns are neutral."""
    out = np.zeros((len(items), N_EXTRA - 1), dtype=np.float32)
    for row, it in enumerate(items):
        a = it.attributes
        out[row, 0] = (it.year - 1990) / 25.0 if it.year else 0.0  # the catalog spans 1940-2014
        pop = a.get("popularity")
        out[row, 1] = 2.0 * float(pop) - 1.0 if isinstance(pop, (int, float)) else 0.0
        rating, meter = a.get("tomato_rating"), a.get("tomato_meter")
        if isinstance(rating, (int, float)):
            out[row, 2] = (float(rating) - 6.0) / 2.0  # Rotten Tomatoes average, 0..10, most films 4..8
        elif isinstance(meter, (int, float)):
            out[row, 2] = (float(meter) - 60.0) / 30.0
    return out


def head_inputs(features: np.ndarray, vectors: np.ndarray, query: np.ndarray | None) -> np.ndarray:
    """(C, 4) extras: item features plus the cosine to the request (0 when there is none)."""
    sim = vectors @ query if query is not None else np.zeros(len(vectors), dtype=np.float32)  # (C,)
    return np.concatenate([features, sim[:, None].astype(np.float32)], axis=1)


def item_tags(item: Item) -> list[str]:
    """Taste-profile tags of an item: "genre:War", "person:Stanley Kubrick"."""
    people = item.people("director")[:2] + item.lead_cast()[:3]  # as item_text
    return [f"genre:{g}" for g in item.tags] + [f"person:{n}" for n in dict.fromkeys(people)]


def tag_rows(items: Sequence[Item], wanted: set[str] | None = None) -> dict[str, np.ndarray]:
    """tag -> rows of the items carrying it (every tag, or only the wanted ones)."""
    rows: dict[str, list[int]] = {}
    for pos, item in enumerate(items):
        for tag in item_tags(item):
            if wanted is None or tag in wanted:
                rows.setdefault(tag, []).append(pos)
    return {t: np.array(r, dtype=np.int64) for t, r in rows.items()}


def tag_prototypes(
    rows_of: dict[str, np.ndarray], vectors: np.ndarray, features: np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names, (T, d) unit mean vectors, (T, 4) mean extras) of tags given as arrays of item rows."""
    names = [t for t, rows in rows_of.items() if len(rows)]
    vecs = np.stack([vectors[rows_of[t]].mean(axis=0) for t in names]) if names else np.zeros((0, vectors.shape[1]))
    vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)
    feats = np.stack([features[rows_of[t]].mean(axis=0) for t in names]) if names else np.zeros((0, N_EXTRA - 1))
    extras = np.concatenate([feats, np.zeros((len(names), 1))], axis=1)
    return names, vecs.astype(np.float32), extras.astype(np.float32)
