"""The parts `Engine.load` wires, built or loaded from settings (tests build tiny ones and skip this).

parts = load_parts(Settings.from_env())   # store, catalog, index, generator, head, co-mentions, ranker
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from .catalog.catalog import Catalog
from .catalog.comentions import CoMentions, load_comentions
from .catalog.sources import load_catalog
from .core.config import Settings
from .explain.explainer import warm_up
from .generation.llm import load_generator
from .personal.head import DEFAULT_CHECKPOINT, Head, load_head
from .ranking.learned import LearnedRanker, load_ranker
from .search.encoder import SentenceEncoder
from .search.index import ItemIndex
from .storage.store import Store

# The engine's start-up lines, under its name: log filters on recsys.engine (quiet_turns) still cover them.
log = logging.getLogger("recsys.engine")


@dataclass(frozen=True)
class Parts:
    """Everything the engine is built from, as `Engine(settings, ...)` takes it."""

    catalog: Catalog
    index: ItemIndex
    generator: Any
    store: Store
    head: Head | None  # None: RECSYS_HEAD=none
    comentions: CoMentions | None  # None: off, or none shipped for this catalog
    ranker: LearnedRanker | None  # None: the hand-set blend


def load_parts(settings: Settings, progress: bool = True) -> Parts:
    """Build or load every part, logging each step (the first run builds caches, later runs reuse them)."""
    t0 = time.perf_counter()
    store = Store(settings.database_url)  # first: a bad database URL fails in a second, not after the models
    log.info("loading catalog %r", settings.catalog)
    catalog = load_catalog(settings.catalog, settings.cache, progress=progress)
    log.info("catalog: %d items, %d genres", len(catalog), len(catalog.genres))
    catalog.prepare_filters()  # now, not in the first turn that filters by language or person (~0.2 s at 17k)
    encoder = SentenceEncoder(settings.embed_model, device=settings.device)
    index = ItemIndex.build(
        catalog,
        encoder,
        settings.cache,
        progress=progress,
        backend=settings.index_backend,
        ann_min_items=settings.ann_min_items,
    )
    log.info("loading generator %r", settings.generator)
    generator = load_generator(settings)
    if settings.explainer == "generate":
        warm_up(generator)  # the shared prompt head's KV cache now, not in the first person's first reply
    head = None
    if settings.head.lower() != "none":  # a missing or broken checkpoint is a ModelError saying what to do
        head, meta = load_head(settings.head or DEFAULT_CHECKPOINT)
        log.info(
            "per-user head %s (%s MAML)",
            settings.head or DEFAULT_CHECKPOINT,
            "second-order" if meta.get("config", {}).get("second_order", True) else "first-order",
        )
    comentions = load_comentions(settings.comentions, settings.catalog)
    ranker = load_ranker(settings.ranker, settings.catalog)
    log.info("engine ready in %.1f s", time.perf_counter() - t0)
    return Parts(catalog, index, generator, store, head, comentions, ranker)
