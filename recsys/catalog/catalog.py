"""The item catalog: the built-in CC0 films, user JSONL/CSV files, and fast numpy filters over them.

    catalog = load_catalog("movies", cache_dir)          # or "my_films.jsonl" / "my_films.csv"
    allowed = catalog.mask(Filters(genres_include=("Comedy",), year_max=1990))   # (N,) bool

`item_text` is the one place that decides what text is embedded for an item (index and meta-training use it).
"""
from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import logging
import math
import re
import sqlite3
import time
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import CatalogError
from ..core.files import atomic_write
from ..core.types import Filters, Item

log = logging.getLogger(__name__)

BUILD_VERSION = "v1"  # bump when the cleaning below changes, so cached movie catalogs are rebuilt
TEXT_WORDS = 60  # item_text budget: MiniLM truncates at 256 tokens, and short texts embed faster
TOP_CAST = 4  # names kept in "top_cast" (item_text uses 3 of them)
INSTALL_HINT = "pip install bokeh-sampledata==2026.1"

LIST_FIELDS = ("director", "writer", "cast", "top_cast", "language", "country")
INT_FIELDS = ("runtime", "oscars", "metacritic", "tomato_meter", "tomato_reviews", "imdb_votes")
FLOAT_FIELDS = ("imdb_rating", "tomato_rating", "box_office", "popularity")


# --- the embedded text ------------------------------------------------------------------------------------------
def item_text(item: Item) -> str:
    """The text embedded for an item: a pure function of the Item, about 60 words at most."""
    a = item.attributes
    genres = ", ".join(item.tags)
    sentence = f"{genres} film" if genres else "Film"
    directors = item.people("director")[:2]
    if directors:
        sentence += " directed by " + " and ".join(directors)
    cast = item.lead_cast()[:3]  # "cast" may be alphabetical: prefer "top_cast"
    if cast:
        sentence += ", starring " + ", ".join(cast)
    parts = [item.label() + ".", sentence + "."]
    place = item.people("language")[:2] + item.people("country")[:2]
    if place:
        parts.append(", ".join(dict.fromkeys(place)) + ".")  # dict.fromkeys: drop repeats, keep order
    if isinstance(a.get("awards"), str):
        parts.append(a["awards"])
    head = " ".join(parts)
    if item.text:
        budget = max(20, TEXT_WORDS - len(head.split()))
        words = item.text.split()
        head += " " + " ".join(words[:budget]) + ("…" if len(words) > budget else "")
    return head


def normalise_title(title: str) -> str:
    """Lowercase ASCII words of a title, for matching across sources ("Les Misérables" -> "les miserables")."""
    plain = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return " ".join(re.findall(r"[a-z0-9]+", plain.lower()))


# --- the built-in catalog ---------------------------------------------------------------------------------------
def movies_db_path() -> Path:
    """Path of movies.db inside the installed bokeh-sampledata package."""
    spec = importlib.util.find_spec("bokeh_sampledata")
    if spec is None or not spec.origin:
        raise CatalogError(f"the default film catalog needs the bokeh-sampledata package: {INSTALL_HINT}")
    path = Path(spec.origin).parent / "_data" / "movies.db"
    if not path.is_file():
        raise CatalogError(f"{path} is missing; reinstall it: {INSTALL_HINT}")
    return path


def _clean(value: Any) -> Any:
    """NULL, blank, "N/A" and NaN become None; strings get their whitespace collapsed."""
    if isinstance(value, str):
        value = " ".join(value.split())
        return None if value in ("", "N/A") else value
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _split(value: Any) -> list[str]:
    """A comma (or pipe, if any) separated string, or a list of strings, as a list of unique stripped names."""
    if isinstance(value, (list, tuple)):
        parts = value
    else:
        value = _clean(value)
        if value is None:
            return []
        text = str(value)
        parts = text.split("|") if "|" in text else text.split(",")
    names = (p.strip() for p in parts)
    return list(dict.fromkeys(n for n in names if n and n != "N/A"))


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
    (imdb_id, title, year, cert, runtime, genre, director, writer, cast, metacritic, imdb_rating, imdb_votes,
     language, country, awards, oscars, t_rating, meter, reviews, consensus, box_office, production) = row
    attrs: dict[str, Any] = {
        "director": _split(director), "writer": _split(writer),
        "cast": _split(cast),  # alphabetical in this db, not billing order
        "language": _split(language), "country": _split(country),
        "rating": _clean(cert), "awards": _clean(awards), "production": _clean(production),
        "runtime": int(round(runtime)) if _clean(runtime) and runtime > 0 else None,
        "imdb_rating": _clean(imdb_rating), "imdb_votes": _clean(imdb_votes), "metacritic": _clean(metacritic),
        "oscars": int(oscars or 0), "tomato_meter": _clean(meter), "tomato_rating": _clean(t_rating),
        "tomato_reviews": _clean(reviews), "box_office": _clean(box_office),
    }
    attrs = {k: v for k, v in attrs.items() if v is not None and v != []}
    return Item(item_id=str(imdb_id).strip(), title=_clean(title) or "", year=int(year) if _clean(year) else None,
                text=_clean(consensus) or "", tags=tuple(_split(genre)), attributes=attrs)


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
    differ = lambda a, b: bool(a.people("director") and b.people("director")  # noqa: E731
                               and set(a.people("director")) != set(b.people("director")))
    out = _keep_richer(by_id, lambda it: (normalise_title(it.title), it.year), differ)
    return out, len(items) - len(by_id), len(by_id) - len(out)


def build_movies_catalog(db_path: Path | None = None) -> list[Item]:
    """Read, clean and de-duplicate the bokeh-sampledata films (CC0, Wikidata contributors)."""
    path = db_path or movies_db_path()
    t0 = time.perf_counter()
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True) as db:
        rows = db.execute(MOVIES_SQL).fetchall()
    items, same_id, same_title = _dedupe([_movie_row(r) for r in rows if _clean(r[0]) and _clean(r[1])])
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
    log.info("built %d films from %s in %.1f s (dropped %d duplicate ids, %d duplicate title+year rows)",
             len(out), path.name, time.perf_counter() - t0, same_id, same_title)
    return out


# --- user files -------------------------------------------------------------------------------------------------
def _fail(where: str, field: str, problem: str) -> CatalogError:
    """The error for one bad field: 'tiny.jsonl line 7: field 'year': ...'."""
    return CatalogError(f"{where}: field '{field}': {problem}")


EXPECTED = {"int": "an integer", "float": "a number", "text": "text",
            "list": "a list of strings or a comma-separated string"}


def _coerce(value: Any, kind: str, where: str, field: str) -> Any:
    """`value` as an int, float, text or list of names; else a CatalogError naming the field."""
    plain = not isinstance(value, bool)
    if kind == "int" and plain:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return int(value)
    elif kind == "float" and plain and isinstance(value, (int, float, str)):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            return number
    elif kind == "text" and plain and isinstance(value, (str, int, float)):
        return " ".join(str(value).split())
    elif kind == "list" and (isinstance(value, str) or (isinstance(value, (list, tuple))
                                                         and all(isinstance(v, str) for v in value))):
        return _split(value)
    raise _fail(where, field, f"expected {EXPECTED[kind]}, got {value!r}")


def item_from_row(row: dict[str, Any], where: str) -> Item:
    """Validate one JSONL object or CSV row; `where` ("tiny.jsonl line 7") starts every error message."""
    row = {k.strip() if isinstance(k, str) else k: v for k, v in row.items()}
    row = {k: v for k, v in row.items() if not (v is None or (isinstance(v, str) and not v.strip()))}
    id_field = "id" if "id" in row else "item_id"  # whichever is absent or unused stays an attribute
    if id_field not in row:
        raise _fail(where, "id", "required (give each item an 'id')")
    item_id = _coerce(row.pop(id_field), "text", where, id_field)
    if "title" not in row:
        raise _fail(where, "title", "required")
    title = _coerce(row.pop("title"), "text", where, "title")
    year = _coerce(row.pop("year"), "int", where, "year") if "year" in row else None
    text_field = "text" if "text" in row else "description"
    text = _coerce(row.pop(text_field), "text", where, text_field) if text_field in row else ""
    tag_field = "tags" if "tags" in row else "genres"
    tags = tuple(_coerce(row.pop(tag_field), "list", where, tag_field)) if tag_field in row else ()
    attrs = row.pop("attributes", {})
    if not isinstance(attrs, dict):
        raise _fail(where, "attributes", f"expected an object, got {attrs!r}")
    attrs = {**attrs, **row}
    if None in attrs:
        raise CatalogError(f"{where}: more values than columns")
    clean: dict[str, Any] = {}
    for key, value in attrs.items():
        if value is None or value == "" or value == []:
            continue
        kind = "list" if key in LIST_FIELDS else "int" if key in INT_FIELDS else "float" if key in FLOAT_FIELDS else ""
        value = _coerce(value, kind, where, key) if kind else value
        if key == "popularity" and not 0.0 <= value <= 1.0:
            raise _fail(where, key, f"expected a number between 0 and 1, got {value!r}")
        clean[key] = value
    return Item(item_id=item_id, title=title, year=year, text=text, tags=tags, attributes=clean)


def _items_from_rows(path: Path, rows: Iterable[tuple[int, dict[str, Any]]]) -> list[Item]:
    """Items from (line number, row) pairs; ids must be unique and there must be at least one."""
    items: list[Item] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        item = item_from_row(row, f"{path.name} line {line}")
        if item.item_id in seen:
            first = seen[item.item_id]
            raise _fail(f"{path.name} line {line}", "id", f"duplicate id {item.item_id!r} (first on line {first})")
        seen[item.item_id] = line
        items.append(item)
    if not items:
        raise CatalogError(f"{path.name}: no items (the file is empty)")
    return items


def _read_text(path: Path) -> str:
    """A catalog file's UTF-8 text (a BOM is allowed), or a CatalogError."""
    if not path.is_file():
        raise CatalogError(f"catalog file not found: {path}")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise CatalogError(f"{path.name}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def read_jsonl(path: Path | str) -> list[Item]:
    """Items from a JSONL file: one object per line with id and title (see item_from_row)."""
    path = Path(path)

    def rows(lines: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise CatalogError(f"{path.name} line {number}: invalid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(obj, dict):
                raise CatalogError(f"{path.name} line {number}: expected a JSON object, got {type(obj).__name__}")
            yield number, obj

    return _items_from_rows(path, rows(_read_text(path).split("\n")))  # not splitlines: JSON strings may hold U+2028


def read_csv(path: Path | str) -> list[Item]:
    """Items from a CSV file with a header row; list columns are comma or pipe separated."""
    path = Path(path)
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    try:
        header = [h.strip() for h in reader.fieldnames or []]
        if header and not ({"id", "item_id"} & set(header)):
            raise _fail(f"{path.name} line 1", "id", "missing column (the header needs 'id')")
        if header and "title" not in header:
            raise _fail(f"{path.name} line 1", "title", "missing column")
        return _items_from_rows(path, ((reader.line_num, row) for row in reader))
    except csv.Error as e:
        raise CatalogError(f"{path.name} line {reader.line_num}: {e}") from None


def item_to_dict(item: Item) -> dict[str, Any]:
    """The JSONL object for an item (read_jsonl reads it back unchanged)."""
    out = {"id": item.item_id, "title": item.title, "year": item.year, "text": item.text, "tags": list(item.tags),
           "attributes": item.attributes}
    return {k: v for k, v in out.items() if v is not None and v != "" and v != [] and v != {}}


def write_jsonl(items: Iterable[Item], path: Path | str) -> None:
    """Write items as JSONL, atomically."""
    lines = (json.dumps(item_to_dict(it), ensure_ascii=False, default=str) + "\n" for it in items)
    atomic_write(Path(path), "".join(lines).encode("utf-8"))


# --- the catalog object -----------------------------------------------------------------------------------------
class Catalog:
    """Items plus numpy arrays for filtering: years (N,), genre matrix (N, G), popularity (N,)."""

    def __init__(self, items: Iterable[Item]) -> None:
        self.items: list[Item] = list(items)
        self.by_id: dict[str, Item] = {}
        self._pos: dict[str, int] = {}
        for pos, item in enumerate(self.items):
            if item.item_id in self.by_id:
                raise CatalogError(f"duplicate item id {item.item_id!r}")
            self.by_id[item.item_id] = item
            self._pos[item.item_id] = pos
        spelling: dict[str, str] = {}  # lowercased -> first spelling seen, so "comedy" and "Comedy" are one genre
        for item in self.items:
            for tag in item.tags:
                spelling.setdefault(tag.lower(), tag)
        self.genres: list[str] = sorted(spelling.values(), key=str.lower)
        self._genre_col = {g.lower(): col for col, g in enumerate(self.genres)}
        self.genre_matrix = np.zeros((len(self.items), len(self.genres)), dtype=bool)  # (N, G)
        for pos, item in enumerate(self.items):
            for tag in item.tags:
                self.genre_matrix[pos, self._genre_col[tag.lower()]] = True
        self.years = np.array([np.nan if it.year is None else it.year for it in self.items], dtype=np.float64)  # (N,)
        pops = [it.attributes.get("popularity") for it in self.items]
        self.popularity = np.array([p if isinstance(p, (int, float)) else 0.0 for p in pops], dtype=np.float32)  # (N,)
        rows = [[it.item_id, it.title, it.year, it.text, list(it.tags), it.attributes] for it in self.items]
        canonical = json.dumps(rows, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
        self.content_hash = hashlib.sha256(canonical.encode("utf-8")).hexdigest()  # embedding cache key

    def __len__(self) -> int:
        return len(self.items)

    def get(self, item_id: str) -> Item | None:
        """The item with this id, or None."""
        return self.by_id.get(item_id)

    def position(self, item_id: str) -> int:
        """Row of an item in the arrays; KeyError for an unknown id."""
        return self._pos[item_id]

    def texts(self) -> list[str]:
        """item_text of every item, in catalog order."""
        return [item_text(it) for it in self.items]

    def _columns(self, names: Iterable[str]) -> list[int]:
        """Genre matrix columns of the known names (case-insensitive); unknown names are skipped."""
        cols = (self._genre_col.get(n.strip().lower()) for n in names)
        return [c for c in cols if c is not None]

    def _runtimes(self) -> np.ndarray:
        """(N,) runtime in minutes, NaN when unknown; built on first use (only runtime filters need it)."""
        if getattr(self, "_runtime", None) is None:
            values = [it.attributes.get("runtime") for it in self.items]
            self._runtime = np.array([v if isinstance(v, (int, float)) else np.nan for v in values], dtype=np.float64)
        return self._runtime

    def _postings(self, key: str) -> dict[str, np.ndarray]:
        """Value -> positions of the items that have it, built on first use and kept: "language" and "country"
        (lower-cased), or "people" (directors, writers and cast, exact names). A filter then costs a lookup per
        wanted value instead of a pass over every item."""
        cache = self.__dict__.setdefault("_postings_cache", {})
        if key not in cache:
            roles = ("director", "writer", "cast") if key == "people" else (key,)
            found: dict[str, set[int]] = {}
            for pos, it in enumerate(self.items):
                for role in roles:
                    for value in it.people(role):
                        found.setdefault(value if key == "people" else value.lower(), set()).add(pos)
            cache[key] = {v: np.fromiter(sorted(ps), dtype=np.int64) for v, ps in found.items()}
        return cache[key]

    def prepare_filters(self) -> None:
        """Build what the filters build on first use (posting lists, runtimes), e.g. while the app starts."""
        for key in ("language", "country", "people"):
            self._postings(key)
        self._runtimes()

    def _any_of(self, key: str, wanted: Iterable[str]) -> np.ndarray:
        """(N,) bool: items with at least one of the wanted values for `key` (see _postings)."""
        postings = self._postings(key)
        hit = np.zeros(len(self.items), dtype=bool)
        for value in wanted:
            positions = postings.get(value if key == "people" else value.lower())
            if positions is not None:
                hit[positions] = True
        return hit

    def mask(self, filters: Filters) -> np.ndarray:
        """(N,) bool: items that satisfy every hard constraint of `filters`."""
        ok = np.ones(len(self.items), dtype=bool)
        if filters.genres_include:  # at least one of them; an unknown genre matches nothing
            ok &= self.genre_matrix[:, self._columns(filters.genres_include)].any(axis=1)
        if filters.genres_all:  # every one of them (a compound genre such as "rom-com")
            ok &= self.genre_matrix[:, self._columns(filters.genres_all)].all(axis=1)
        if filters.genres_exclude:  # none of them
            ok &= ~self.genre_matrix[:, self._columns(filters.genres_exclude)].any(axis=1)
        if filters.year_min is not None:  # NaN (unknown year) compares False, so it fails a year constraint
            ok &= self.years >= filters.year_min
        if filters.year_max is not None:
            ok &= self.years <= filters.year_max
        if filters.runtime_min is not None or filters.runtime_max is not None:
            runtime = self._runtimes()  # NaN (unknown) fails, like an unknown year
            if filters.runtime_min is not None:
                ok &= runtime >= filters.runtime_min
            if filters.runtime_max is not None:
                ok &= runtime <= filters.runtime_max
        for key, wanted in (("language", filters.languages), ("country", filters.countries),
                            ("people", filters.people)):
            if wanted:
                ok &= self._any_of(key, wanted)
        for item_id in filters.exclude_ids:
            pos = self._pos.get(item_id)
            if pos is not None:
                ok[pos] = False
        return ok


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def load_catalog(spec: str, cache_dir: Path, progress: bool = True) -> Catalog:
    """Load "movies" (built once, then cached as JSONL keyed by the db's sha256) or a .jsonl / .csv file.

    `progress` is accepted for symmetry with the index: the film build takes about a second and logs instead.
    """
    spec = spec.strip()
    if spec == "movies":
        db = movies_db_path()
        cached = Path(cache_dir) / "catalog" / f"movies-{BUILD_VERSION}-{file_sha256(db)[:16]}.jsonl"
        if cached.is_file():
            try:
                catalog = Catalog(read_jsonl(cached))
                log.info("loaded %d films from cached %s", len(catalog), cached)
                return catalog
            except CatalogError as e:
                log.warning("cached catalog %s is unreadable (%s); rebuilding", cached, e)
        log.info("building the film catalog from %s (first run; cached afterwards)", db)
        write_jsonl(build_movies_catalog(db), cached)
        return Catalog(read_jsonl(cached))  # read back, so the first run hashes exactly like later ones
    path = Path(spec).expanduser()
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise CatalogError(f"unknown catalog {spec!r}: use 'movies' or a .jsonl or .csv file")
    items = read_jsonl(path) if suffix == ".jsonl" else read_csv(path)
    log.info("loaded %d items from %s", len(items), path)
    return Catalog(items)
