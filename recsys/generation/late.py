"""A generator loaded on a thread while the page is already served: the first start need not wait for it.

    generator = LateGenerator(lambda: load_generator(settings), prepare=warm_up)
    generator.ready          # False until loaded and warmed up; the engine writes reasons from facts meanwhile
    generator.state          # "loading" | "ready" | "failed: ..." (/healthz reports it)

Calls made before it is ready raise GeneratorNotReady, which callers already treat as a failed generation (the
explainer falls back to facts, the generator parser to the lexicon). Replay and evaluation load synchronously
(parts.load_parts(background_generator=False)), so their reasons never depend on how fast a machine loads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..core.background import Background

log = logging.getLogger(__name__)


class GeneratorNotReady(RuntimeError):
    """The generator is still loading (or failed to load): use facts for now."""


class LateGenerator(Background):
    """Proxy to a generator that a daemon thread loads (and warms up) once; attributes pass through when ready."""

    def __init__(
        self, load: Callable[[], Any], prepare: Callable[[Any], Any] | None = None, name: str = "", start: bool = True
    ) -> None:
        """`start=False`: loading begins at start() (the served app calls it once the page is up, so building the
        page does not share the 2 cores with the model's load and warm-up)."""
        super().__init__(lambda: _prepared(load(), prepare), name or "generator")
        if start:
            self.start()

    def loaded(self, inner: Any) -> None:
        """Take the loaded generator's name and say that reasons are generated from now on."""
        self.name = getattr(inner, "name", self.name)
        log.info("generator ready after %.1f s in the background; reasons are generated from now on", self.seconds)

    def failed(self, error: Exception) -> None:
        """The page keeps serving fact-built reasons; /healthz says why."""
        log.error("the generator failed to load (%s); reasons stay built from facts", self._error)

    def __getattr__(self, attr: str) -> Any:
        """The loaded generator's attribute; before that, GeneratorNotReady for its methods."""
        if attr.startswith("_"):
            raise AttributeError(attr)
        inner = self.__dict__.get("_inner")
        if inner is None:
            if attr in ("stream", "complete"):
                raise GeneratorNotReady(f"the generator is {self.state}")
            raise AttributeError(attr)
        return getattr(inner, attr)


def _prepared(generator: Any, prepare: Callable[[Any], Any] | None) -> Any:
    """The generator after its warm-up (nothing sees a half-ready one)."""
    if prepare is not None:
        prepare(generator)
    return generator


def ready(generator: Any) -> bool:
    """Whether a generator can be called now (every generator but a loading LateGenerator can)."""
    return bool(getattr(generator, "ready", True))


def state(generator: Any) -> str:
    """The generator's load state for /healthz ("ready" for generators loaded up front)."""
    return str(getattr(generator, "state", "ready"))
