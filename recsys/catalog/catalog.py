"""The item catalog: items by id plus numpy arrays for fast hard-constraint filters.

catalog = Catalog(items)               # sources.load_catalog("movies", cache_dir) builds one from a source
allowed = catalog.mask(Filters(genres_include=("Comedy",), year_max=1990))   # (N,) bool
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from functools import cached_property

import numpy as np

from ..core.errors import CatalogError
from ..core.types import Filters, Item
from .text import item_text


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

    @cached_property
    def content_hash(self) -> str:
        """sha256 of every item's fields in order: the embedding cache's key. Computed on first use (~0.2 s at 17k
        films), so a served page that only needs the genres does not wait for it."""
        rows = [[it.item_id, it.title, it.year, it.text, list(it.tags), it.attributes] for it in self.items]
        canonical = json.dumps(rows, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def __len__(self) -> int:
        """Number of items."""
        return len(self.items)

    def get(self, item_id: str) -> Item | None:
        """The item with this id, or None."""
        return self.by_id.get(item_id)

    def position(self, item_id: str) -> int:
        """Row of an item in the arrays; KeyError for an unknown id."""
        return self._pos[item_id]

    def texts(self) -> list[str]:
        """item_text of every item, in catalog order; built once (the cache check and the index both read it)."""
        if getattr(self, "_texts", None) is None:
            self._texts = [item_text(it) for it in self.items]
        return list(self._texts)

    def text_position(self, text: str) -> int | None:
        """Row of the item whose item_text is exactly `text`, or None: a query that is one film's text ("more like
        that") can use that film's stored vector instead of being embedded again."""
        if getattr(self, "_text_pos", None) is None:
            self._text_pos = {t: pos for pos, t in enumerate(self.texts())}
        return self._text_pos.get(text)

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
        for key, wanted in (
            ("language", filters.languages),
            ("country", filters.countries),
            ("people", filters.people),
        ):
            if wanted:
                ok &= self._any_of(key, wanted)
        for item_id in filters.exclude_ids:
            pos = self._pos.get(item_id)
            if pos is not None:
                ok[pos] = False
        return ok
