"""Build an Engine over the tiny catalog with fakes for the parts a test is not about."""

from __future__ import annotations

import os
from pathlib import Path

from recsys.catalog.catalog import Catalog
from recsys.core.config import Settings
from recsys.engine import Engine
from recsys.search.index import ItemIndex
from recsys.storage.store import Store
from tests.fakes import HashingEncoder, ScriptedGenerator, tiny_items


def tiny_engine(generator=None, db_url: str | None = None, **overrides) -> Engine:
    """Engine on tiny_items(), hashing encoder, scripted generator, real SQLite store under RECSYS_HOME."""
    settings = Settings.from_env().with_overrides(**overrides)
    catalog = Catalog(tiny_items())
    index = ItemIndex.build(catalog, HashingEncoder(), settings.cache, progress=False)
    store = Store(db_url or settings.database_url)
    return Engine(settings, catalog, index, generator or ScriptedGenerator(), store)


def home() -> Path:
    """The test's RECSYS_HOME."""
    return Path(os.environ["RECSYS_HOME"])
