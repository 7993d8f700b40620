"""How many threads llama.cpp's next step gets: its full count, or one while something else takes the cores.

    threads = Threads(2)                       # the count the context was made with
    n = threads.after_step(wall_s, cpu_s)      # a count to set now (llama_set_n_threads), or None to keep it

Why: ggml's threads wait for each other at the barriers inside a step by spinning, never sleeping. When another
process (a second replica, `bench` beside the app, a build) or more threads than cores want the same cores, a
thread spins while the one it waits for is not running, a scheduler time slice at a time: on 2 cores, three
replies took 4.2 s alone and 454 s each with a second generating process. The thread that calls llama_decode is
one of ggml's workers, so the share of a step's wall time it spent on a CPU says whether they all ran: ~1.0 alone,
~0.5 beside a second generating process. Below CONTENDED the context goes down to one thread, which has no barrier
to wait at, and tries its full count again PROBE_S later, twice as late each time the cores are still taken (up to
PROBE_MAX_S). The text does not depend on the count: a row's dot products are one thread's work either way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

CONTENDED = 0.7  # the calling thread's CPU time / the step's wall time below which the cores were taken
MIN_STEP_S = 0.005  # shorter steps say too little (a clock tick, a page fault)
PROBE_S = 1.0  # seconds on one thread before the full count is tried again
PROBE_MAX_S = 30.0


class Threads:
    """The thread count of one llama.cpp context, from what each step's timing says about the cores."""

    def __init__(self, full: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.full = full
        self.now = full
        self.clock = clock
        self.wait_s = PROBE_S
        self.probe_at = 0.0
        self.probing = False  # the full count is back on trial after a contended spell
        self.contended_steps = 0  # steps that sent it down to one thread (the tests read it)

    def after_step(self, wall_s: float, cpu_s: float) -> int | None:
        """The count to set after a step of `wall_s` seconds in which the calling thread ran `cpu_s`; None: keep."""
        if self.full <= 1:
            return None
        if self.now == 1:
            if self.clock() < self.probe_at:
                return None
            self.now, self.probing = self.full, True
            return self.full
        if wall_s < MIN_STEP_S or cpu_s >= CONTENDED * wall_s:
            if self.probing:
                log.info("llama.cpp: the cores are free again, decoding on %d threads", self.full)
                self.probing, self.wait_s = False, PROBE_S
            return None
        if self.probing:
            self.wait_s = min(2 * self.wait_s, PROBE_MAX_S)
        else:
            log.info(
                "llama.cpp: a step ran %.0f%% of its time on a CPU (other work takes the cores); decoding on one "
                "thread, trying %d again in %.0f s",
                100 * cpu_s / wall_s,
                self.full,
                self.wait_s,
            )
        self.contended_steps += 1
        self.now, self.probing, self.probe_at = 1, False, self.clock() + self.wait_s
        return 1
