"""Which source a catalog spec names: the built-in films (built once, cached as JSONL) or a JSONL / CSV file.

catalog = load_catalog("movies", cache_dir)          # or "my_films.jsonl" / "my_films.csv"
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from ..core.config import Settings
from ..core.errors import CatalogError
from .catalog import Catalog
from .files import read_csv, read_jsonl, read_own_jsonl, write_jsonl
from .moviesdb import build_movies_catalog, movies_db_path

log = logging.getLogger(__name__)

BUILD_VERSION = "v1"  # bump when moviesdb's or text's cleaning changes, so cached movie catalogs are rebuilt


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
                catalog = Catalog(read_own_jsonl(cached))  # written by write_jsonl below: checked then
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


def open_catalog(settings: Settings, progress: bool = True) -> Catalog:
    """The catalog the settings name (load_catalog), logged as the engine's start-up logs its parts."""
    log.info("loading catalog %r", settings.catalog)
    catalog = load_catalog(settings.catalog, settings.cache, progress=progress)
    log.info("catalog: %d items, %d genres", len(catalog), len(catalog.genres))
    return catalog
