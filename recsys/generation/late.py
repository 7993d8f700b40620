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
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class GeneratorNotReady(RuntimeError):
    """The generator is still loading (or failed to load): use facts for now."""


class LateGenerator:
    """Proxy to a generator that a daemon thread loads (and warms up) once; attributes pass through when ready."""

    def __init__(
        self, load: Callable[[], Any], prepare: Callable[[Any], Any] | None = None, name: str = "", start: bool = True
    ) -> None:
        """`start=False`: loading begins at start() (the served app calls it once the page is up, so building the
        page does not share the 2 cores with the model's load and warm-up)."""
        self._inner: Any = None
        self._error = ""
        self._done = threading.Event()
        self.name = name or "generator"
        self._thread = threading.Thread(target=self._load, args=(load, prepare), name="generator-load", daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        """Begin loading (once; later calls do nothing)."""
        if self._thread.ident is None:
            self._thread.start()

    def _load(self, load: Callable[[], Any], prepare: Callable[[Any], Any] | None) -> None:
        """Load, warm up, then publish: nothing sees a half-ready generator."""
        t0 = time.perf_counter()
        try:
            inner = load()
            if prepare is not None:
                prepare(inner)
            self._inner = inner
            self.name = getattr(inner, "name", self.name)
            log.info(
                "generator ready after %.1f s in the background; reasons are generated from now on",
                time.perf_counter() - t0,
            )
        except Exception as e:  # the page keeps serving fact-built reasons; /healthz says why
            self._error = f"{type(e).__name__}: {e}"
            log.error("the generator failed to load (%s); reasons stay built from facts", self._error)
        finally:
            self._done.set()

    @property
    def ready(self) -> bool:
        """True once the generator is loaded and warmed up."""
        return self._inner is not None

    @property
    def state(self) -> str:
        """What /healthz shows: loading, ready, or failed with the cause."""
        if self._inner is not None:
            return "ready"
        return f"failed: {self._error}" if self._done.is_set() else "loading"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading ends (tests, CLI); True when the generator is ready."""
        self._done.wait(timeout)
        return self.ready

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


def ready(generator: Any) -> bool:
    """Whether a generator can be called now (every generator but a loading LateGenerator can)."""
    return bool(getattr(generator, "ready", True))


def state(generator: Any) -> str:
    """The generator's load state for /healthz ("ready" for generators loaded up front)."""
    return str(getattr(generator, "state", "ready"))
