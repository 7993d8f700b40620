"""Many visitors of a served page at once, as browsers would be: in another process (sharing the in-process
server's interpreter lock would slow both), one thread each, all starting together."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any


def _all_at_once(visit: Callable[..., Any], calls: Sequence[tuple]) -> list[Any]:
    """visit(*args, start) for every args, one thread each; `start` is a barrier they pass together."""
    start = threading.Barrier(len(calls))
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(visit, *args, start) for args in calls]
        return [f.result(timeout=900) for f in futures]


def visit_at_once(visit: Callable[..., Any], calls: Sequence[tuple], timeout_s: float = 900) -> list[Any]:
    """_all_at_once in a spawned process; `visit` must be a module-level function (it is pickled by name)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as browsers:
        return browsers.submit(_all_at_once, visit, list(calls)).result(timeout=timeout_s)
