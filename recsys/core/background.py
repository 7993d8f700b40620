"""A value built once on a daemon thread, for parts the served page must not wait for (the generator, the engine).

part = Background(load, name="engine")   # nothing runs yet
part.start()                             # once the page is up; later calls do nothing
part.state                               # "loading" | "ready" | "failed: <cause>" (/healthz reports it)
part.wait(5.0)                           # True once ready
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Background:
    """Runs `load` on a daemon thread once start() is called and publishes its result only when whole."""

    def __init__(self, load: Callable[[], Any], name: str = "part") -> None:
        self._inner: Any = None
        self._error = ""
        self._done = threading.Event()
        self.name = name
        self.seconds: float | None = None  # how long the load took, once done
        self._thread = threading.Thread(target=self._run, args=(load,), name=f"{name}-load", daemon=True)

    def start(self) -> None:
        """Begin loading (once; later calls do nothing)."""
        if self._thread.ident is None:
            self._thread.start()

    def _run(self, load: Callable[[], Any]) -> None:
        """Load, then publish; a failure is kept (state says why) instead of killing the process."""
        t0 = time.perf_counter()
        try:
            inner = load()
            self.seconds = time.perf_counter() - t0
            self._inner = inner
            self.loaded(inner)
        except Exception as e:
            self._inner = None
            self._error = f"{type(e).__name__}: {e}"
            self.seconds = time.perf_counter() - t0
            self.failed(e)
        finally:
            self._done.set()

    def loaded(self, inner: Any) -> None:
        """Called on the loading thread when the value is ready (subclasses log what it means)."""

    def failed(self, error: Exception) -> None:
        """Called on the loading thread when loading raised."""
        log.error("%s failed to load (%s)", self.name, self._error)

    @property
    def ready(self) -> bool:
        """True once loaded."""
        return self._inner is not None

    @property
    def state(self) -> str:
        """What /healthz shows: loading, ready, or failed with the cause."""
        if self._inner is not None:
            return "ready"
        return f"failed: {self._error}" if self._done.is_set() else "loading"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading ends (or the timeout); True when ready."""
        self._done.wait(timeout)
        return self.ready
