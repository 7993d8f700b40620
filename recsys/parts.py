"""The parts `Engine.load` wires, built or loaded from settings (tests build tiny ones and skip this).

parts = load_parts(Settings.from_env())   # store, catalog, index, generator, head, co-mentions, ranker
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog.catalog import Catalog
from .catalog.comentions import CoMentions, load_comentions
from .catalog.sources import open_catalog
from .core.config import Settings
from .explain.explainer import warm_up
from .generation.late import LateGenerator
from .generation.llm import load_generator
from .personal.head import DEFAULT_CHECKPOINT, Head, load_head
from .ranking.learned import LearnedRanker, load_ranker
from .search.embedder import catalog_encoder, encoder_for
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


def load_parts(
    settings: Settings,
    progress: bool = True,
    background_generator: bool = False,
    store: Store | None = None,
    catalog: Catalog | None = None,
) -> Parts:
    """Build or load every part, logging each step (the first run builds caches, later runs reuse them).
    `background_generator` (the served page): a local generator loads on a thread once the caller calls its
    start() (after the page is up), so the page is served seconds sooner and its first reasons are built from facts
    until it is ready (/healthz says). `store` and `catalog`: already opened by the caller (the served page opens
    them before its first response, then loads the rest on a thread)."""
    t0 = time.perf_counter()
    store = store or Store(settings.database_url)  # first: a bad database URL fails in a second, not after models
    catalog = catalog or open_catalog(settings, progress)
    catalog.prepare_filters()  # now, not in the first turn that filters by language or person (~0.2 s at 17k)
    encoder = encoder_for(settings)
    index = ItemIndex.build(
        catalog,
        encoder,
        settings.cache,
        progress=progress,
        backend=settings.index_backend,
        ann_min_items=settings.ann_min_items,
        bulk=catalog_encoder(settings),
    )
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
    generator = _generator(settings, background_generator and _local_model(settings.generator))
    log.info("engine ready in %.1f s", time.perf_counter() - t0)
    return Parts(catalog, index, generator, store, head, comentions, ranker)


def _local_model(spec: str) -> bool:
    """A model this process loads itself (worth a thread), not a URL or a spec that is only an error."""
    spec = spec.strip()
    path = Path(spec).expanduser()
    return spec.lower() == "smollm2" or path.is_dir() or (path.suffix.lower() == ".gguf" and path.is_file())


def _generator(settings: Settings, background: bool):
    """The generator, warmed up (its shared prompt head's KV cache now, not in the first person's first reply)."""
    prepare = warm_up if settings.explainer == "generate" else None
    if background:
        log.info("loading generator %r in the background; the page is served meanwhile", settings.generator)
        return LateGenerator(lambda: load_generator(settings), prepare, name=settings.generator, start=False)
    log.info("loading generator %r", settings.generator)
    generator = load_generator(settings)
    if prepare is not None:
        prepare(generator)
    return generator
