"""The built-in film catalog: bokeh-sampledata's movies.db (CC0, Wikidata contributors) read, cleaned, de-duplicated.

    items = build_movies_catalog()      # ~17k films, about a second; sources.load_catalog caches the result

Popularity comes from the number of critic reviews and "top_cast" from how well known each cast member is, since
the db has no vote counts and lists cast alphabetically.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import CatalogError
from ..core.types import Item
from .text import clean_value, normalise_title, split_names

log = logging.getLogger(__name__)

TOP_CAST = 4  # names kept in "top_cast" (item_text uses 3 of them)
INSTALL_HINT = "pip install bokeh-sampledata==2026.1"


def movies_db_path() -> Path:
    """Path of movies.db inside the installed bokeh-sampledata package."""
    spec = importlib.util.find_spec("bokeh_sampledata")
    if spec is None or not spec.origin:
        raise CatalogError(f"the default film catalog needs the bokeh-sampledata package: {INSTALL_HINT}")
    path = Path(spec.origin).parent / "_data" / "movies.db"
    if not path.is_file():
        raise CatalogError(f"{path} is missing; reinstall it: {INSTALL_HINT}")
    return path


def _rank01(values: list[float | None]) -> list[float]:
    """Average-rank percentiles in [0, 1] of the known values (ties share a rank); unknown -> 0."""
    known = np.sort(np.array([v for v in values if v is not None], dtype=np.float64))
    scale = max(len(known) - 1, 1)
    rank = lambda v: (np.searchsorted(known, v, "left") + np.searchsorted(known, v, "right") - 1) / 2 / scale
    return [0.0 if v is None else round(float(rank(v)), 4) for v in values]


MOVIES_SQL = """
SELECT o.imdbID, o.Title, o.Year, o.Rating, o.Runtime, o.Genre, o.Director, o.Writer, o."Cast", o.Metacritic,
       o.imdbRating, o.imdbVotes, o.Language, o.Country, o.Awards, o.Oscars,
       t.Rating, t.Meter, t.Reviews, t.Consensus, t.BoxOffice, t.Production
FROM omdb o LEFT JOIN tomatoes t ON t.ID = o.ID ORDER BY o.rowid
"""


def _movie_row(row: tuple) -> Item:
    """One joined omdb/tomatoes row as an Item (popularity and top_cast are added later)."""
    (
        imdb_id,
        title,
        year,
        cert,
        runtime,
        genre,
        director,
        writer,
        cast,
        metacritic,
        imdb_rating,
        imdb_votes,
        language,
        country,
        awards,
        oscars,
        t_rating,
        meter,
        reviews,
        consensus,
        box_office,
        production,
    ) = row
    attrs: dict[str, Any] = {
        "director": split_names(director),
        "writer": split_names(writer),
        "cast": split_names(cast),  # alphabetical in this db, not billing order
        "language": split_names(language),
        "country": split_names(country),
        "rating": clean_value(cert),
        "awards": clean_value(awards),
        "production": clean_value(production),
        "runtime": int(round(runtime)) if clean_value(runtime) and runtime > 0 else None,
        "imdb_rating": clean_value(imdb_rating),
        "imdb_votes": clean_value(imdb_votes),
        "metacritic": clean_value(metacritic),
        "oscars": int(oscars or 0),
        "tomato_meter": clean_value(meter),
        "tomato_rating": clean_value(t_rating),
        "tomato_reviews": clean_value(reviews),
        "box_office": clean_value(box_office),
    }
    attrs = {k: v for k, v in attrs.items() if v is not None and v != []}
    return Item(
        item_id=str(imdb_id).strip(),
        title=clean_value(title) or "",
        year=int(year) if clean_value(year) else None,
        text=clean_value(consensus) or "",
        tags=tuple(split_names(genre)),
        attributes=attrs,
    )


def _richness(item: Item) -> int:
    """How much a row knows, for choosing between duplicates."""
    return len(item.attributes) + bool(item.text) + bool(item.tags) + len(item.people("cast")) // 10


def _keep_richer(items: list[Item], key, conflict) -> list[Item]:
    """Items with a new `key`, or whose row `conflict`s with the one kept; a richer repeat replaces it in place."""
    kept: list[Item] = []
    slot: dict[Any, int] = {}
    for item in items:
        i = slot.get(key(item))
        if i is None or conflict(kept[i], item):
            slot.setdefault(key(item), len(kept))
            kept.append(item)
        elif _richness(item) > _richness(kept[i]):
            kept[i] = item
    return kept


def _dedupe(items: list[Item]) -> tuple[list[Item], int, int]:
    """Drop repeats: same id, or same normalised title + year unless the directors differ. Keep the richer row."""
    # Same imdbID is one film (this db files "Apocalypse Now Redux" under its original's id). Same title + year
    # is a repeat only when the directors agree: the db holds distinct films sharing both, e.g. "Noise" (2007).
    by_id = _keep_richer(items, lambda it: it.item_id, lambda a, b: False)
    differ = lambda a, b: bool(
        a.people("director")
        and b.people("director")  # noqa: E731
        and set(a.people("director")) != set(b.people("director"))
    )
    out = _keep_richer(by_id, lambda it: (normalise_title(it.title), it.year), differ)
    return out, len(items) - len(by_id), len(by_id) - len(out)


def build_movies_catalog(db_path: Path | None = None) -> list[Item]:
    """Read, clean and de-duplicate the bokeh-sampledata films (CC0, Wikidata contributors)."""
    path = db_path or movies_db_path()
    t0 = time.perf_counter()
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True) as db:
        rows = db.execute(MOVIES_SQL).fetchall()
    items, same_id, same_title = _dedupe([_movie_row(r) for r in rows if clean_value(r[0]) and clean_value(r[1])])
    # Popularity: imdbVotes is empty in this db, so use the number of critic reviews on Rotten Tomatoes
    # (filled for 17,469 films), log(1 + reviews) rank-normalised to [0, 1]. It favours films released since
    # the late 1990s (more critics online); fine as a small prior and as the order for an empty query.
    reviews = [it.attributes.get("tomato_reviews") for it in items]
    popularity = _rank01([math.log1p(r) if r is not None else None for r in reviews])
    # top_cast: cast is alphabetical here, so rank names by the summed popularity of their catalog films
    fame: dict[str, float] = {}
    for item, pop in zip(items, popularity):
        for name in item.people("cast"):
            fame[name] = fame.get(name, 0.0) + pop + 0.01
    out = []
    for item, pop in zip(items, popularity):
        cast = item.people("cast")
        extra: dict[str, Any] = {"popularity": pop}
        if cast:
            extra["top_cast"] = sorted(cast, key=lambda n: (-fame[n], cast.index(n)))[:TOP_CAST]
        out.append(Item(item.item_id, item.title, item.year, item.text, item.tags, {**item.attributes, **extra}))
    log.info(
        "built %d films from %s in %.1f s (dropped %d duplicate ids, %d duplicate title+year rows)",
        len(out),
        path.name,
        time.perf_counter() - t0,
        same_id,
        same_title,
    )
    return out
