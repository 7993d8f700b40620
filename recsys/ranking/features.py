"""What the learned ranker sees of each candidate: one row of numbers per film, the same in training and serving.

    static = CatalogFeatures(catalog, comentions)           # per-film columns computed once (N, S)
    X = candidate_features(inputs, static)                  # (C, len(FEATURES)), NaN where a signal is absent

Missing signals are NaN, not 0 (no liked film is not "similar by 0"): LightGBM learns a branch for them. The names
are saved with the model (data/ranker/ranker.json) and checked when it loads, so a model trained on other columns
is refused rather than fed the wrong ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..catalog.catalog import Catalog
from ..catalog.comentions import CoMentions
from ..core.types import Item

FEATURES = (
    "relevance",  # the search's score: cosine of the request and the film (popularity for an empty request)
    "relevance_gap",  # the best searched candidate's relevance minus this one's: how far below the request's best
    "search_rank",  # position in the search's list / candidates wanted; NaN for films only co-mentions brought
    "query_empty",  # 1 when there is no request text: relevance is then popularity
    "head_prior",  # the per-user head's prediction before this person's votes (NaN without a head)
    "head_votes",  # what the votes changed in it
    "liked_sim",  # cosine to the centroid of the films liked (NaN: none)
    "disliked_sim",  # cosine to the centroid of the films disliked (NaN: none)
    "anchor_sim",  # highest cosine to a film liked or named (NaN: none)
    "comention",  # damped co-mention with the films liked or named
    "comention_shown",  # with films shown and not disliked
    "comention_named",  # with the films named in this message only: what the person just asked about (NaN: none)
    "named_sim",  # highest cosine to a film named in this message (NaN: none)
    "comention_degree",  # how many training dialogues name the film at all (log): what people recommend
    "popularity",  # the catalog's popularity prior (0..1)
    "critics",  # Rotten Tomatoes meter (0..100)
    "reviews",  # critics' reviews counted (log): how widely it was seen
    "metacritic",
    "box_office",  # dollars (log10)
    "imdb_rating",  # catalogs that have it (the default one does not)
    "year",
    "oscars",
    "year_gap",  # years from the mean year of the films liked or named (NaN: none)
    "genre_overlap",  # Jaccard of its genres with theirs (NaN: none)
    "shared_people",  # directors and lead cast it shares with them
)
COLUMN = {name: i for i, name in enumerate(FEATURES)}
STATIC = (
    "comention_degree",
    "popularity",
    "critics",
    "reviews",
    "metacritic",
    "box_office",
    "imdb_rating",
    "year",
    "oscars",
)


@dataclass
class RankInputs:
    """Everything the engine knows about one ranking call; arrays are (C,) over the candidates in order."""

    items: Sequence[Item]
    relevance: np.ndarray
    vectors: np.ndarray  # (C, d) unit rows
    searched: int  # the first `searched` candidates came from the search, in its order; the rest from co-mentions
    query: str = ""
    personal: np.ndarray | None = None
    prior: np.ndarray | None = None
    liked: np.ndarray | None = None  # (d,) centroids
    disliked: np.ndarray | None = None
    anchors: np.ndarray | None = None  # (A, d) vectors of the films liked or named
    anchor_items: Sequence[Item] = ()
    comention: np.ndarray | None = None
    comention_shown: np.ndarray | None = None
    comention_named: np.ndarray | None = None
    named: np.ndarray | None = None  # (M, d) vectors of the films named in this message


def _number(value: object) -> float:
    """A catalog attribute as a float; NaN when missing or not a number."""
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


class CatalogFeatures:
    """The per-film columns that do not depend on the request, computed once per catalog and table."""

    def __init__(self, catalog: Catalog, comentions: CoMentions | None) -> None:
        self.catalog = catalog
        rows = []
        for item, pop in zip(catalog.items, catalog.popularity):
            attrs = item.attributes
            reviews, box = _number(attrs.get("tomato_reviews")), _number(attrs.get("box_office"))
            rows.append(
                (
                    math.log1p(comentions.degree(item.item_id)) if comentions is not None else math.nan,
                    float(pop),
                    _number(attrs.get("tomato_meter")),
                    math.log1p(reviews) if reviews >= 0 else math.nan,
                    _number(attrs.get("metacritic")),
                    math.log10(box) if box > 0 else math.nan,
                    _number(attrs.get("imdb_rating")),
                    float(item.year) if item.year else math.nan,
                    _number(attrs.get("oscars", 0)),
                )
            )
        self.table = np.array(rows, dtype=np.float32).reshape(len(catalog.items), len(STATIC))  # (N, S)

    def rows(self, items: Sequence[Item]) -> np.ndarray:
        """(C, S) static columns of the given films."""
        return self.table[[self.catalog.position(it.item_id) for it in items]]


def _people(item: Item) -> set[str]:
    """Directors and the first-billed cast: who a person who liked a film would follow to another."""
    return set(item.people("director")) | set(item.lead_cast()[:5])


def candidate_features(x: RankInputs, static: CatalogFeatures) -> np.ndarray:
    """(C, len(FEATURES)) float32 rows, columns in FEATURES order."""
    n = len(x.items)
    out = np.full((n, len(FEATURES)), np.nan, dtype=np.float32)
    col = COLUMN
    out[:, col["relevance"]] = x.relevance
    if n:
        out[:, col["relevance_gap"]] = x.relevance[: max(x.searched, 1)].max() - x.relevance
    wanted = max(x.searched, 1)
    out[: x.searched, col["search_rank"]] = np.arange(x.searched, dtype=np.float32) / wanted
    out[:, col["query_empty"]] = 0.0 if x.query.strip() else 1.0
    if x.prior is not None and x.personal is not None:
        out[:, col["head_prior"]] = x.prior
        out[:, col["head_votes"]] = x.personal - x.prior
    if x.liked is not None:
        out[:, col["liked_sim"]] = x.vectors @ x.liked
    if x.disliked is not None:
        out[:, col["disliked_sim"]] = x.vectors @ x.disliked
    out[:, col["comention"]] = x.comention if x.comention is not None else 0.0
    out[:, col["comention_shown"]] = x.comention_shown if x.comention_shown is not None else 0.0
    if x.comention_named is not None:
        out[:, col["comention_named"]] = x.comention_named
    if x.named is not None and len(x.named):
        out[:, col["named_sim"]] = (x.vectors @ x.named.T).max(axis=1)  # (C, M) -> (C,)
    out[:, [col[name] for name in STATIC]] = static.rows(x.items)
    if x.anchors is not None and len(x.anchors):
        out[:, col["anchor_sim"]] = (x.vectors @ x.anchors.T).max(axis=1)  # (C, A) -> (C,)
        _taste_links(out, x.items, x.anchor_items)
    return out


def _taste_links(out: np.ndarray, items: Sequence[Item], anchors: Sequence[Item]) -> None:
    """Era, genre and people shared with the films liked or named, in place."""
    years = [a.year for a in anchors if a.year]
    mean_year = sum(years) / len(years) if years else None
    genres = set().union(*(set(a.tags) for a in anchors))
    people = set().union(*(_people(a) for a in anchors))
    for row, item in enumerate(items):
        if mean_year is not None and item.year:
            out[row, COLUMN["year_gap"]] = abs(item.year - mean_year)
        tags = set(item.tags)
        if genres or tags:
            out[row, COLUMN["genre_overlap"]] = len(tags & genres) / len(tags | genres)
        out[row, COLUMN["shared_people"]] = len(_people(item) & people)
