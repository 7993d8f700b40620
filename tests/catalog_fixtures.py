"""The real default catalog and its graph, loaded once per test process (several test modules need them)."""

from __future__ import annotations

from functools import lru_cache

from recsys.catalog.catalog import Catalog
from recsys.catalog.graph import Graph
from recsys.catalog.sources import load_catalog
from tests.conftest import SHARED_CACHE


@lru_cache(maxsize=1)
def real_catalog() -> Catalog:
    """The 17k-film catalog from the shared cache (built there on first use)."""
    return load_catalog("movies", SHARED_CACHE, progress=False)


@lru_cache(maxsize=1)
def real_graph() -> Graph:
    """Its people <-> films graph."""
    return Graph.from_catalog(real_catalog())
