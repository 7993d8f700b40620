"""The engine as the served page sees it while it loads: the page is up in seconds, turns wait for the engine.

    engine = LoadingEngine(settings, store, catalog, lambda: Engine.load(settings, store=store, catalog=catalog))
    demo = build_demo(engine)     # needs only settings, the store and the catalog's genres: all here already
    demo.launch(...); engine.start()
    engine.respond(...)           # waits until the engine is ready (ENGINE_WAIT_S), then passes through

Only the served app uses this; the CLI, replay, evaluation and tests load the engine before they start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..catalog.catalog import Catalog
from ..core.background import Background
from ..core.config import Settings
from ..core.errors import RecsysError
from ..dialogue.sessions import SessionDesk
from ..storage.store import Store

if TYPE_CHECKING:
    from ..engine import Engine

log = logging.getLogger(__name__)

ENGINE_WAIT_S = 300.0  # a turn sent during the start waits this long for the engine before it is refused
# Engine methods the page only asks for with a fallback (web/views.py: getattr(engine, name, None)). While the
# engine loads they are missing rather than waited for, so a first visit then opens at once, with no films to rate
# and the taste panel from the person's votes alone, instead of a page whose message box stays off until the
# engine is ready.
OPTIONAL_WHILE_LOADING = frozenset({"onboarding_items", "taste_profile"})


class EngineNotReady(RecsysError):
    """The engine is still loading past ENGINE_WAIT_S, or failed to load (the message says which)."""


class LoadingEngine(Background, SessionDesk):
    """Settings, store, catalog and the sessions (SessionDesk: what the page's load event asks) at once; every
    other Engine attribute once the engine has loaded."""

    def __init__(self, settings: Settings, store: Store, catalog: Catalog, load: Callable[[], Engine]) -> None:
        super().__init__(load, name="engine")
        self.settings = settings
        self.store = store
        self.catalog = catalog

    def loaded(self, inner: Engine) -> None:
        """Start the generator's own background load, now that the engine no longer shares the cores."""
        log.info("engine ready after %.1f s in the background; turns are answered from now on", self.seconds)
        inner.graph.prepare()  # the fuzzy title and name tables, before a first turn needs them
        getattr(inner.generator, "start", lambda: None)()

    def failed(self, error: Exception) -> None:
        """Turns are refused with the cause; /healthz says it; main() stops the server."""
        log.error("the engine failed to load: %s", self._error)

    @property
    def generator(self) -> Any:
        """The engine's generator, or None while the engine loads (/healthz asks without waiting)."""
        return self._inner.generator if self._inner is not None else None

    def engine(self, timeout: float = ENGINE_WAIT_S) -> Engine:
        """The loaded engine, waiting for it; EngineNotReady if it failed or takes longer than `timeout`."""
        if not self.wait(timeout):
            raise EngineNotReady(f"the recommender is {self.state}; try again in a moment")
        return self._inner

    def __getattr__(self, attr: str) -> Any:
        """Anything else the page asks of the engine (respond, feedback, ...), once it is ready."""
        if attr.startswith("_"):
            raise AttributeError(attr)
        if attr in OPTIONAL_WHILE_LOADING and not self.ready:
            raise AttributeError(f"{attr}: the engine is still loading")
        return getattr(self.engine(), attr)
