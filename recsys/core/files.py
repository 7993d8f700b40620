"""Small file helpers shared by the cache writers (catalog, embeddings, converted generator)."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)

BUILD_WAIT_S = 3600  # longest wait for another process's build (a 1M-item catalog embeds in well under this)


def atomic_write(path: Path, data: bytes) -> None:
    """Temp file + rename in the same folder: a killed process never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as f:
        f.write(data)
    os.replace(f.name, path)


@contextmanager
def one_builder(target: Path) -> Iterator[None]:
    """Hold a lock beside `target` while building it, so processes starting at once (replicas, test workers) build
    it once: the others wait here, then the caller checks again and finds it built. The OS drops the lock of a
    process that dies. Where no lock can be taken (a read-only cache) or the wait runs out, the caller builds
    anyway, as it did before the lock: writes are atomic, so two builders only cost time."""
    lock = FileLock(str(target.parent / f".{target.name}.lock"))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire(timeout=0.1)
        except Timeout:
            log.info("another process is building %s; waiting for it", target.name)
            lock.acquire(timeout=BUILD_WAIT_S)
    except (OSError, Timeout) as e:
        log.warning("building %s without a lock (%s)", target, e)
        yield
        return
    try:
        yield
    finally:
        lock.release()
